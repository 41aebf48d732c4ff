"""Ingest keys: the bearer secrets a gateway uses to send an organisation's logs.

A secret (``mbi_`` and 43 random characters) is shown once, when it is created; only its
SHA-256 hash and a short prefix are stored. The Ingest keys settings page, the
``create_ingest_key`` command and the API all use these services.
"""

import datetime as dt
import hashlib
import secrets

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from console.models import Organization
from console.services import record_audit
from usage.models import IngestKey

INGEST_KEY_PREFIX = "mbi_"
LAST_USED_PRECISION = dt.timedelta(minutes=1)
_MAX_SECRET_LENGTH = 200


def hash_ingest_secret(secret: str) -> str:
    """The stored form of an ingest key; look keys up by this hash of the bearer token."""
    return hashlib.sha256(secret.encode()).hexdigest()


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


@transaction.atomic
def create_ingest_key(org: Organization, name: str, *, actor=None) -> tuple[IngestKey, str]:
    """Create an ingest key and return it with its secret, which is never stored or shown again."""
    secret = INGEST_KEY_PREFIX + secrets.token_urlsafe(32)
    key = IngestKey.objects.create(
        org=org,
        name=name,
        prefix=secret[:12],
        key_hash=hash_ingest_secret(secret),
        created_by=actor,
    )
    record_audit(
        org,
        actor,
        "ingest_key.create",
        target=f"{name} ({key.prefix}…)",
        before=None,
        after={"name": name, "prefix": key.prefix},
    )
    return key, secret


@transaction.atomic
def revoke_ingest_key(key: IngestKey, *, actor) -> IngestKey:
    """Stop an ingest key from working; revoking twice changes nothing."""
    key = IngestKey.objects.select_for_update().get(pk=key.pk)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        record_audit(
            key.org,
            actor,
            "ingest_key.revoke",
            target=f"{key.name} ({key.prefix}…)",
            before={"revoked": False},
            after={"revoked": True},
        )
    return key
