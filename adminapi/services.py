"""Admin API keys: create, revoke (both audited), authenticate, and the per-key rate limit.

A secret is ``mba_`` ("Meterboard admin") and 43 random characters. The prefix is our own,
so secret scanners never take it for another vendor's key (Anthropic's are ``sk-ant-admin``).
It is shown once; only its SHA-256 hash (the ingest keys' helper) and a short prefix are kept.
"""

import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from adminapi.models import AdminKey
from console.models import Organization
from console.services import record_audit
from usage.ingest.keys import LAST_USED_PRECISION, hash_ingest_secret

ADMIN_KEY_PREFIX = "mba_"
_MAX_SECRET_LENGTH = 200


@transaction.atomic
def create_admin_key(org: Organization, name: str, *, actor=None) -> tuple[AdminKey, str]:
    """Create an Admin API key; return it with its secret, never stored or shown again."""
    secret = ADMIN_KEY_PREFIX + secrets.token_urlsafe(32)
    key = AdminKey.objects.create(
        org=org,
        name=name,
        prefix=secret[:12],
        key_hash=hash_ingest_secret(secret),
        created_by=actor,
    )
    record_audit(
        org,
        actor,
        "admin_key.create",
        target=str(key),
        before=None,
        after={"name": name, "prefix": key.prefix},
    )
    return key, secret


@transaction.atomic
def revoke_admin_key(key: AdminKey, *, actor) -> AdminKey:
    """Stop an Admin API key from working; revoking twice changes nothing."""
    key = AdminKey.objects.select_for_update().get(pk=key.pk)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        record_audit(
            key.org,
            actor,
            "admin_key.revoke",
            target=str(key),
            before={"revoked": False},
            after={"revoked": True},
        )
    return key


def authenticate(secret: str | None) -> AdminKey | None:
    """Return the unrevoked key for a secret, or None; notes its use once a minute."""
    if not secret or not secret.startswith(ADMIN_KEY_PREFIX) or len(secret) > _MAX_SECRET_LENGTH:
        return None
    key = (
        AdminKey.objects.select_related("org")
        .filter(key_hash=hash_ingest_secret(secret), revoked_at__isnull=True)
        .first()
    )
    if key is None:
        return None
    now = timezone.now()
    stale = now - LAST_USED_PRECISION
    if key.last_used_at is None or key.last_used_at <= stale:
        # Conditional, as for ingest keys: a polling burst writes last use once.
        AdminKey.objects.filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale), pk=key.pk
        ).update(last_used_at=now)
        key.last_used_at = now
    return key


@dataclass(frozen=True)
class Allowance:
    allowed: bool
    retry_after_seconds: int = 0


def take_request(key: AdminKey) -> Allowance:
    """Count one request of a key in the current minute (shared by every web process through
    the cache, Redis when configured); refuse it beyond ``ADMINAPI_RATE_LIMIT_PER_MINUTE``."""
    limit = settings.ADMINAPI_RATE_LIMIT_PER_MINUTE
    now = time.time()
    window = int(now // 60)
    counter = f"adminapi:rate:{key.pk}:{window}"
    cache.add(counter, 0, timeout=120)
    try:
        count = cache.incr(counter)
    except ValueError:  # expired between add and incr
        cache.set(counter, 1, timeout=120)
        count = 1
    if count <= limit:
        return Allowance(True)
    return Allowance(False, retry_after_seconds=max(1, int((window + 1) * 60 - now) + 1))
