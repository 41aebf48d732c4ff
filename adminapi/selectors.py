"""Reads behind the Admin API: report windows, usage and cost per UTC bucket, the lists.

Usage is summed from the minute, hour and day buckets (``usage.models``) of the width asked
for, or, when the request filters or groups by account, from the account day buckets and
the raw logs finer than a day (``usage.selectors.bucket_rows`` chooses); costs come from
the Cost page's own pricing (``costs.selectors``: day buckets priced per model, tier,
window and price period in integer 1e-12 USD, with the free code-execution allowance), so
the API and the Cost page give the same amounts to the last digit.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from operator import itemgetter

from django.db.models import BigIntegerField, Sum
from django.db.models.functions import Cast

from console.models import Account, ApiKey, LlmModel, Workspace
from costs.pricing import PRIORITY, TOKEN_TYPES, TOKENS
from costs.selectors import price_periods
from usage.selectors import Scope, bucket_rows

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
WIDTHS = {
    "1d": dt.timedelta(days=1),
    "1h": dt.timedelta(hours=1),
    "1m": dt.timedelta(minutes=1),
}
BUCKET_UNITS = {"1d": "day", "1h": "hour", "1m": "minute"}

# Usage report dimension -> the field a bucket row is filtered by (the ids clients know).
DIMENSIONS = {
    "api_key_id": "series__api_key__external_id",
    "workspace_id": "series__workspace__external_id",
    "model": "series__model__model_id",
    "service_tier": "series__service_tier",
    "context_window": "series__context_window",
    "account_id": "series__account__external_id",
}
# ... and the series column it is grouped by: our own ids, named for clients in Python
# (``_names``), so that the GROUP BY joins the series alone, not four tables of names.
GROUP_FIELDS = {
    "api_key_id": "series__api_key_id",
    "workspace_id": "series__workspace_id",
    "model": "series__model_id",
    "service_tier": "series__service_tier",
    "context_window": "series__context_window",
    "account_id": "series__account_id",
}
COUNTERS = (
    "uncached_input_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "output_tokens",
    "web_search_requests",
)
_COST_TYPE_ORDER = {"tokens": 0, "web_search": 1, "code_execution": 2}
_TOKEN_TYPE_ORDER = {t.api_name: i for i, t in enumerate(TOKEN_TYPES)}


def floor(moment: dt.datetime, width: dt.timedelta) -> dt.datetime:
    """The start of the UTC bucket of ``width`` containing ``moment``."""
    return EPOCH + (moment - EPOCH) // width * width


@dataclass(frozen=True)
class Window:
    """The buckets of one page: their starts, width, and the start of the next page."""

    starts: list[dt.datetime]
    width: dt.timedelta
    next_start: dt.datetime | None

    @property
    def start(self) -> dt.datetime:
        return self.starts[0]

    @property
    def end(self) -> dt.datetime:
        return self.starts[-1] + self.width


def window(
    *,
    starting_at: dt.datetime,
    ending_at: dt.datetime | None,
    page: dt.datetime | None,
    width: dt.timedelta,
    limit: int,
    now: dt.datetime,
) -> Window:
    """The page of buckets asked for.

    Buckets snap to UTC boundaries: the first is the one containing ``starting_at`` (or the
    page's, should a client change ``bucket_width`` between pages). Only buckets that end at
    or before ``ending_at`` are returned (so an unaligned ``ending_at`` such as "now" leaves
    out the bucket still filling); without ``ending_at`` they run up to and including the
    current bucket.
    """
    first = floor(page or starting_at, width)
    try:
        bound = floor(ending_at, width) if ending_at is not None else floor(now, width) + width
    except OverflowError:
        bound = dt.datetime.max.replace(tzinfo=dt.UTC)
    starts = []
    cursor = first
    while cursor < bound and len(starts) < limit:
        starts.append(cursor)
        try:
            cursor = cursor + width
        except OverflowError:
            return Window(starts, width, None)
    return Window(starts, width, cursor if starts and cursor < bound else None)


def _bucket(start: dt.datetime, width: dt.timedelta, results: list) -> dict:
    return {"starting_at": rfc3339(start), "ending_at": rfc3339(start + width), "results": results}


def rfc3339(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _order(value) -> tuple:
    return (value is not None, value or "")


def _names(org, dimension: str) -> dict | None:
    """Our id -> the id clients know, for a dimension grouped by its row id (None: as is)."""
    if dimension == "api_key_id":
        return dict(ApiKey.objects.filter(org=org).values_list("id", "external_id"))
    if dimension == "workspace_id":  # the Default workspace has none: null, as documented
        return dict(Workspace.objects.filter(org=org).values_list("id", "external_id"))
    if dimension == "model":
        return dict(LlmModel.objects.values_list("id", "model_id"))
    if dimension == "account_id":
        return dict(Account.objects.filter(org=org).values_list("id", "external_id"))
    return None


def usage_report(org, page: Window, bucket_width: str, group_by: list, filters: dict) -> list:
    """[{starting_at, ending_at, results: [usage result]}] for each bucket of the page.

    ``filters`` maps a dimension to the values it must have; ``group_by`` lists dimensions.
    Each result carries every dimension, null unless grouped (workspace_id null for the
    Default workspace, api_key_id null for usage without a key). One query for the sums,
    one per grouped dimension that has names.
    """
    if not page.starts:
        return []
    accounts = "account_id" in group_by or bool(filters.get("account_id"))
    rows = bucket_rows(BUCKET_UNITS[bucket_width], accounts, org.id, page.start, page.end)
    for dimension, values in filters.items():
        if values:
            rows = rows.filter(**{f"{DIMENSIONS[dimension]}__in": values})
    grouped = [d for d in DIMENSIONS if d in group_by]
    fields = [GROUP_FIELDS[d] for d in grouped]
    # PostgreSQL sums bigints as numeric; the API's counts are JSON integers.
    sums = {c: Cast(Sum(c), BigIntegerField()) for c in COUNTERS}
    rows = rows.values("start", *fields).annotate(**sums).order_by()
    rows = rows.values_list("start", *fields, *COUNTERS)
    names = [_names(org, d) for d in grouped]
    width = len(grouped)
    ungrouped = dict.fromkeys(DIMENSIONS)
    by_start = defaultdict(list)
    for row in rows:
        dims = ungrouped.copy()
        order = []
        for i, dimension in enumerate(grouped):
            value = row[1 + i] if names[i] is None else names[i].get(row[1 + i])
            dims[dimension] = value
            order.append(_order(value))
        uncached, write_5m, write_1h, read, output, searches = row[1 + width :]
        by_start[row[0]].append(
            (
                order,
                {
                    "uncached_input_tokens": uncached,
                    "cache_creation": {
                        "ephemeral_1h_input_tokens": write_1h,
                        "ephemeral_5m_input_tokens": write_5m,
                    },
                    "cache_read_input_tokens": read,
                    "output_tokens": output,
                    "server_tool_use": {"web_search_requests": searches},
                    **dims,
                },
            )
        )
    return [
        _bucket(
            start,
            page.width,
            [result for _, result in sorted(by_start.get(start, []), key=itemgetter(0))],
        )
        for start in page.starts
    ]


def _cents(pico: int) -> str:
    """1e-12 USD as Anthropic's amount: a decimal string in cents ("123.45" is $1.2345)."""
    value = Decimal(pico).scaleb(-10).normalize()
    return format(value, "f")


def cost_report(
    org, page: Window, *, by_workspace: bool, by_description: bool, include_priority: bool
) -> list:
    """[{starting_at, ending_at, results: [cost result]}] for each UTC day of the page.

    Priced exactly as the Cost page prices (``costs.selectors.price_periods``), then added up
    per day, per workspace and per description when grouped. Unpriced usage has no amount,
    so it is not a cost here. Priority Tier is left out unless ``include_priority``
    (Anthropic's report never has it).
    """
    if not page.starts:
        return []
    priced = price_periods(org, page.starts + [page.end], Scope(org_id=org.id), "workspace")
    external_ids = dict(Workspace.objects.filter(org=org).values_list("id", "external_id"))

    sums: dict[tuple, int] = defaultdict(int)
    for period, dims, key, pico in priced.priced_parts():
        if dims[1] == PRIORITY and not include_priority:
            continue
        workspace = external_ids.get(dims[3]) if by_workspace else None
        line = None
        if by_description:
            tokens = key.cost_type == TOKENS
            line = (
                key.description,
                key.cost_type,
                key.model if tokens else None,
                key.service_tier if tokens else None,
                key.context_window if tokens else None,
                key.token_type if tokens else None,
            )
        sums[(period, workspace, line)] += pico

    by_period = defaultdict(list)
    for (period, workspace, line), pico in sums.items():
        result = {
            "amount": _cents(pico),
            "currency": "USD",
            "workspace_id": workspace,
            "description": None,
            "cost_type": None,
            "model": None,
            "service_tier": None,
            "context_window": None,
            "token_type": None,
        }
        if line is not None:
            for name, value in zip(
                ("description", "cost_type", "model", "service_tier", "context_window"),
                line,
                strict=False,
            ):
                result[name] = value
            result["token_type"] = line[5]
        by_period[period].append(result)

    def order(result):
        return (
            _order(result["workspace_id"]),
            _COST_TYPE_ORDER.get(result["cost_type"], -1),
            _order(result["model"]),
            _TOKEN_TYPE_ORDER.get(result["token_type"], 99),
            _order(result["service_tier"]),
            _order(result["context_window"]),
        )

    return [
        _bucket(start, page.width, sorted(by_period.get(i, []), key=order))
        for i, start in enumerate(page.starts)
    ]


def workspaces(org):
    """The organisation's workspaces as the API lists them: not the Default one, oldest first."""
    return Workspace.objects.filter(org=org, is_default=False).order_by("created_at", "pk")


def api_keys(org):
    """The organisation's API keys (as logs named them), oldest first."""
    return (
        ApiKey.objects.filter(org=org)
        .select_related("workspace", "created_by")
        .order_by("created_at", "pk")
    )
