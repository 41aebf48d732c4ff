import datetime as dt

from tests.usage.rawrows import (
    expected_buckets,
    raw,
    raw_rows_of,
    series_for,
    store_batch,
    stored_buckets,
)
from usage import tasks

T0 = dt.datetime(2026, 11, 3, 14, 5, tzinfo=dt.UTC)


def test_dispatch_sends_one_rollup_per_organisation_with_pending_batches(
    org, other_org, monkeypatch
):
    store_batch(org, [raw(series_for(org), T0, output_tokens=1)])
    store_batch(other_org, [raw(series_for(other_org), T0, output_tokens=2)])
    sent = []
    monkeypatch.setattr(tasks.rollup_pending, "delay", lambda org_id: sent.append(org_id))

    assert tasks.dispatch_rollups.apply().get() == 2

    assert sorted(sent) == sorted([org.id, other_org.id])


def test_a_large_backlog_is_spread_over_several_tasks(org, monkeypatch):
    for _ in range(10):
        store_batch(org, [raw(series_for(org), T0)])
    sent = []
    monkeypatch.setattr(tasks, "ROWS_PER_TASK", 3)
    monkeypatch.setattr(tasks.rollup_pending, "delay", lambda org_id: sent.append(org_id))

    tasks.dispatch_rollups.apply().get()

    assert sent == [org.id] * tasks.MAX_TASKS_PER_ORG


def test_dispatched_rollups_leave_buckets_equal_to_raw_rows(org, other_org):
    store_batch(org, [raw(series_for(org), T0, output_tokens=5)])
    store_batch(other_org, [raw(series_for(other_org), T0 - dt.timedelta(days=9))])

    tasks.dispatch_rollups.apply().get()  # eager in tests: the rollups run in-process

    for o in (org, other_org):
        assert stored_buckets(o, "hour") == expected_buckets(raw_rows_of(o), "hour")
    assert tasks.dispatch_rollups.apply().get() == 0


def test_beat_schedules_dispatch_partition_upkeep_and_retention():
    from console.celery import app

    app.loader.import_default_modules()
    app.finalize()
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}

    assert {
        "usage.tasks.dispatch_rollups",
        "usage.tasks.maintain_partitions",
        "usage.tasks.purge_raw_logs",
    } <= scheduled
    assert all(name in app.tasks for name in scheduled)
