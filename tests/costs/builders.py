"""Usage data for cost tests: raw rows stored as ingest would, then rolled up for real."""

import datetime as dt

from tests.usage.rawrows import raw, series_for, store_batch
from usage.rollups import rollup_pending


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def store_and_roll_up(org, rows):
    """Store raw rows as one batch and roll them up into buckets; return the rows."""
    store_batch(org, rows)
    rollup_pending(org_id=org.id)
    return rows


__all__ = ["raw", "series_for", "store_and_roll_up", "utc"]
