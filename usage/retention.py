"""How long minute buckets are kept, and dropping them when older (``MINUTE_RETENTION_DAYS``).

Minute buckets serve the minute drill of recent hours only: every page reads a local
period's edges from quarter-hour buckets (kept as long as hours), so dropping minutes
changes no figure. On PostgreSQL they go a UTC day (a partition) at a time, like the raw
log's months (``usage.partitions.MINUTES``); SQLite deletes rows.
"""

import datetime as dt

from django.conf import settings
from django.utils import timezone

from usage import partitions
from usage.models import MinuteBucket


def minute_retention_horizon(now: dt.datetime | None = None) -> dt.datetime | None:
    """The instant before which minute buckets are dropped (the start of a UTC day), or
    None when they are kept forever (``MINUTE_RETENTION_DAYS=0``)."""
    days = settings.MINUTE_RETENTION_DAYS
    if not days:
        return None
    now = (now or timezone.now()).astimezone(dt.UTC)
    day = now.date() - dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def minutes_dropped(start: dt.datetime, accounts: bool, now: dt.datetime | None = None) -> bool:
    """Whether the minutes of a span starting at ``start`` are gone for a read that is by
    account or not (one by account takes its minutes from raw rows, kept longer)."""
    horizon = minute_retention_horizon(now)
    return horizon is not None and start < horizon and not accounts


def purge_minute_buckets(now: dt.datetime | None = None) -> int:
    """Drop minute buckets older than the retention window; return how many rows went."""
    horizon = minute_retention_horizon(now)
    if horizon is None:
        return 0
    if partitions.is_partitioned(partitions.MINUTES):
        return partitions.drop_expired_partitions(horizon, partitions.MINUTES)[1]
    deleted, _ = MinuteBucket.objects.filter(start__lt=horizon).delete()
    return deleted
