"""Ingestion: raw request logs in, over HTTP, from JSONL files or from the demo generator.

``contract`` says what a record may be, ``checker`` checks chunks off the storing thread,
``registry`` creates the workspaces, keys, models and series a chunk names, ``store`` writes
the rows (COPY or ORM), ``services`` ties them together (``ingest_records``), ``keys`` are the
ingest keys, and ``api`` the HTTP endpoint.
"""
