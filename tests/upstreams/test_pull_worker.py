"""The pull on the real path: beat's dispatch task on Redis, two Celery worker processes,
organisation A served by a live Meterboard, organisation B importing it.

    METERBOARD_MODE=dev DATABASE_URL=postgres://postgres@127.0.0.1:5432/mb_conn \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/3 .venv/bin/pytest -m worker tests/upstreams

They skip without PostgreSQL or a broker, and fail instead when CI=true.
"""

import datetime as dt
import time

import pytest
from django.utils import timezone

from tests.upstreams.conftest import NOVEMBER
from tests.upstreams.test_round_trip import actual, expected
from tests.workers import wait_for
from upstreams import services, tasks
from upstreams.models import Upstream
from usage.models import IngestBatch

pytestmark = [pytest.mark.worker, pytest.mark.usefixtures("real_worker_path")]


def test_workers_pull_the_month_once_whatever_the_beat_ticks(month, upstream, workers):
    _, records = month
    beta = upstream.org
    workers.start("w1")
    workers.start("w2")
    settled = services.settled_until(timezone.now())
    for _ in range(4):  # ticks that pile up: both workers may take one at once
        tasks.dispatch_pulls.delay()

    last_tick = [time.monotonic()]

    def caught_up() -> bool:
        if Upstream.objects.get(pk=upstream.pk).position >= settled:
            return not IngestBatch.objects.filter(org=beta, rolled_up_at__isnull=True).exists()
        if time.monotonic() - last_tick[0] > 2:  # beat, every 2 s: a month and a day take
            last_tick[0] = time.monotonic()  # two runs
            tasks.dispatch_pulls.delay()
        return False

    wait_for(caught_up, "the upstream to catch up and its rows to roll up", timeout=300)
    assert actual(beta) == expected(records)
    stored = Upstream.objects.get(pk=upstream.pk)
    assert stored.last_error == "" and stored.last_success_at is not None
    assert stored.position - settled < dt.timedelta(minutes=2)
    assert stored.position > NOVEMBER
