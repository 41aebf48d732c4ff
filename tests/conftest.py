import pytest

from console.celery import app as celery_app
from tests import factories


@pytest.fixture(autouse=True, scope="session")
def _tasks_run_in_process():
    """Tasks run in the test process; tests that need a real worker process start one."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """The real hasher costs ~1 s per user; tests need correctness, not key stretching."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def org(db):
    return factories.make_org("acme", "Acme")


@pytest.fixture
def other_org(db):
    return factories.make_org("globex", "Globex")
