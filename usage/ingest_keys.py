"""Ingest keys: the bearer secrets a gateway uses to send an organisation's logs.

A secret (``mbi_`` and 43 random characters) is shown once, when it is created; only its
SHA-256 hash and a short prefix are stored. Creating and revoking (audited) are the settings
services' (``orgsettings.services``, used by the Ingest keys page); they are re-exported
here so that the API, the ``create_ingest_key`` command and the page share one
implementation. This module adds what the API needs: ``authenticate``.
"""

import datetime as dt

from django.db.models import Q
from django.utils import timezone

from orgsettings.services import (
    INGEST_KEY_PREFIX,
    create_ingest_key,
    hash_ingest_secret,
    revoke_ingest_key,
)
from usage.models import IngestKey

__all__ = ["authenticate", "create_ingest_key", "revoke_ingest_key", "hash_ingest_secret"]

LAST_USED_PRECISION = dt.timedelta(minutes=1)
_MAX_SECRET_LENGTH = 200


def authenticate(bearer: str | None) -> IngestKey | None:
    """Return the unrevoked key for a bearer secret, or None; notes its use once a minute."""
    if not bearer or not bearer.startswith(INGEST_KEY_PREFIX) or len(bearer) > _MAX_SECRET_LENGTH:
        return None
    key = (
        IngestKey.objects.select_related("org")
        .filter(key_hash=hash_ingest_secret(bearer), revoked_at__isnull=True)
        .first()
    )
    if key is None:
        return None
    now = timezone.now()
    stale = now - LAST_USED_PRECISION
    if key.last_used_at is None or key.last_used_at <= stale:
        # Conditional, so that a busy gateway's requests do not each become an UPDATE and
        # concurrent ones write it once.
        IngestKey.objects.filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale), pk=key.pk
        ).update(last_used_at=now)
        key.last_used_at = now
    return key
