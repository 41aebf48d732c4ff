"""Fold raw request logs into minute, hour and day buckets, exactly once.

The unit of work is an ``IngestBatch``. One rollup transaction locks some pending batches
(``FOR UPDATE SKIP LOCKED``, so concurrent workers never take the same batch), aggregates
their raw rows into a temporary minute table with one GROUP BY, adds the minute, hour and
day sums to the buckets with upserts, and marks the batches rolled up. Either all of it
commits or none of it does: a worker killed half-way leaves its batches pending for the
next run, a rerun finds nothing to do, and duplicates never reached the raw table.

A rebuild (recompute a range from raw rows) takes an exclusive per-organisation lock that
rollups take in shared mode, so it never interleaves with a rollup of the same organisation.
"""

import datetime as dt
import logging
import time
import zlib

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from usage.models import DayBucket, HourBucket, IngestBatch, MinuteBucket, RequestLog

log = logging.getLogger(__name__)

BATCHES_PER_TRANSACTION = 50
DEADLOCK_RETRIES = 5

COUNT_COLUMNS = [
    "uncached_input_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "output_tokens",
    "web_search_requests",
    "code_execution_ms",
]
BUCKET_COLUMNS = [
    "requests",
    "rate_limited_requests",
    "rate_limited_by_requests",
    "rate_limited_by_input_tokens",
    "rate_limited_by_output_tokens",
    *COUNT_COLUMNS,
]
_RAW_AGGREGATES = [
    "COUNT(*)",
    "SUM(CASE WHEN status_code = 429 THEN 1 ELSE 0 END)",
    "SUM(CASE WHEN status_code = 429 AND rate_limit_type = 'requests' THEN 1 ELSE 0 END)",
    "SUM(CASE WHEN status_code = 429 AND rate_limit_type = 'input_tokens' THEN 1 ELSE 0 END)",
    "SUM(CASE WHEN status_code = 429 AND rate_limit_type = 'output_tokens' THEN 1 ELSE 0 END)",
    *[f"SUM({column})" for column in COUNT_COLUMNS],
]
_LEVELS = [(MinuteBucket, "minute"), (HourBucket, "hour"), (DayBucket, "day")]
_SCRATCH = "rollup_scratch"


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def _truncate(column: str, unit: str) -> str:
    """SQL truncating a UTC timestamp column to the start of its minute, hour or day."""
    if _is_postgres():
        return f"date_trunc('{unit}', {column}, 'UTC')"
    # Django stores SQLite datetimes as UTC text 'YYYY-MM-DD HH:MM:SS[.ffffff]'.
    pattern = {
        "minute": "%Y-%m-%d %H:%M:00",
        "hour": "%Y-%m-%d %H:00:00",
        "day": "%Y-%m-%d 00:00:00",
    }
    return f"strftime('{pattern[unit]}', {column})"


def _placeholders(values) -> str:
    return ", ".join(["%s"] * len(values))


def _fill_scratch(cursor, where: str, params: list) -> None:
    """Aggregate the selected raw rows by series and minute into a temporary table."""
    cursor.execute(f"DROP TABLE IF EXISTS {_SCRATCH}")
    select = ", ".join(
        f"{expr} AS {col}" for expr, col in zip(_RAW_AGGREGATES, BUCKET_COLUMNS, strict=True)
    )
    minute = _truncate("timestamp", "minute")
    on_commit = " ON COMMIT DROP" if _is_postgres() else ""
    cursor.execute(
        f"CREATE TEMPORARY TABLE {_SCRATCH}{on_commit} AS "
        f"SELECT org_id, series_id, {minute} AS start, {select} "
        f"FROM {RequestLog._meta.db_table} WHERE {where} "
        f"GROUP BY org_id, series_id, {minute}",
        params,
    )


def _add_scratch_to_buckets(cursor) -> None:
    """Add the scratch sums to minute, hour and day buckets (upsert, in a stable order)."""
    columns = ", ".join(BUCKET_COLUMNS)
    sums = ", ".join(f"SUM({column})" for column in BUCKET_COLUMNS)
    for model, unit in _LEVELS:
        table = model._meta.db_table
        start = "start" if unit == "minute" else _truncate("start", unit)
        updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in BUCKET_COLUMNS)
        cursor.execute(
            f"INSERT INTO {table} (org_id, series_id, start, {columns}) "
            f"SELECT org_id, series_id, {start}, {sums} FROM {_SCRATCH} WHERE 1 = 1 "
            f"GROUP BY org_id, series_id, {start} ORDER BY series_id, {start} "
            f"ON CONFLICT (series_id, start) DO UPDATE SET {updates}"
        )
    cursor.execute(f"DROP TABLE IF EXISTS {_SCRATCH}")


def _org_lock(cursor, org_id: int, exclusive: bool) -> None:
    """Serialise rebuilds against rollups of one organisation (PostgreSQL advisory lock)."""
    if _is_postgres():
        fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        key = zlib.crc32(b"meterboard-rollup") & 0x7FFFFFFF
        cursor.execute(f"SELECT {fn}(%s, %s)", [key, org_id])


def _rollup_some(org_id: int | None, limit: int) -> int:
    with transaction.atomic():
        pending = IngestBatch.objects.filter(rolled_up_at__isnull=True)
        if org_id is not None:
            pending = pending.filter(org_id=org_id)
        batches = list(
            pending.select_for_update(skip_locked=True)
            .order_by("id")
            .values_list("id", "org_id")[:limit]
        )
        if not batches:
            return 0
        ids = [batch_id for batch_id, _ in batches]
        with connection.cursor() as cursor:
            for org in sorted({org for _, org in batches}):
                _org_lock(cursor, org, exclusive=False)
            _fill_scratch(cursor, f"batch_id IN ({_placeholders(ids)})", ids)
            _add_scratch_to_buckets(cursor)
        IngestBatch.objects.filter(id__in=ids).update(rolled_up_at=timezone.now())
        return len(ids)


def _with_deadlock_retry(fn, *args):
    for attempt in range(DEADLOCK_RETRIES):
        try:
            return fn(*args)
        except OperationalError as exc:
            if "deadlock" not in str(exc).lower() or attempt == DEADLOCK_RETRIES - 1:
                raise
            log.warning("rollup deadlock, retrying: %s", exc)
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def rollup_pending(org_id: int | None = None, limit: int = BATCHES_PER_TRANSACTION) -> int:
    """Roll up every batch pending now (of one organisation, or all); return how many."""
    done = 0
    while True:
        count = _with_deadlock_retry(_rollup_some, org_id, limit)
        if count == 0:
            return done
        done += count


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def raw_retention_horizon(now: dt.datetime | None = None) -> dt.datetime:
    """The instant before which raw logs are purged (the start of a UTC day)."""
    now = now or timezone.now()
    return _day_start(now.date() - dt.timedelta(days=settings.RAW_RETENTION_DAYS))


class RebuildRefused(ValueError):
    """A rebuild that would lose totals because the raw rows are gone."""


def rebuild_rollups(org_id: int, since: dt.date, until: dt.date) -> None:
    """Recompute the buckets of UTC days [since, until) of one organisation from raw rows."""
    if since >= until:
        raise RebuildRefused("--since must be before --until.")
    start, end = _day_start(since), _day_start(until)
    horizon = raw_retention_horizon()
    if start < horizon:
        raise RebuildRefused(
            f"Raw logs before {horizon.date()} are purged; rebuilding from {since} would "
            "lose their totals. Choose a later --since."
        )
    with transaction.atomic(), connection.cursor() as cursor:
        _org_lock(cursor, org_id, exclusive=True)
        for model, _unit in _LEVELS:
            model.objects.filter(org_id=org_id, start__gte=start, start__lt=end).delete()
        # Rows of batches still pending are left to the next rollup, which adds them.
        batch_table = IngestBatch._meta.db_table
        _fill_scratch(
            cursor,
            f"org_id = %s AND timestamp >= %s AND timestamp < %s AND batch_id IN "
            f"(SELECT id FROM {batch_table} WHERE org_id = %s AND rolled_up_at IS NOT NULL)",
            [org_id, start, end, org_id],
        )
        _add_scratch_to_buckets(cursor)


def purge_raw_logs(now: dt.datetime | None = None) -> int:
    """Delete raw logs older than the retention period whose batches are rolled up."""
    horizon = raw_retention_horizon(now)
    rolled_up = IngestBatch.objects.filter(rolled_up_at__isnull=False).values("id")
    deleted, _ = RequestLog.objects.filter(timestamp__lt=horizon, batch_id__in=rolled_up).delete()
    return deleted
