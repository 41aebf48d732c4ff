"""Reports of periods that are over, kept between views while nothing they are made of
changes (the Usage page's ``usage_report``, the Cost page's ``costs.cache``).

A report of a period that has ended is a function of what was asked, of the buckets of the
UTC days it reads, and of the names it shows; a cost report also of the prices. Its key
holds a fingerprint of each: for the buckets, the sum and number of the ``BucketDay``
versions of those days, which every rollup or rebuild that adds to a day raises in the same
transaction (so a late row, an upstream's pull or a rebuild makes a new key); for the names,
the organisation's workspaces and the models, and the accounts or API keys a report is
grouped by. A report of a period still running is never kept: its comparison and
projection move with the clock, and its newest day changes with every rollup.

``REPORT_CACHE_SECONDS`` bounds how long an entry lives (0: nothing is kept); a report
larger than ``REPORT_CACHE_MAX_BYTES`` (pickled) is not kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import pickle
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Sum

from console.models import Account, ApiKey, LlmModel, Workspace
from usage.models import BucketDay


def days_version(org_id: int, start: dt.datetime, end: dt.datetime) -> tuple[int, int]:
    """(sum, count) of the BucketDay versions of the UTC days that [start, end) touches."""
    last = (end - dt.timedelta(microseconds=1)).astimezone(dt.UTC).date()
    found = BucketDay.objects.filter(
        org_id=org_id, day__gte=start.astimezone(dt.UTC).date(), day__lte=last
    ).aggregate(total=Sum("version"), days=Count("*"))
    return found["total"] or 0, found["days"]


def names(org_id: int, dims: tuple[str, ...]) -> list:
    """What a report's labels are made of (a rename makes a new key): the workspaces and
    models always, the accounts and API keys when ``dims`` holds them."""
    found = [
        list(Workspace.objects.filter(org_id=org_id).order_by("id").values_list("id", "name")),
        list(LlmModel.objects.order_by("id").values_list("id", "model_id", "display_name")),
    ]
    if "account" in dims:
        accounts = Account.objects.filter(org_id=org_id).order_by("id")
        found.append(list(accounts.values_list("id", "external_id", "name")))
    if "api_key" in dims:
        keys = ApiKey.objects.filter(org_id=org_id).order_by("id")
        found.append(list(keys.values_list("id", "external_id", "name")))
    return found


def report_key(kind: str, org_id: int, query: tuple, dims: tuple[str, ...], reads, *extra) -> str:
    """The key of a report of ``kind``: ``query`` (what was asked, as plain values),
    the versions of the buckets it reads from ``reads`` = (start, end), the names of
    ``dims`` and any ``extra`` fingerprint (a cost report's prices)."""
    start, end = reads
    parts = (org_id, query, dims, days_version(org_id, start, end), names(org_id, dims), extra)
    return f"report:{kind}:v1:" + hashlib.sha256(repr(parts).encode()).hexdigest()


def kept(key: str | None, compute: Callable[[], object]):
    """The value kept under ``key``, else ``compute()`` (kept when small enough).
    ``key`` None: not to be kept."""
    seconds = settings.REPORT_CACHE_SECONDS
    if key is None or not seconds:
        return compute()
    found = cache.get(key)
    if found is not None:
        return pickle.loads(found)  # noqa: S301 - written below by this code, never by a user
    value = compute()
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    if len(data) <= settings.REPORT_CACHE_MAX_BYTES:
        cache.set(key, data, seconds)
    return value
