"""Monthly partitions of the raw log on PostgreSQL: ahead of need, default split, retention."""

import datetime as dt

import pytest
from django.db import connection
from django.test import override_settings

from tests.usage.rawrows import expected_buckets, raw, series_for, store_batch, stored_buckets
from usage import partitions, rollups, tasks
from usage.models import RequestLog

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]

NOW = dt.datetime(2031, 6, 15, 12, tzinfo=dt.UTC)  # months no other test writes to


def utc(*args):
    return dt.datetime(*args, tzinfo=dt.UTC)


def table_of(row_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM usage_requestlog WHERE id = %s", [row_id]
        )
        return cursor.fetchone()[0]


def names() -> set[str]:
    return {p.name for p in partitions.list_partitions()}


def test_the_raw_log_is_partitioned_by_month_with_a_default(db):
    assert partitions.is_partitioned()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_partkeydef('usage_requestlog'::regclass), "
            "(SELECT array_agg(a.attname ORDER BY a.attname) FROM pg_index i "
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            " WHERE i.indrelid = 'usage_requestlog'::regclass AND i.indisprimary)"
        )
        partkey, primary_key = cursor.fetchone()
    assert partkey == 'RANGE ("timestamp")'
    assert primary_key == ["id", "timestamp"]
    assert partitions.partition_for(utc(2026, 11, 3, 14)).name == "usage_requestlog_p2026_11"


def test_partitions_are_created_ahead_of_need_and_idempotently(db):
    created = partitions.ensure_partitions(NOW)

    assert created == [f"usage_requestlog_p2031_{m:02d}" for m in (5, 6, 7, 8)]
    assert partitions.ensure_partitions(NOW) == []
    june = partitions.partition_for(NOW)
    assert (june.start, june.end) == (utc(2031, 6, 1), utc(2031, 7, 1))
    # December rolls over into the next year.
    assert partitions.partition_for(utc(2031, 12, 31, 23, 59)).end == utc(2032, 1, 1)


def test_rows_are_routed_to_their_month_and_the_default_catches_the_rest(org):
    partitions.ensure_partitions(NOW)
    series = series_for(org)
    batch = store_batch(org, [raw(series, NOW), raw(series, utc(2019, 3, 9, 8, 7))])
    june, stray = RequestLog.objects.filter(batch_id=batch.id).order_by("timestamp").reverse()

    assert table_of(june.id) == "usage_requestlog_p2031_06"
    assert table_of(stray.id) == partitions.DEFAULT


def test_split_default_moves_rows_into_new_partitions_unchanged(org):
    series = series_for(org)
    rows = [raw(series, utc(2018, 2, d, 10), output_tokens=d) for d in (1, 27)]
    rows.append(raw(series, utc(2018, 4, 30, 23, 59, 59), output_tokens=7))
    store_batch(org, rows)
    before = sorted(
        RequestLog.objects.filter(org=org).values_list("id", "timestamp", "output_tokens")
    )

    created = partitions.split_default()

    assert created == ["usage_requestlog_p2018_02", "usage_requestlog_p2018_04"]
    after = sorted(
        RequestLog.objects.filter(org=org).values_list("id", "timestamp", "output_tokens")
    )
    assert after == before
    assert {table_of(i) for i, _, _ in after} == set(created)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {partitions.DEFAULT} WHERE org_id = %s", [org.id])
        assert cursor.fetchone()[0] == 0
    # The moved rows still roll up exactly.
    rollups.rollup_pending()
    assert stored_buckets(org, "hour") == expected_buckets(rows, "hour")


@override_settings(RAW_RETENTION_DAYS=30)
def test_retention_drops_whole_rolled_up_partitions_and_keeps_buckets(org):
    partitions.ensure_partitions_for(utc(2031, 1, 1), utc(2031, 7, 1))
    series = series_for(org)
    february = [raw(series, utc(2031, 2, 3, 4), output_tokens=5)]
    march = [raw(series, utc(2031, 3, 31, 23), output_tokens=6)]
    may = [raw(series, utc(2031, 5, 10), output_tokens=7)]  # horizon is 2031-05-16
    backfill = [raw(series, utc(2017, 7, 7), output_tokens=8)]  # lands in the default
    for rows in (february, march, may, backfill):
        store_batch(org, rows)
    rollups.rollup_pending()
    late_rows = [raw(series, utc(2031, 3, 2), output_tokens=9)]
    late = store_batch(org, late_rows)  # not rolled up yet
    all_rows = february + march + may + backfill
    buckets = {unit: stored_buckets(org, unit) for unit in ("minute", "hour", "day")}

    removed = rollups.purge_raw_logs(NOW)

    gone = names()
    assert "usage_requestlog_p2031_02" not in gone  # wholly past and rolled up: dropped
    assert "usage_requestlog_p2017_07" not in gone  # split out of the default, then dropped
    assert "usage_requestlog_p2031_03" in gone  # holds a pending batch: kept
    assert "usage_requestlog_p2031_05" in gone  # reaches past the horizon: kept
    assert removed == 2
    assert sorted(RequestLog.objects.filter(org=org).values_list("output_tokens", flat=True)) == [
        6,
        7,
        9,
    ]
    assert {unit: stored_buckets(org, unit) for unit in buckets} == buckets
    assert buckets["day"] == expected_buckets(all_rows, "day")

    # Once the late batch is rolled up, March goes too, and its row is in the buckets.
    rollups.rollup_pending()
    late.refresh_from_db()
    assert late.rolled_up_at is not None
    assert rollups.purge_raw_logs(NOW) == 2
    assert "usage_requestlog_p2031_03" not in names()
    assert stored_buckets(org, "day") == expected_buckets(all_rows + late_rows, "day")


def test_retention_never_deletes_rows_one_by_one(org):
    partitions.ensure_partitions_for(utc(2031, 1, 1), utc(2031, 2, 1))
    store_batch(org, [raw(series_for(org), utc(2031, 1, 5))])
    rollups.rollup_pending()
    statements = []

    def spy(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with override_settings(RAW_RETENTION_DAYS=30), connection.execute_wrapper(spy):
        assert rollups.purge_raw_logs(NOW) == 1

    assert any(s.startswith("DROP TABLE usage_requestlog_p2031_01") for s in statements)
    assert not any(
        "DELETE" in s.upper() and "FROM USAGE_REQUESTLOG " in s.upper() for s in statements
    )


def test_the_beat_task_maintains_partitions(db, monkeypatch):
    monkeypatch.setattr(partitions.timezone, "now", lambda: NOW)

    created = tasks.maintain_partitions.apply().get()

    assert "usage_requestlog_p2031_08" in created
    assert "usage_requestlog_p2031_08" in names()
