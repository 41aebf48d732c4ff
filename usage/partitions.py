"""Partitions by range of time on PostgreSQL: create ahead, split, drop.

Two tables are partitioned this way (a ``Family`` each):

* ``RAW``: migration 0002 makes ``usage_requestlog`` a table partitioned by RANGE (timestamp)
  with one partition per UTC month (``usage_requestlog_pYYYY_MM``) and a default partition,
  kept ``RAW_RETENTION_DAYS``.
* ``MINUTES``: migration 0012 makes ``usage_minutebucket`` partitioned by RANGE (start) with
  one partition per UTC day (``usage_minutebucket_pYYYY_MM_DD``) and a default, kept
  ``MINUTE_RETENTION_DAYS`` (days, so the window is kept to within a day, not a month).

Writers always insert into the parent, so routing is PostgreSQL's business. Three duties
live here:

* **Ahead of need**: ``ensure_partitions`` creates the months (days) around now (beat,
  hourly), and ``ensure_partitions_for`` those of a backfill, before it is written if the
  writer knows its range.
* **The default partition** catches rows of any month without a partition (a backfill
  nobody announced). ``split_default`` creates the missing months and *moves* those rows
  into them (DELETE ... RETURNING from the default, INSERT into the new table, ATTACH), with
  the default partition locked so no row can slip in meanwhile. We move rather than detach
  and re-attach the default because it stays small and the move is one short transaction.
* **Retention** (``drop_expired_partitions``) drops whole partitions that end before the
  retention horizon; for the raw log only those without a row of a batch that is still
  pending rollup, re-checked under an ACCESS EXCLUSIVE lock so no late batch can land in
  between (minute buckets are rollup output: nothing pending lives in them). No bulk
  DELETE: a partition goes at once, in milliseconds, and leaves nothing to vacuum.

Every operation takes the same transaction-level advisory lock, so two beat runs (or two
machines) never race each other, and sets ``lock_timeout`` so a long report query delays
maintenance rather than ingest queueing behind maintenance.
"""

import datetime as dt
import logging
import re
import zlib
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from usage.models import IngestBatch, MinuteBucket, RequestLog

log = logging.getLogger(__name__)

LOCK_TIMEOUT = "10s"
_LOCK_KEY = zlib.crc32(b"meterboard-partitions") & 0x7FFFFFFF


@dataclass(frozen=True)
class Family:
    """One table partitioned by range of a time column, one partition per ``unit``."""

    parent: str
    column: str
    unit: str  # "month" or "day"
    behind: int  # partitions created before the current one
    ahead: int  # and after it
    pending_check: bool  # raw rows: never drop a partition holding a pending batch's rows
    fillfactor: int | None = None  # given to each new partition (a parent cannot have one)

    @property
    def default(self) -> str:
        return f"{self.parent}_default"

    @property
    def pattern(self) -> re.Pattern:
        digits = r"(\d{4})_(\d{2})" + (r"_(\d{2})" if self.unit == "day" else "")
        return re.compile(rf"^{self.parent}_p{digits}$")


RAW = Family(RequestLog._meta.db_table, "timestamp", "month", 1, 2, True)
# Days ahead cover a long weekend without beat; a day behind, a rollup of late logs.
MINUTES = Family(MinuteBucket._meta.db_table, "start", "day", 1, 7, False, fillfactor=85)

PARENT = RAW.parent
DEFAULT = RAW.default
MONTHS_BEHIND = RAW.behind
MONTHS_AHEAD = RAW.ahead


@dataclass(frozen=True)
class Partition:
    name: str
    start: dt.datetime  # inclusive, UTC, first instant of a month (or day)
    end: dt.datetime  # exclusive


def is_partitioned(family: Family = RAW) -> bool:
    """Whether the family's table is partitioned (PostgreSQL after its migration)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)",
            [family.parent],
        )
        return cursor.fetchone() is not None


def month_start(moment: dt.datetime) -> dt.datetime:
    moment = moment.astimezone(dt.UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def add_months(month: dt.datetime, n: int) -> dt.datetime:
    index = month.year * 12 + month.month - 1 + n
    return month.replace(year=index // 12, month=index % 12 + 1)


def _unit_start(moment: dt.datetime, family: Family) -> dt.datetime:
    if family.unit == "month":
        return month_start(moment)
    return moment.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _add_units(start: dt.datetime, n: int, family: Family) -> dt.datetime:
    if family.unit == "month":
        return add_months(start, n)
    return start + dt.timedelta(days=n)


def partition_for(moment: dt.datetime, family: Family = RAW) -> Partition:
    """The partition holding ``moment``."""
    start = _unit_start(moment, family)
    suffix = f"{start:%Y_%m}" if family.unit == "month" else f"{start:%Y_%m_%d}"
    return Partition(f"{family.parent}_p{suffix}", start, _add_units(start, 1, family))


def list_partitions(family: Family = RAW) -> list[Partition]:
    """The partitions that exist now, oldest first (the default is not listed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s)",
            [family.parent],
        )
        names = [name for (name,) in cursor.fetchall()]
    found = []
    for name in names:
        match = family.pattern.match(name)
        if match:
            numbers = [int(g) for g in match.groups()]
            day = numbers[2] if len(numbers) > 2 else 1
            start = dt.datetime(numbers[0], numbers[1], day, tzinfo=dt.UTC)
            found.append(partition_for(start, family))
    return sorted(found, key=lambda p: p.start)


def _lock(cursor) -> None:
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
    cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")


def _exists(cursor, name: str) -> bool:
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
    return cursor.fetchone()[0]


def _create(cursor, part: Partition, family: Family) -> int:
    """Create one partition, moving its rows out of the default; return rows moved."""
    parent, default, column = family.parent, family.default, f'"{family.column}"'
    # Lock the default first: an insert into it for this range between the move and the
    # ATTACH would make the ATTACH fail. The lock order (default, then parent in SHARE
    # UPDATE EXCLUSIVE for the ATTACH) cannot deadlock with writers, which only take
    # ROW EXCLUSIVE locks.
    cursor.execute(f"LOCK TABLE {default} IN ACCESS EXCLUSIVE MODE")
    storage = f" WITH (fillfactor = {family.fillfactor})" if family.fillfactor else ""
    cursor.execute(
        f"CREATE TABLE {part.name} (LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        f"{storage}"
    )
    # The CHECK lets ATTACH skip scanning the new table to prove its rows belong.
    cursor.execute(
        f"ALTER TABLE {part.name} ADD CONSTRAINT {part.name}_bounds CHECK ({column} >= %s "
        f"AND {column} < %s)",
        [part.start, part.end],
    )
    cursor.execute(
        f"WITH moved AS (DELETE FROM {default} "
        f"WHERE {column} >= %s AND {column} < %s RETURNING *) "
        f"INSERT INTO {part.name} SELECT * FROM moved",
        [part.start, part.end],
    )
    moved = cursor.rowcount
    cursor.execute(
        f"ALTER TABLE {parent} ATTACH PARTITION {part.name} FOR VALUES FROM (%s) TO (%s)",
        [part.start, part.end],
    )
    cursor.execute(f"ALTER TABLE {part.name} DROP CONSTRAINT {part.name}_bounds")
    return moved


def ensure_partitions_for(
    since: dt.datetime, until: dt.datetime, family: Family = RAW
) -> list[str]:
    """Create the partitions covering [since, until) that are missing; return their names."""
    created = []
    start = _unit_start(since, family)
    while start < until:
        part = partition_for(start, family)
        with transaction.atomic(), connection.cursor() as cursor:
            _lock(cursor)
            if not _exists(cursor, part.name):
                moved = _create(cursor, part, family)
                created.append(part.name)
                log.info("created partition %s (moved %d rows from default)", part.name, moved)
        start = part.end
    return created


def ensure_partitions(now: dt.datetime | None = None, family: Family = RAW) -> list[str]:
    """Create the current partition and those around it (``behind``, ``ahead``)."""
    if not is_partitioned(family):
        return []
    current = _unit_start(now or timezone.now(), family)
    return ensure_partitions_for(
        _add_units(current, -family.behind, family),
        _add_units(current, family.ahead + 1, family),
        family,
    )


def split_default(family: Family = RAW) -> list[str]:
    """Give every month (day) that has rows in the default partition its own partition."""
    if not is_partitioned(family):
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT date_trunc('{family.unit}', \"{family.column}\", 'UTC') "
            f"FROM {family.default} ORDER BY 1"
        )
        starts = [start for (start,) in cursor.fetchall()]
    created = []
    for start in starts:
        created += ensure_partitions_for(start, partition_for(start, family).end, family)
    return created


def _has_pending_rows(cursor, name: str, family: Family) -> bool:
    if not family.pending_check:
        return False
    cursor.execute(
        f"SELECT EXISTS (SELECT 1 FROM {name} WHERE batch_id IN "
        f"(SELECT id FROM {IngestBatch._meta.db_table} WHERE rolled_up_at IS NULL))"
    )
    return cursor.fetchone()[0]


def drop_expired_partitions(horizon: dt.datetime, family: Family = RAW) -> tuple[list[str], int]:
    """Drop partitions wholly before ``horizon`` (for the raw log: whose batches are all
    rolled up). Returns the names dropped and how many rows went with them."""
    if not is_partitioned(family):
        return [], 0
    split_default(family)  # old rows parked in the default must be droppable too
    dropped, rows = [], 0
    for part in list_partitions(family):
        if part.end > horizon:
            break
        with connection.cursor() as cursor:
            # Cheap first look without locks; most months are either clearly done or not.
            if _has_pending_rows(cursor, part.name, family):
                log.info("keeping %s: it holds rows of batches not rolled up yet", part.name)
                continue
            cursor.execute(f"SELECT count(*) FROM {part.name}")
            count = cursor.fetchone()[0]
        with transaction.atomic(), connection.cursor() as cursor:
            _lock(cursor)
            # DROP of a partition takes ACCESS EXCLUSIVE on the parent anyway; taking it
            # first (parent before partition, as every reader and writer does) avoids
            # deadlocks, and it shuts out a late batch between the check and the drop.
            cursor.execute(f"LOCK TABLE {family.parent} IN ACCESS EXCLUSIVE MODE")
            if not _exists(cursor, part.name) or _has_pending_rows(cursor, part.name, family):
                continue
            cursor.execute(f"DROP TABLE {part.name}")
        dropped.append(part.name)
        rows += count
        log.info("dropped partition %s (%d rows past retention)", part.name, count)
    return dropped, rows
