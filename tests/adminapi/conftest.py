import pytest
from django.core.cache import cache

from adminapi.services import create_admin_key


@pytest.fixture(autouse=True)
def _fresh_rate_counters():
    """Rate-limit counters live in the cache, which outlives a test; start each one empty."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def admin_secret(org):
    return create_admin_key(org, "poller")[1]


@pytest.fixture
def api(client, admin_secret):
    """GET an Admin API path with the key, as Anthropic's clients send it."""

    def get(path, params=None, **headers):
        headers.setdefault("x-api-key", admin_secret)
        headers.setdefault("anthropic-version", "2023-06-01")
        return client.get(path, params or {}, headers=headers)

    return get
