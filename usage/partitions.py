"""Monthly partitions of the raw request log on PostgreSQL: create ahead, split, drop.

Migration 0002 makes ``usage_requestlog`` a table partitioned by RANGE (timestamp) with one
partition per UTC month (``usage_requestlog_pYYYY_MM``) and a default partition. Writers
always insert into the parent, so routing is PostgreSQL's business. Three duties live here:

* **Ahead of need**: ``ensure_partitions`` creates the months around now (beat, hourly), and
  ``ensure_partitions_for`` the months of a backfill, before it is written if the writer
  knows its range.
* **The default partition** catches rows of any month without a partition (a backfill
  nobody announced). ``split_default`` creates the missing months and *moves* those rows
  into them (DELETE ... RETURNING from the default, INSERT into the new table, ATTACH), with
  the default partition locked so no row can slip in meanwhile. We move rather than detach
  and re-attach the default because it stays small and the move is one short transaction.
* **Retention** (``drop_expired_partitions``) drops whole monthly partitions that end before
  the retention horizon, and only those without a row of a batch that is still pending
  rollup, re-checked under an ACCESS EXCLUSIVE lock so no late batch can land in between.
  No bulk DELETE: a month goes at once, in milliseconds, and leaves nothing to vacuum.

Every operation takes the same transaction-level advisory lock, so two beat runs (or two
machines) never race each other, and sets ``lock_timeout`` so a long report query delays
maintenance rather than ingest queueing behind maintenance. Nothing here touches buckets.
"""

import datetime as dt
import logging
import re
import zlib
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from usage.models import IngestBatch, RequestLog

log = logging.getLogger(__name__)

PARENT = RequestLog._meta.db_table
DEFAULT = f"{PARENT}_default"
MONTHS_BEHIND = 1
MONTHS_AHEAD = 2
LOCK_TIMEOUT = "10s"
_NAME = re.compile(rf"^{PARENT}_p(\d{{4}})_(\d{{2}})$")
_LOCK_KEY = zlib.crc32(b"meterboard-partitions") & 0x7FFFFFFF


@dataclass(frozen=True)
class Partition:
    name: str
    start: dt.datetime  # inclusive, UTC, first instant of a month
    end: dt.datetime  # exclusive


def is_partitioned() -> bool:
    """Whether the raw log is a partitioned table (PostgreSQL after migration 0002)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)", [PARENT]
        )
        return cursor.fetchone() is not None


def month_start(moment: dt.datetime) -> dt.datetime:
    moment = moment.astimezone(dt.UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def add_months(month: dt.datetime, n: int) -> dt.datetime:
    index = month.year * 12 + month.month - 1 + n
    return month.replace(year=index // 12, month=index % 12 + 1)


def partition_for(month: dt.datetime) -> Partition:
    month = month_start(month)
    return Partition(f"{PARENT}_p{month:%Y_%m}", month, add_months(month, 1))


def list_partitions() -> list[Partition]:
    """The monthly partitions that exist now, oldest first (the default is not listed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s)",
            [PARENT],
        )
        names = [name for (name,) in cursor.fetchall()]
    months = []
    for name in names:
        match = _NAME.match(name)
        if match:
            year, month = int(match[1]), int(match[2])
            months.append(partition_for(dt.datetime(year, month, 1, tzinfo=dt.UTC)))
    return sorted(months, key=lambda p: p.start)


def _lock(cursor) -> None:
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
    cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")


def _exists(cursor, name: str) -> bool:
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
    return cursor.fetchone()[0]


def _create(cursor, part: Partition) -> int:
    """Create one month's partition, moving its rows out of the default; return rows moved."""
    # Lock the default first: an insert into it for this month between the move and the
    # ATTACH would make the ATTACH fail. The lock order (default, then parent in SHARE
    # UPDATE EXCLUSIVE for the ATTACH) cannot deadlock with writers, which only take
    # ROW EXCLUSIVE locks.
    cursor.execute(f"LOCK TABLE {DEFAULT} IN ACCESS EXCLUSIVE MODE")
    cursor.execute(
        f"CREATE TABLE {part.name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    )
    # The CHECK lets ATTACH skip scanning the new table to prove its rows belong.
    cursor.execute(
        f'ALTER TABLE {part.name} ADD CONSTRAINT {part.name}_bounds CHECK ("timestamp" >= %s '
        f'AND "timestamp" < %s)',
        [part.start, part.end],
    )
    cursor.execute(
        f"WITH moved AS (DELETE FROM {DEFAULT} "
        f'WHERE "timestamp" >= %s AND "timestamp" < %s RETURNING *) '
        f"INSERT INTO {part.name} SELECT * FROM moved",
        [part.start, part.end],
    )
    moved = cursor.rowcount
    cursor.execute(
        f"ALTER TABLE {PARENT} ATTACH PARTITION {part.name} FOR VALUES FROM (%s) TO (%s)",
        [part.start, part.end],
    )
    cursor.execute(f"ALTER TABLE {part.name} DROP CONSTRAINT {part.name}_bounds")
    return moved


def ensure_partitions_for(since: dt.datetime, until: dt.datetime) -> list[str]:
    """Create the monthly partitions covering [since, until) that are missing; return names."""
    created = []
    month = month_start(since)
    while month < until:
        part = partition_for(month)
        with transaction.atomic(), connection.cursor() as cursor:
            _lock(cursor)
            if not _exists(cursor, part.name):
                moved = _create(cursor, part)
                created.append(part.name)
                log.info("created partition %s (moved %d rows from default)", part.name, moved)
        month = part.end
    return created


def ensure_partitions(now: dt.datetime | None = None) -> list[str]:
    """Create this month's partition and those around it (MONTHS_BEHIND, MONTHS_AHEAD)."""
    if not is_partitioned():
        return []
    this_month = month_start(now or timezone.now())
    return ensure_partitions_for(
        add_months(this_month, -MONTHS_BEHIND), add_months(this_month, MONTHS_AHEAD + 1)
    )


def split_default() -> list[str]:
    """Give every month that has rows in the default partition its own partition."""
    if not is_partitioned():
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT date_trunc('month', \"timestamp\", 'UTC') FROM {DEFAULT} ORDER BY 1"
        )
        months = [month for (month,) in cursor.fetchall()]
    created = []
    for month in months:
        created += ensure_partitions_for(month, partition_for(month).end)
    return created


def _has_pending_rows(cursor, name: str) -> bool:
    cursor.execute(
        f"SELECT EXISTS (SELECT 1 FROM {name} WHERE batch_id IN "
        f"(SELECT id FROM {IngestBatch._meta.db_table} WHERE rolled_up_at IS NULL))"
    )
    return cursor.fetchone()[0]


def drop_expired_partitions(horizon: dt.datetime) -> tuple[list[str], int]:
    """Drop monthly partitions wholly before ``horizon`` whose batches are all rolled up.

    Returns the names dropped and how many raw rows went with them.
    """
    if not is_partitioned():
        return [], 0
    split_default()  # old rows parked in the default must be droppable too
    dropped, rows = [], 0
    for part in list_partitions():
        if part.end > horizon:
            break
        with connection.cursor() as cursor:
            # Cheap first look without locks; most months are either clearly done or not.
            if _has_pending_rows(cursor, part.name):
                log.info("keeping %s: it holds rows of batches not rolled up yet", part.name)
                continue
            cursor.execute(f"SELECT count(*) FROM {part.name}")
            count = cursor.fetchone()[0]
        with transaction.atomic(), connection.cursor() as cursor:
            _lock(cursor)
            # DROP of a partition takes ACCESS EXCLUSIVE on the parent anyway; taking it
            # first (parent before partition, as every reader and writer does) avoids
            # deadlocks, and it shuts out a late batch between the check and the drop.
            cursor.execute(f"LOCK TABLE {PARENT} IN ACCESS EXCLUSIVE MODE")
            if not _exists(cursor, part.name) or _has_pending_rows(cursor, part.name):
                continue
            cursor.execute(f"DROP TABLE {part.name}")
        dropped.append(part.name)
        rows += count
        log.info("dropped partition %s (%d raw rows past retention)", part.name, count)
    return dropped, rows
