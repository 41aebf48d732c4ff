"""Sources that are not our own record: each maps what a tool already sends to records.

A source declares the payload it reads (msgspec Structs), maps each item to a record dict
of the contract (``usage.ingest.contract``), says which of its own fields each record field
came from (so a rejection names the field the sender knows), and skips what it does not
meter. ``litellm``: LiteLLM's StandardLoggingPayload.
"""
