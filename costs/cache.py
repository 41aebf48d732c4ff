"""Cost reports of periods that are over, kept between views while nothing they are made of
changes.

A cost report is computed from buckets and prices at read time (``costs.selectors``): exact,
but it grows with the rows it prices, where the Usage page only adds them up. A report of a
period that has ended is a function of four things, and its key holds a fingerprint of each:

- the query: organisation, zone, period, filters, grouping, and the compared period;
- the buckets of every UTC day it reads, from the first of the month its code-execution
  allowance starts counting in (``_CodeAllowance``) to its end: the sum and number of their
  ``BucketDay`` versions, which every rollup or rebuild that adds to a day raises in the same
  transaction (a late row, an upstream's pull or a rebuild all change the key);
- the price book: every rate and allowance of the organisation's and the shipped prices;
- the names it shows: models, workspaces, and the accounts or API keys it is grouped by.

A report of a period still running is never kept: its comparison and projection move with
the clock, and its newest day changes with every rollup. The kept value is the report
itself (pickled), so a cached view shows the very amounts a fresh one would
(tests/costs/test_cache.py compares them). ``COST_REPORT_CACHE_SECONDS`` bounds how long an
entry lives (0: never kept); reports larger than ``COST_REPORT_CACHE_MAX_BYTES`` are not kept.
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
from costs.pricing import PriceBook, month_start
from usage.models import BucketDay

_PREFIX = "cost-report:v1:"


def days_version(org_id: int, start: dt.datetime, end: dt.datetime) -> tuple[int, int]:
    """(sum, count) of the BucketDay versions of the UTC days that [start, end) touches."""
    last = (end - dt.timedelta(microseconds=1)).astimezone(dt.UTC).date()
    found = BucketDay.objects.filter(
        org_id=org_id, day__gte=start.astimezone(dt.UTC).date(), day__lte=last
    ).aggregate(total=Sum("version"), days=Count("*"))
    return found["total"] or 0, found["days"]


def _names(org_id: int, group: str) -> list:
    """What the report's labels are made of (a rename makes a new key)."""
    names = [
        list(Workspace.objects.filter(org_id=org_id).order_by("id").values_list("id", "name")),
        list(LlmModel.objects.order_by("id").values_list("id", "model_id", "display_name")),
    ]
    if group == "account":
        accounts = Account.objects.filter(org_id=org_id).order_by("id")
        names.append(list(accounts.values_list("id", "external_id", "name")))
    elif group == "api_key":
        keys = ApiKey.objects.filter(org_id=org_id).order_by("id")
        names.append(list(keys.values_list("id", "external_id", "name")))
    return names


def report_key(
    org_id: int, query: tuple, group: str, book: PriceBook, reads: tuple[dt.datetime, dt.datetime]
) -> str:
    """The cache key of a report: ``query`` (what was asked, as plain values) and the
    fingerprints of the buckets read from ``reads`` = (start, end), the prices and names."""
    start, end = reads
    parts = (
        org_id,
        query,
        group,
        days_version(org_id, month_start(start), end),
        sorted(map(repr, book.token_rates)),
        sorted(map(repr, book.tool_rates)),
        _names(org_id, group),
    )
    return _PREFIX + hashlib.sha256(repr(parts).encode()).hexdigest()


def kept(key: str | None, compute: Callable[[], object]):
    """The value kept under ``key``, else ``compute()`` (kept when small enough).
    ``key`` None: not to be kept."""
    seconds = settings.COST_REPORT_CACHE_SECONDS
    if key is None or not seconds:
        return compute()
    found = cache.get(key)
    if found is not None:
        return pickle.loads(found)  # noqa: S301 - written below by this code, never by a user
    value = compute()
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    if len(data) <= settings.COST_REPORT_CACHE_MAX_BYTES:
        cache.set(key, data, seconds)
    return value
