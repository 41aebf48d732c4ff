"""Ingestion: raw request logs in over HTTP or OTLP, from JSONL files or the demo generator.

``contract`` says what a record may be, ``checker`` checks chunks off the storing thread,
``registry`` creates the workspaces, keys, models and series a chunk names, ``store`` writes
the rows (COPY or ORM), ``services`` ties them together (``ingest_records``), ``keys`` are the
ingest keys, ``transport`` what every HTTP endpoint shares (bearer key, body limits,
decompression), ``api`` the HTTP endpoint, ``otlp_api`` the OTLP endpoints and ``sources``
the mapping of other protocols' items (Claude Code's events, GenAI spans) to records.
"""
