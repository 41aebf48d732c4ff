"""Admin API keys: create, revoke (both audited), authenticate, and the per-key rate limit.

A secret is ``mba_`` ("Meterboard admin") and 43 random characters. The prefix is our own,
so secret scanners never take it for another vendor's key (Anthropic's are ``sk-ant-admin``).
It is shown once; only its hash is kept (``console.secret_keys``, as for ingest keys).
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from adminapi.models import AdminKey
from console.secret_keys import KeyKind

ADMIN_KEYS = KeyKind(AdminKey, prefix="mba_", audit_name="admin_key")

create_admin_key = ADMIN_KEYS.create
revoke_admin_key = ADMIN_KEYS.revoke
authenticate = ADMIN_KEYS.authenticate


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
