"""The real-worker harness: Celery worker processes on pytest-django's test database and our
Redis broker, for the tests that need real commits, real workers and real kills
(``tests/usage/test_rollup_worker.py``, ``tests/spend/test_alert_worker.py``).

Those tests use the ``real_worker_path`` fixture (tests/conftest.py): they skip without
PostgreSQL or a broker, and fail instead when CI=true.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

CELERY = str(Path(sys.executable).with_name("celery"))
ROOT = Path(__file__).resolve().parents[1]
WAIT_SECONDS = 60


def unavailable() -> str | None:
    if connection.vendor != "postgresql":
        return "the worker tests need PostgreSQL (DATABASE_URL=postgres://...)"
    if not settings.CELERY_BROKER_URL:
        return "the worker tests need a Redis broker (CELERY_BROKER_URL=redis://...)"
    try:
        import redis

        redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means no usable broker
        return f"Redis at {settings.CELERY_BROKER_URL} does not answer: {exc}"
    return None


class Workers:
    """Starts celery worker processes on the test database; kills them all at the end."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.procs: list[tuple[subprocess.Popen, Path]] = []

    def env(self, **extra) -> dict:
        db = connection.settings_dict
        url = (
            f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        )
        env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_NAME"}
        env.update(
            METERBOARD_MODE="dev",
            DATABASE_URL=url,
            CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
            DB_CONN_MAX_AGE="0",
            PYTHONUNBUFFERED="1",
            **extra,
        )
        return env

    def start(self, name: str, *args: str, **env) -> tuple[subprocess.Popen, Path]:
        log = self.tmp_path / f"{name}.log"
        proc = subprocess.Popen(
            [
                CELERY,
                "-A",
                "console",
                "worker",
                "--pool=solo",
                "--loglevel=info",
                f"--hostname={name}@%h",
                "--without-gossip",
                "--without-mingle",
                *args,
            ],
            cwd=ROOT,
            env=self.env(**env),
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a SIGKILL takes all of it
        )
        self.procs.append((proc, log))
        deadline = time.monotonic() + WAIT_SECONDS
        while "ready." not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"worker {name} did not start:\n{log.read_text()}")
            time.sleep(0.1)
        return proc, log

    def kill(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop_all(self) -> None:
        for proc, _ in self.procs:
            self.kill(proc)


def backends(query_like: str = "%") -> list[tuple[int, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, state, query FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND query LIKE %s",
            [query_like],
        )
        return cursor.fetchall()


def wait_for(condition, what: str, timeout: float = WAIT_SECONDS) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)
    return time.monotonic() - started
