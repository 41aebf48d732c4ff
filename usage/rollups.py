"""Fold raw request logs into minute, quarter-hour, hour and day buckets, exactly once.

The unit of work is an ``IngestBatch``. One rollup transaction locks some pending batches
(``FOR UPDATE SKIP LOCKED``, so concurrent workers never take the same batch), aggregates
their raw rows into a temporary minute table with one GROUP BY (by series as logged, the
account included), adds the UTC-day sums of that to the account day buckets and the
minute, quarter-hour, hour and day sums by *base* series (the account left out,
``Series.base``) to the base buckets, and their quarter-hour, hour and day sums by workspace,
model, tier and window (the key left out too) to the model buckets, with upserts, and marks
the batches rolled up. Either all of it commits or none of it does: a worker killed half-way
leaves its batches pending for the next run, a rerun finds nothing to do, and duplicates
never reached the raw table.

A rebuild (recompute a range from raw rows) takes an exclusive per-organisation lock that
rollups take in shared mode, so it never interleaves with a rollup of the same organisation.
"""

import datetime as dt
import itertools
import logging
import os
import time
import zlib

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from usage import partitions
from usage.models import (
    AccountDayBucket,
    BucketDay,
    DayBucket,
    HourBucket,
    IngestBatch,
    MinuteBucket,
    ModelDayBucket,
    ModelHourBucket,
    ModelQuarterHourBucket,
    QuarterHourBucket,
    RequestLog,
    Series,
)

log = logging.getLogger(__name__)

# One rollup transaction takes pending batches up to about this many raw rows (at least
# one batch, whatever its size): large enough that fixed costs vanish, small enough that a
# crash repeats little work and locks are short.
ROWS_PER_TRANSACTION = 250_000
CANDIDATES = 2_000
ROLLUP_WORK_MEM = "64MB"
DEADLOCK_RETRIES = 5

COUNT_COLUMNS = [
    "uncached_input_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "output_tokens",
    "web_search_requests",
    "code_execution_ms",
    "client_cost_nanos",
]
BUCKET_COLUMNS = [
    "requests",
    "uncounted_rows",
    "rate_limited_requests",
    "rate_limited_by_requests",
    "rate_limited_by_input_tokens",
    "rate_limited_by_output_tokens",
    *COUNT_COLUMNS,
]
# FILTER is about a quarter cheaper than SUM(CASE ...) over millions of rows.
_RAW_COUNTS = [
    "COUNT(*) FILTER (WHERE requests_known)",
    "COUNT(*) FILTER (WHERE NOT requests_known)",
    "COUNT(*) FILTER (WHERE status_code = 429)",
    "COUNT(*) FILTER (WHERE status_code = 429 AND rate_limit_type = 'requests')",
    "COUNT(*) FILTER (WHERE status_code = 429 AND rate_limit_type = 'input_tokens')",
    "COUNT(*) FILTER (WHERE status_code = 429 AND rate_limit_type = 'output_tokens')",
]
# The model buckets' key after (org, start): the series dimensions without key and account.
MODEL_DIMENSIONS = ["workspace_id", "model_id", "service_tier", "context_window"]
# (bucket model, scratch table suffix, unit, its key after (org, start)), in the order every
# rollup writes them (the same order in every transaction, so two of them wait for each
# other, never deadlock).
_LEVELS = [
    (MinuteBucket, "minute", "minute", ["series_id"]),
    (QuarterHourBucket, "quarter", "quarter", ["series_id"]),
    (HourBucket, "hour", "hour", ["series_id"]),
    (DayBucket, "day", "day", ["series_id"]),
    (AccountDayBucket, "account_day", "day", ["series_id"]),
    (ModelQuarterHourBucket, "model_quarter", "quarter", MODEL_DIMENSIONS),
    (ModelHourBucket, "model_hour", "hour", MODEL_DIMENSIONS),
    (ModelDayBucket, "model_day", "day", MODEL_DIMENSIONS),
]
_SCRATCH = "rollup_scratch"


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def truncate_sql(column: str, unit: str) -> str:
    """SQL truncating a UTC timestamp column to the start of its minute, quarter hour (15
    minutes), hour or day."""
    if unit == "quarter":
        if _is_postgres():
            return f"date_bin('15 minutes', {column}, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
        return (
            f"strftime('%%Y-%%m-%%d %%H:', {column}) || printf('%%02d', "
            f"CAST(strftime('%%M', {column}) AS INTEGER) / 15 * 15) || ':00'"
        )
    if _is_postgres():
        # Two-argument date_trunc is much cheaper per row; _tune_transaction pins the
        # session time zone to UTC so it truncates in UTC.
        return f"date_trunc('{unit}', {column})"
    # Django stores SQLite datetimes as UTC text 'YYYY-MM-DD HH:MM:SS[.ffffff]'. The % signs
    # are doubled because every statement here runs with a parameter list (maybe empty),
    # which is also what Django's query logging formats with when DEBUG is on.
    pattern = {
        "minute": "%%Y-%%m-%%d %%H:%%M:00",
        "hour": "%%Y-%%m-%%d %%H:00:00",
        "day": "%%Y-%%m-%%d 00:00:00",
    }
    return f"strftime('{pattern[unit]}', {column})"


def sum_sql(expression: str) -> str:
    """SQL adding up a bigint expression over a group into a bigint (overflow raises).

    On PostgreSQL the ``bigint_sum`` aggregate of migration 0016: ``SUM(bigint)`` keeps an
    allocated 128-bit state per group and returns numeric, which made every GROUP BY of the
    rollup about twice as slow.
    """
    return f"bigint_sum({expression})" if _is_postgres() else f"SUM({expression})"


def _raw_aggregates() -> list[str]:
    """The bucket columns' aggregates over raw rows, in BUCKET_COLUMNS order."""
    return [*_RAW_COUNTS, *(sum_sql(column) for column in COUNT_COLUMNS)]


def _placeholders(values) -> str:
    return ", ".join(["%s"] * len(values))


def _scratch(unit: str) -> str:
    return f"{_SCRATCH}_{unit}"


def _drop_scratch(cursor) -> None:
    for name in ("full_minute", *(name for _model, name, _unit, _key in _LEVELS)):
        cursor.execute(f"DROP TABLE IF EXISTS {_scratch(name)}")


def _fill_scratch(cursor, where: str, params: list, org_ids: list[int]) -> None:
    """Aggregate the selected raw rows into temporary tables, one per bucket table.

    One GROUP BY reads the raw rows (by series as logged, and minute); the account days are
    grouped from that, and so are the base minutes (by each series' base); the base quarter
    hours are grouped from the base minutes, the hours from those and the days from the
    hours, each a fraction of the size; the model quarter hours from the base quarter hours
    (a join to their series), the model hours from those and the model days from the hours.
    When no organisation of the rows has an account series (each series is its own base), the
    minute table is the base minutes as it is, without the join and regrouping, and the
    account days are a copy of the base days.
    """
    _drop_scratch(cursor)
    on_commit = " ON COMMIT DROP" if _is_postgres() else ""
    select = ", ".join(
        f"{expr} AS {col}" for expr, col in zip(_raw_aggregates(), BUCKET_COLUMNS, strict=True)
    )
    minute = truncate_sql("timestamp", "minute")
    cursor.execute(
        f"CREATE TEMPORARY TABLE {_scratch('full_minute')}{on_commit} AS "
        f"SELECT org_id, series_id, {minute} AS start, {select} "
        f"FROM {RequestLog._meta.db_table} WHERE {where} "
        f"GROUP BY org_id, series_id, {minute}",
        params,
    )
    sums = ", ".join(f"{sum_sql(column)} AS {column}" for column in BUCKET_COLUMNS)
    day = truncate_sql("start", "day")
    series = Series._meta.db_table
    # Whether any of the rows' organisations (``org_ids``) has an account series at all: a
    # look at their series, where asking which series these rows have would read every minute.
    cursor.execute(
        f"SELECT 1 FROM {series} WHERE base_id IS NOT NULL "
        f"AND org_id IN ({_placeholders(org_ids)}) LIMIT 1",
        org_ids,
    )
    accounts = cursor.fetchone() is not None
    if accounts:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {_scratch('account_day')}{on_commit} AS "
            f"SELECT org_id, series_id, {day} AS start, {sums} FROM {_scratch('full_minute')} "
            f"WHERE 1 = 1 GROUP BY org_id, series_id, {day}",
            [],
        )
        base = "COALESCE(s.base_id, m.series_id)"
        base_sums = ", ".join(f"{sum_sql(f'm.{column}')} AS {column}" for column in BUCKET_COLUMNS)
        cursor.execute(
            f"CREATE TEMPORARY TABLE {_scratch('minute')}{on_commit} AS "
            f"SELECT m.org_id AS org_id, {base} AS series_id, m.start AS start, {base_sums} "
            f"FROM {_scratch('full_minute')} m JOIN {series} s ON s.id = m.series_id "
            f"WHERE 1 = 1 GROUP BY m.org_id, {base}, m.start",
            [],
        )
    else:  # every series is its own base: the minutes are the base minutes as they are
        cursor.execute(f"ALTER TABLE {_scratch('full_minute')} RENAME TO {_scratch('minute')}")
    for (_m, finer, _u, _k), (_model, unit, _unit, _key) in itertools.pairwise(_LEVELS[:4]):
        start = truncate_sql("start", unit)
        cursor.execute(
            f"CREATE TEMPORARY TABLE {_scratch(unit)}{on_commit} AS "
            f"SELECT org_id, series_id, {start} AS start, {sums} FROM {_scratch(finer)} "
            f"WHERE 1 = 1 GROUP BY org_id, series_id, {start}",
            [],
        )
    if not accounts:  # and the account days are the base days (a copy of a small table)
        cursor.execute(
            f"CREATE TEMPORARY TABLE {_scratch('account_day')}{on_commit} AS "
            f"SELECT * FROM {_scratch('day')}",
            [],
        )
    dims = ", ".join(f"s.{d}" for d in MODEL_DIMENSIONS)
    model_sums = ", ".join(f"{sum_sql(f'h.{c}')} AS {c}" for c in BUCKET_COLUMNS)
    cursor.execute(
        f"CREATE TEMPORARY TABLE {_scratch('model_quarter')}{on_commit} AS "
        f"SELECT h.org_id AS org_id, h.start AS start, {dims}, {model_sums} "
        f"FROM {_scratch('quarter')} h JOIN {series} s ON s.id = h.series_id "
        f"WHERE 1 = 1 GROUP BY h.org_id, h.start, {dims}",
        [],
    )
    plain = ", ".join(f"h.{d}" for d in MODEL_DIMENSIONS)
    hour = truncate_sql("h.start", "hour")
    cursor.execute(
        f"CREATE TEMPORARY TABLE {_scratch('model_hour')}{on_commit} AS "
        f"SELECT h.org_id AS org_id, {hour} AS start, {plain}, {model_sums} "
        f"FROM {_scratch('model_quarter')} h WHERE 1 = 1 GROUP BY h.org_id, {hour}, {plain}",
        [],
    )
    day = truncate_sql("h.start", "day")
    cursor.execute(
        f"CREATE TEMPORARY TABLE {_scratch('model_day')}{on_commit} AS "
        f"SELECT h.org_id AS org_id, {day} AS start, {plain}, {model_sums} "
        f"FROM {_scratch('model_hour')} h WHERE 1 = 1 GROUP BY h.org_id, {day}, {plain}",
        [],
    )


def _add_scratch_to_buckets(cursor) -> None:
    """Add the scratch sums to the minute, quarter hour, hour, day, account day and model
    quarter hour, hour and day buckets, in a stable order.

    Most rows of a rollup land beyond the newest bucket the organisation has at that level
    (its *edge*): logs arrive roughly in time order. Those are added with a plain INSERT,
    about a third cheaper than an upsert; rows at or before the edge (late logs, a minute
    split between two batches) are upserted. A concurrent rollup may still create one of the
    "new" keys first (two workers of a catch-up taking adjacent batches, which share the
    minute, hour and day at their seam); the plain INSERT then fails with a unique violation,
    is rolled back to the savepoint before it, and its rows are upserted instead, so totals
    stay exact and the rest of the transaction stands. (Rolling the whole transaction back
    and repeating it with upserts, as before, repeated 4 of 10 batches of a two-worker
    catch-up.)

    Every statement writes its rows in primary-key order (organisation, start, series or model
    dimensions), organisations in id order, and the tables always go minute, quarter hour,
    hour, day, account day, model quarter hour, model hour, model day, so two
    transactions adding to the same buckets wait for each other instead of deadlocking (the
    retry in ``_rollup_with_retries`` is only a safety net), and a catch-up of time-ordered
    logs appends at the right edge of each index.

    Measured on the 10M bench's incremental step (alternating runs, same database), and kept
    as it is: one upsert per level instead of the split took 1.13 s against 0.86 s for the
    minutes; naming each minute's day partition instead of the parent, 0.33 against 0.30 s
    (routing is not where the time goes).
    """
    cursor.execute(f"SELECT DISTINCT org_id FROM {_scratch('day')} ORDER BY org_id", [])
    orgs = [row[0] for row in cursor.fetchall()]
    for model, name, _unit, keys in _LEVELS:
        table = model._meta.db_table
        key = ", ".join(["org_id", "start", *keys])  # the primary key, in its order
        columns = ", ".join([*keys, "start", *BUCKET_COLUMNS])
        updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in BUCKET_COLUMNS)
        for org_id in orgs:
            for condition, params, plain in _edge_parts(cursor, table, org_id):
                insert = (
                    f"INSERT INTO {table} (org_id, {columns}) "
                    f"SELECT org_id, {columns} FROM {_scratch(name)} "
                    f"WHERE org_id = %s {condition} ORDER BY {key}"
                )
                upsert = f"{insert} ON CONFLICT ({key}) DO UPDATE SET {updates}"
                if plain:
                    _append(cursor, insert, upsert, [org_id, *params])
                else:
                    cursor.execute(upsert, [org_id, *params])
    day = "CAST(start AT TIME ZONE 'UTC' AS date)" if _is_postgres() else "date(start)"
    cursor.execute(f"SELECT DISTINCT org_id, {day} FROM {_scratch('day')} ORDER BY 1, 2", [])
    _bump_days(cursor, cursor.fetchall())
    _drop_scratch(cursor)


def _bump_days(cursor, days: list[tuple[int, dt.date]]) -> None:
    """Raise the version of each (organisation, UTC day) whose buckets this transaction
    changes (``BucketDay``), in key order like the buckets themselves."""
    if not days:
        return
    table = BucketDay._meta.db_table
    cursor.executemany(
        f"INSERT INTO {table} (org_id, day, version) VALUES (%s, %s, 1) "
        f"ON CONFLICT (org_id, day) DO UPDATE SET version = {table}.version + 1",
        sorted(days),
    )


def _append(cursor, insert: str, upsert: str, params: list) -> None:
    """Run a plain INSERT of buckets beyond the edge; if a concurrent rollup created one of
    them first, undo it (a savepoint) and run the upsert of the same rows instead."""
    try:
        with transaction.atomic():
            cursor.execute(insert, params)
    except IntegrityError as exc:
        log.info("a concurrent rollup created a bucket first; upserting instead: %s", exc)
        cursor.execute(upsert, params)


def _edge_parts(cursor, table: str, org_id: int) -> list[tuple]:
    """(extra WHERE, its params, plain insert?) for the statements of one org and level."""
    if table == MinuteBucket._meta.db_table and _is_postgres():
        # The minute table is partitioned by day, where MAX(start) visits every partition's
        # index (200 ms of a 2 s incremental rollup at 10M). Every minute bucket lies in a
        # quarter hour the quarter level holds (written in the same transactions, kept
        # longer), so all minutes start before the quarter level's edge + 15 minutes.
        cursor.execute(
            f"SELECT MAX(start) FROM {QuarterHourBucket._meta.db_table} WHERE org_id = %s",
            [org_id],
        )
        edge = cursor.fetchone()[0]
        if edge is None:
            return [("", [], True)]
        bound = edge + dt.timedelta(minutes=15)
        return [("AND start < %s", [bound], False), ("AND start >= %s", [bound], True)]
    cursor.execute(f"SELECT MAX(start) FROM {table} WHERE org_id = %s", [org_id])
    edge = cursor.fetchone()[0]
    if edge is None:
        return [("", [], True)]
    return [("AND start <= %s", [edge], False), ("AND start > %s", [edge], True)]


def _org_lock(cursor, org_id: int, exclusive: bool) -> None:
    """Serialise rebuilds against rollups of one organisation (PostgreSQL advisory lock)."""
    if _is_postgres():
        fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        key = zlib.crc32(b"meterboard-rollup") & 0x7FFFFFFF
        cursor.execute(f"SELECT {fn}(%s, %s)", [key, org_id])


def _tune_transaction(cursor) -> None:
    """Session settings for one rollup transaction on PostgreSQL.

    UTC for the truncation to bucket starts. A larger work_mem keeps the GROUP BY and the
    sorts in memory. synchronous_commit=off lets COMMIT return before its WAL is flushed: a
    database crash may lose the last few rollups, but each one whole (bucket sums and the
    batches' rolled_up_at together), so those batches are simply pending again; exactly-once
    is kept.
    """
    if _is_postgres():
        cursor.execute("SET LOCAL TIME ZONE 'UTC'")
        cursor.execute(f"SET LOCAL work_mem = '{ROLLUP_WORK_MEM}'")
        cursor.execute("SET LOCAL synchronous_commit = off")


def _lock_pending(org_id: int | None, row_budget: int) -> list[tuple[int, int]]:
    """Lock pending batches, oldest first, up to about ``row_budget`` raw rows.

    Candidates are read without locks, cut at the row budget, then locked with SKIP LOCKED;
    batches another worker holds are skipped and the next candidates tried, so concurrent
    workers share the backlog without waiting on each other or taking a batch twice.
    """
    pending = IngestBatch.objects.filter(rolled_up_at__isnull=True)
    if org_id is not None:
        pending = pending.filter(org_id=org_id)
    candidates = list(pending.order_by("id").values_list("id", "accepted")[:CANDIDATES])
    while candidates:
        chosen, rows = [], 0
        for batch_id, accepted in candidates:
            if chosen and rows + accepted > row_budget:
                break
            chosen.append(batch_id)
            rows += accepted
        locked = list(
            IngestBatch.objects.filter(id__in=chosen, rolled_up_at__isnull=True)
            .select_for_update(skip_locked=True)
            .order_by("id")
            .values_list("id", "org_id")
        )
        if locked:
            return locked
        candidates = candidates[len(chosen) :]
    return []


def _test_pause(cursor) -> None:
    """Dev/test only: hold the transaction open after the upserts (the SIGKILL test)."""
    seconds = os.environ.get("METERBOARD_TEST_ROLLUP_PAUSE")
    if not (seconds and settings.DEV):
        return
    log.warning("pausing %s s inside a rollup transaction (test hook)", seconds)
    if _is_postgres():
        # Visible in pg_stat_activity; the check interval makes the server notice a killed
        # client during the sleep and roll back at once.
        cursor.execute("SET LOCAL client_connection_check_interval = '100ms'")
        cursor.execute("SELECT pg_sleep(%s)", [float(seconds)])
    else:
        time.sleep(float(seconds))


def _rollup_some(org_id: int | None, row_budget: int) -> int:
    with transaction.atomic():
        batches = _lock_pending(org_id, row_budget)
        if not batches:
            return 0
        ids = [batch_id for batch_id, _ in batches]
        orgs = sorted({org for _, org in batches})
        with connection.cursor() as cursor:
            _tune_transaction(cursor)
            for org in orgs:
                _org_lock(cursor, org, exclusive=False)
            if _is_postgres():
                _fill_scratch(cursor, "batch_id = ANY(%s)", [ids], orgs)
            else:
                _fill_scratch(cursor, f"batch_id IN ({_placeholders(ids)})", ids, orgs)
            _add_scratch_to_buckets(cursor)
            _test_pause(cursor)
        IngestBatch.objects.filter(id__in=ids).update(rolled_up_at=timezone.now())
        return len(ids)


def _rollup_with_retries(org_id: int | None, row_budget: int) -> int:
    """One rollup transaction, repeated on a deadlock. Each failed attempt rolled back
    whole, so repeating it cannot count anything twice."""
    for attempt in range(DEADLOCK_RETRIES):
        try:
            return _rollup_some(org_id, row_budget)
        except OperationalError as exc:
            if "deadlock" not in str(exc).lower() or attempt == DEADLOCK_RETRIES - 1:
                raise
            log.warning("rollup deadlock, retrying: %s", exc)
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable: the last attempt returns or raises")


def rollup_pending(org_id: int | None = None, row_budget: int | None = None) -> int:
    """Roll up every batch pending now (of one organisation, or all); return how many."""
    row_budget = row_budget or ROWS_PER_TRANSACTION
    done = 0
    while True:
        count = _rollup_with_retries(org_id, row_budget)
        if count == 0:
            return done
        done += count


def pending_by_org() -> dict[int, int]:
    """{organisation id: raw rows in its pending batches} for organisations with any."""
    rows = (
        IngestBatch.objects.filter(rolled_up_at__isnull=True)
        .values("org_id")
        .annotate(rows=Sum("accepted"))
        .values_list("org_id", "rows")
    )
    return {org_id: rows or 0 for org_id, rows in rows}


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
        _tune_transaction(cursor)
        _org_lock(cursor, org_id, exclusive=True)
        for model, _name, _unit, _key in _LEVELS:  # every family
            model.objects.filter(org_id=org_id, start__gte=start, start__lt=end).delete()
        # Rows of batches still pending are left to the next rollup, which adds them.
        batch_table = IngestBatch._meta.db_table
        _fill_scratch(
            cursor,
            f"org_id = %s AND timestamp >= %s AND timestamp < %s AND batch_id IN "
            f"(SELECT id FROM {batch_table} WHERE org_id = %s AND rolled_up_at IS NOT NULL)",
            # Adapted as the ORM would: on SQLite an aware datetime would otherwise compare as
            # '... 00:00:00+00:00' text, missing a row at midnight of --since.
            [org_id, *map(connection.ops.adapt_datetimefield_value, (start, end)), org_id],
            [org_id],
        )
        _add_scratch_to_buckets(cursor)
        # Days the rebuild emptied changed too, whether or not rows came back to them.
        _bump_days(
            cursor, [(org_id, since + dt.timedelta(days=n)) for n in range((until - since).days)]
        )


def purge_raw_logs(now: dt.datetime | None = None) -> int:
    """Remove raw logs older than the retention period whose batches are rolled up.

    On PostgreSQL whole monthly partitions are dropped (see usage.partitions), so rows stay
    until their month is wholly past the horizon; SQLite deletes rows. Returns rows removed.
    """
    horizon = raw_retention_horizon(now)
    if partitions.is_partitioned():
        return partitions.drop_expired_partitions(horizon)[1]
    rolled_up = IngestBatch.objects.filter(rolled_up_at__isnull=False).values("id")
    deleted, _ = RequestLog.objects.filter(timestamp__lt=horizon, batch_id__in=rolled_up).delete()
    return deleted
