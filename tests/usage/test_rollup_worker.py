"""Exactly-once rollups on the real path: PostgreSQL, Redis and real Celery worker processes.

Each test commits rows (transactional_db), starts ``celery -A console worker`` processes
pointed at pytest-django's test database and our Redis database, lets them work, and then
compares every minute, hour and day bucket with an independent aggregate of the raw rows.

Run them with, for example:

    METERBOARD_MODE=dev DATABASE_URL=postgres://postgres@127.0.0.1:5432/mb_rollups \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/6 .venv/bin/pytest -m worker

They skip without PostgreSQL or a broker, and fail instead when CI=true.
"""

import datetime as dt
import time

import pytest
from django.utils import timezone

from tests.usage.rawrows import (
    expected_buckets,
    raw,
    raw_rows_of,
    series_for,
    store_batch,
    stored_buckets,
)
from tests.workers import Workers, backends, wait_for
from usage import tasks
from usage.ingest.services import ingest_records
from usage.models import IngestBatch, RequestLog

pytestmark = [pytest.mark.worker, pytest.mark.usefixtures("real_worker_path")]

NOW = timezone.now().replace(second=0, microsecond=0)


def _nothing_pending() -> bool:
    return not IngestBatch.objects.filter(rolled_up_at__isnull=True).exists()


def assert_exact(org, rows=None, minutes_since=None) -> None:
    """Every bucket at every level equals the independent aggregate of the raw rows (minute
    buckets: of those from ``minutes_since`` on, when older ones were dropped)."""
    rows = raw_rows_of(org) if rows is None else rows
    assert rows
    for unit in ("minute", "quarter", "hour", "day"):
        kept = [
            r for r in rows if unit != "minute" or not minutes_since or r.timestamp >= minutes_since
        ]
        assert stored_buckets(org, unit) == expected_buckets(kept, unit), unit


def record(request_id: str, at: dt.datetime, **usage) -> dict:
    return {
        "request_id": request_id,
        "timestamp": at.isoformat(),
        "model": "claude-sonnet-4-5-20250929",
        "usage": {"input_tokens": 10, "output_tokens": 3, **usage},
    }


def test_duplicate_submissions_are_counted_once(org, workers):
    workers.start("w1")
    records = [
        record(f"req_{i}", NOW - dt.timedelta(minutes=i), output_tokens=i) for i in range(40)
    ]

    first = ingest_records(org, enumerate(records), source="http")  # nudges the worker
    again = ingest_records(org, enumerate(records[::2] + records[:5]), source="http")
    mixed = ingest_records(
        org, enumerate(records[30:] + [record("req_new", NOW, output_tokens=99)]), source="http"
    )

    assert (first.accepted, again.accepted, again.duplicates) == (40, 0, 25)
    assert (mixed.accepted, mixed.duplicates) == (1, 10)
    wait_for(_nothing_pending, "the nudged rollups")
    assert RequestLog.objects.filter(org=org).count() == 41
    assert_exact(org)
    assert sum(b["requests"] for b in stored_buckets(org, "day").values()) == 41


def test_a_task_run_twice_or_retried_adds_nothing(org, workers):
    series = series_for(org)
    store_batch(
        org, [raw(series, NOW - dt.timedelta(seconds=s), output_tokens=s) for s in range(30)]
    )
    store_batch(org, [raw(series, NOW - dt.timedelta(hours=2), output_tokens=7)])
    workers.start("w1")

    # The same message delivered twice (as after a retry or a redelivery), plus sweeps.
    for _ in range(3):
        tasks.rollup_pending.apply_async((org.id,), task_id="same-task-id")
    tasks.dispatch_rollups.delay()
    tasks.rollup_pending.delay()
    wait_for(_nothing_pending, "the rollups")
    wait_for(lambda: _succeeded(workers) >= 5, "all five tasks to finish")

    assert_exact(org)


def _succeeded(workers: Workers) -> int:
    return sum(log.read_text().count(" succeeded in ") for _, log in workers.procs)


def test_two_workers_share_many_batches_without_overlap(org, other_org, workers):
    keys = [series_for(org), series_for(org, service_tier="batch"), series_for(other_org)]
    for i in range(24):  # every batch lands in the same few buckets as the others
        store_batch(
            org if i % 3 < 2 else other_org,
            [
                raw(keys[i % 3], NOW - dt.timedelta(seconds=j * 7), output_tokens=i + j)
                for j in range(50)
            ],
        )
    # Each rollup transaction takes one batch and holds it a little, so both workers are
    # busy at once and contend for the same buckets.
    pause = {"METERBOARD_TEST_ROLLUP_PAUSE": "0.2"}
    _, log1 = workers.start("w1", **pause)
    _, log2 = workers.start("w2", **pause)
    for _ in range(12):
        tasks.rollup_pending.delay(org.id)
        tasks.rollup_pending.delay(other_org.id)

    wait_for(_nothing_pending, "both workers to drain the batches")
    wait_for(lambda: _succeeded(workers) == 24, "all tasks to finish")

    assert log1.read_text().count(" succeeded in ") > 0
    assert log2.read_text().count(" succeeded in ") > 0
    assert_exact(org)
    assert_exact(other_org)


def test_late_rows_of_any_age_land_in_their_buckets(org, workers):
    series = series_for(org)
    workers.start("w1", MINUTE_RETENTION_DAYS="35")
    recent = [raw(series, NOW - dt.timedelta(seconds=s * 13), output_tokens=s) for s in range(20)]
    store_batch(org, recent)
    tasks.rollup_pending.delay(org.id)
    wait_for(_nothing_pending, "the first rollup")

    ages = [
        dt.timedelta(minutes=5),
        dt.timedelta(days=3),
        dt.timedelta(days=45),
        dt.timedelta(days=3 * 365),
    ]
    late = [raw(series, NOW - age, output_tokens=3) for age in ages]
    late += [raw(series, recent[0].timestamp, output_tokens=1)]  # into an existing minute
    store_batch(org, late)
    tasks.dispatch_rollups.delay()
    wait_for(_nothing_pending, "the late rollup")

    assert_exact(org)
    # Purging raw logs past retention (the 3-year-old row) never changes a bucket; the same
    # task drops minute buckets older than 35 days (the 45-day and 3-year-old minutes).
    before = {u: stored_buckets(org, u) for u in ("quarter", "hour", "day")}
    horizon = (NOW - dt.timedelta(days=35)).replace(hour=0, minute=0)
    minutes = {k: v for k, v in stored_buckets(org, "minute").items() if k[1] >= horizon}
    assert len(minutes) < len(stored_buckets(org, "minute"))
    tasks.purge_raw_logs.delay()
    wait_for(
        lambda: (
            not RequestLog.objects.filter(timestamp__lt=NOW - dt.timedelta(days=1000)).exists()
            and stored_buckets(org, "minute") == minutes
        ),
        "the purge",
    )
    assert {u: stored_buckets(org, u) for u in before} == before
    # Buckets still equal everything that was ingested (minutes: what the window keeps).
    assert_exact(org, recent + late, minutes_since=horizon)


def test_a_worker_killed_mid_rollup_loses_and_doubles_nothing(org, workers):
    series = series_for(org)
    rows = [raw(series, NOW - dt.timedelta(seconds=s * 11), output_tokens=s) for s in range(60)]
    for chunk in (rows[:30], rows[30:]):
        store_batch(org, chunk)
    # This worker sleeps inside its rollup transaction, after the bucket upserts and before
    # the batches are marked rolled up: the worst moment to die.
    doomed, _ = workers.start("doomed", METERBOARD_TEST_ROLLUP_PAUSE="120")
    tasks.rollup_pending.delay(org.id)
    wait_for(lambda: backends("SELECT pg_sleep%"), "the rollup to reach its pause")
    assert stored_buckets(org, "minute") == {}  # uncommitted: invisible to anyone else

    workers.kill(doomed)

    wait_for(lambda: not backends("SELECT pg_sleep%"), "PostgreSQL to roll back")
    assert IngestBatch.objects.filter(org=org, rolled_up_at__isnull=True).count() == 2
    assert stored_buckets(org, "minute") == {}  # the upserts died with the transaction
    workers.start("survivor")
    tasks.rollup_pending.delay(org.id)
    wait_for(_nothing_pending, "the restarted worker's rollup")
    assert_exact(org)


def test_worker_and_beat_roll_up_a_batch_within_the_interval_without_a_nudge(org, workers):
    workers.start(
        "w1",
        "--beat",
        f"--schedule={workers.tmp_path / 'beat-schedule'}",
        ROLLUP_INTERVAL_SECONDS="2",
    )
    stored = time.monotonic()
    store_batch(
        org,
        [raw(series_for(org), NOW - dt.timedelta(seconds=s), output_tokens=s) for s in range(25)],
    )

    delay = wait_for(_nothing_pending, "beat to dispatch the rollup")

    assert delay < 60, "freshness target: in the buckets within 60 s of ingestion"
    assert time.monotonic() - stored < 60
    assert_exact(org)
