import os

import pytest
from django.core.cache import cache

from console.celery import app as celery_app
from tests import factories


@pytest.fixture(autouse=True, scope="session")
def _tasks_run_in_process():
    """Tasks run in the test process; tests that need a real worker process start one."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def workers(transactional_db, tmp_path):
    """A pool of real Celery worker processes (``tests.workers.Workers``) on a flushed Redis
    broker, with tasks sent through it rather than run in this process."""
    import redis
    from django.conf import settings

    from tests.workers import Workers, backends, wait_for

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.flushdb()  # no stale messages from an earlier run
    previous, celery_app.conf.task_always_eager = celery_app.conf.task_always_eager, False
    pool = Workers(tmp_path)
    yield pool
    celery_app.conf.task_always_eager = previous
    pool.stop_all()
    client.flushdb()
    # Wait for their database sessions to end, so the flush after the test is not blocked.
    wait_for(lambda: not backends(), "worker sessions to close")


@pytest.fixture(autouse=True)
def _minutes_kept_forever(settings):
    """Fixed-date data stays drillable to minutes whatever today's date (the default keeps
    35 days); tests/usage/test_retention.py sets MINUTE_RETENTION_DAYS itself."""
    settings.MINUTE_RETENTION_DAYS = 0


@pytest.fixture(autouse=True)
def _empty_cache():
    """The cache outlives a test (Redis) and keys hold database ids, which SQLite reuses
    after a rollback: each test starts with nothing kept (cost reports, rate counters)."""
    cache.clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """The real hasher costs ~1 s per user; tests need correctness, not key stretching."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def shipped_prices(transactional_db):
    """The default price catalogue, put back after earlier transactional tests flushed it.

    A data migration installs it once; TransactionTestCase-style tests empty every table
    when they finish, so a later transactional test that needs prices reinstalls them.
    """
    from importlib import import_module

    from django.apps import apps

    from costs.models import ModelPrice

    if not ModelPrice.objects.filter(org=None).exists():
        import_module("costs.migrations.0002_shipped_prices").add_defaults(apps, None)


@pytest.fixture
def org(db):
    return factories.make_org("acme", "Acme")


@pytest.fixture
def other_org(db):
    return factories.make_org("globex", "Globex")


@pytest.fixture
def real_worker_path():
    """Skip a real-worker test where PostgreSQL or the broker is missing; fail it under CI."""
    from tests.workers import unavailable

    reason = unavailable()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the worker tests: {reason}")
        pytest.skip(reason)
