"""Sources that speak someone else's protocol: each maps its items to records of the contract.

A source decodes a payload and turns each item into a record dict (the README's "The
record"), a rejection naming the item and the field the sender knows, or a skip (an item
that is not a request, counted); the records then go through the contract's checks like
every other record. ``otlp``, ``claude_code`` and ``genai``: OpenTelemetry's logs and spans;
``litellm``: LiteLLM's StandardLoggingPayload.
"""
