"""Ingest keys: the bearer secrets a gateway uses to send an organisation's logs.

A secret is ``mbi_`` and 43 random characters, shown once; only its hash is stored
(``console.secret_keys``). The Ingest keys settings page, the ``create_ingest_key`` command
and every ingest endpoint use these services.
"""

from console.secret_keys import KeyKind
from usage.models import IngestKey

INGEST_KEYS = KeyKind(IngestKey, prefix="mbi_", audit_name="ingest_key")

create_ingest_key = INGEST_KEYS.create
revoke_ingest_key = INGEST_KEYS.revoke
authenticate = INGEST_KEYS.authenticate
