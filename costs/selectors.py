"""Reads for the Cost page and the Prices page: buckets x prices, computed when read.

How a cost report is computed (``cost_report``):

1. The view's local periods (the days of a month, or the hours of a day, in the chosen
   zone) are cut further into *segments* wherever a price comes into force (at 00:00 UTC of
   its date) and wherever the organisation's free code-execution allowance changes state
   (see 3). Within one segment every bucket has the same prices, so the price in force at a
   bucket's UTC start is the price of its segment.
2. Each segment is split into whole UTC days, hours and minutes (``console.timeslice``) and
   the buckets of those ranges are summed in SQL, grouped by segment (``width_bucket`` on
   ``start``) and by model, service tier, context window (and workspace or account when
   grouping by it). Bucket rows never straddle a segment, so the sums are exact. The
   previous period (for the comparison) is read in the same queries, as its own segments.
3. Code execution: the allowance is per organisation and UTC calendar month and covers the
   month's earliest usage. The organisation's daily code-execution totals (all workspaces,
   whatever the filters) say which days are wholly free, wholly billed, or the one day in
   which the allowance runs out; that day is read by hour, and its crossing hour by minute
   and shared in time order (then by series id within a minute, which buckets cannot order
   further). Anthropic's 5-minute minimum per container cannot be applied: logs carry
   container time per request, not containers. The daily and hourly totals are the
   organisation's whatever the filters, so they read the base buckets; the crossing hour's
   minutes are read per series of the report's family (``usage.selectors.bucket_rows``),
   ordered by base series first, so each base series gets the same share either way.
4. Each segment's sums are priced with a ``costs.pricing.RateCard`` (one per model, tier,
   window and price period) into integer counts of 1e-12 USD per (period, group, counter),
   which add up exactly; lines, chart bars and totals are sums of those same cells. Code
   execution is rounded to 1e-12 USD once per cell and rate. Unpriced usage stays visible
   as tokens with no amount.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from operator import add, itemgetter
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce

from console import timeslice
from console.models import ApiKey, LlmModel, Workspace, account_label
from costs import cache
from costs.models import ModelPrice, ToolPrice
from costs.pricing import (
    CODE_EXECUTION,
    CODE_KIND,
    COST_TYPES,
    COUNT_FIELDS,
    TOKEN_TYPE_LABELS,
    TOKEN_TYPES,
    TOKENS,
    WEB_SEARCH,
    PriceBook,
    RateCard,
    allowance_ms,
    code_execution_free_ms,
    code_execution_pico,
    from_pico,
    month_start,
    split_free,
    token_rates_from,
    tool_rate_from,
)
from usage import kept
from usage.models import ModelDayBucket, ModelHourBucket, Series, ServiceTier
from usage.retention import minutes_dropped
from usage.selectors import (
    NO_ACCOUNT,
    Scope,
    _scope_sql,
    account_details,
    bucket_rows,
    bucket_source,
    by_account,
    usage_by_period,
)

ZERO = Decimal(0)
CLIENT_COST = "client_cost_nanos"  # read beside the priced counters, never priced
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)

GROUPS = {
    "model": "Model",
    "workspace": "Workspace",
    "cost_type": "Cost type",
    "token_type": "Token type",
    "service_tier": "Service tier",
    "account": "User",
}
_COST_TYPE_ORDER = {TOKENS: 0, WEB_SEARCH: 1, CODE_EXECUTION: 2}
_TOKEN_TYPE_ORDER = {t.api_name: i for i, t in enumerate(TOKEN_TYPES)}
_TIER_LABELS = dict(ServiceTier.choices)

FREE, BILLED, PARTIAL = "free", "billed", "partial"


def price_book(org) -> PriceBook:
    """The organisation's prices and the shipped defaults, as a PriceBook (2 queries)."""
    owners = Q(org__isnull=True) | Q(org=org)
    return PriceBook(
        [token_rates_from(r) for r in ModelPrice.objects.filter(owners)],
        [tool_rate_from(r) for r in ToolPrice.objects.filter(owners)],
    )


def price_catalogue(org) -> dict:
    """The catalogue as shown: {"models": [ModelPrice...], "tools": [ToolPrice...]}."""
    owners = Q(org__isnull=True) | Q(org=org)
    models = ModelPrice.objects.filter(owners).select_related("created_by")
    tools = ToolPrice.objects.filter(owners).select_related("created_by")
    return {
        "models": list(
            models.order_by(
                "model_pattern", "service_tier", "context_window", "-effective_from", "org_id"
            )
        ),
        "tools": list(tools.order_by("kind", "-effective_from", "org_id")),
    }


class LineKey(NamedTuple):
    """What a cost line of the report is: a Cost API line, per workspace or account when
    grouped so."""

    workspace: str
    description: str
    model: str
    cost_type: str
    token_type: str
    service_tier: str
    context_window: str
    unpriced: bool
    account_id: str = ""  # when grouped by account ("" for usage without one)
    account_name: str = ""

    def sort_key(self):
        return (
            self.workspace,
            self.account_name,
            self.account_id,
            self.model,
            _COST_TYPE_ORDER[self.cost_type],
            _TOKEN_TYPE_ORDER.get(self.token_type, 99),
            self.service_tier,
            self.context_window,
            self.unpriced,
        )


@dataclass
class LineTotal:
    key: LineKey
    quantity: int = 0
    free_quantity: int = 0
    amount: Decimal | None = ZERO

    @property
    def unit(self) -> str:
        return {TOKENS: "tokens", WEB_SEARCH: "searches", CODE_EXECUTION: "ms"}[self.key.cost_type]


@dataclass
class Totals:
    total: Decimal = ZERO
    tokens: Decimal = ZERO
    by_token_type: dict = field(default_factory=dict)  # Cost API token_type -> Decimal
    web_search: Decimal = ZERO
    code_execution: Decimal = ZERO
    code_execution_ms: int = 0
    code_execution_free_ms: int = 0
    unpriced_tokens: int = 0
    unpriced_models: dict = field(default_factory=dict)  # model id -> unpriced quantity

    def add(self, line: LineTotal) -> None:
        key = line.key
        if line.amount is None:
            if key.cost_type == TOKENS:
                self.unpriced_tokens += line.quantity
            self.unpriced_models[key.model] = self.unpriced_models.get(key.model, 0) + line.quantity
            return
        self.total += line.amount
        if key.cost_type == TOKENS:
            self.tokens += line.amount
            self.by_token_type[key.token_type] = (
                self.by_token_type.get(key.token_type, ZERO) + line.amount
            )
        elif key.cost_type == WEB_SEARCH:
            self.web_search += line.amount
        else:
            self.code_execution += line.amount
            self.code_execution_ms += line.quantity
            self.code_execution_free_ms += line.free_quantity

    @property
    def token_types(self) -> list[tuple[str, Decimal]]:
        """(label, amount) of each token type, in the Cost API's order."""
        return [
            (TOKEN_TYPE_LABELS[t.api_name], self.by_token_type.get(t.api_name, ZERO))
            for t in TOKEN_TYPES
        ]


@dataclass
class CostReport:
    """A Cost page: periods, the chart by group, cost lines, totals and comparisons."""

    level: str  # "month" (periods are days) or "day" (periods are hours)
    periods: list
    start: dt.datetime
    end: dt.datetime
    group: str
    groups: list[str]  # group labels, largest first
    chart: dict[str, list[Decimal]]  # group label -> amount per period
    _lines: list[LineTotal] | None  # (``lines``) None in a kept report until read
    totals: Totals
    previous_total: Decimal | None = None
    comparison: timeslice.Comparison | None = None  # what previous_total is the cost of
    future: list[bool] = field(default_factory=list)  # per period: not yet begun
    projection: Decimal | None = None
    priced: _Priced | None = None  # what the lines were added up from (for per_period)

    @property
    def client_estimate(self) -> Decimal | None:
        """What the clients themselves reported this usage cost (Claude Code's cost_usd,
        LiteLLM's response_cost), in USD; None when no request carried an estimate."""
        nanos = self.priced.client_nanos if self.priced is not None else 0
        return Decimal(nanos).scaleb(-9) if nanos else None

    @property
    def client_difference(self) -> Decimal | None:
        """Our total against the clients' estimate, as a fraction (None if either is 0)."""
        estimate = self.client_estimate
        if not estimate:
            return None
        return (self.totals.total - estimate) / estimate

    @property
    def change(self) -> Decimal | None:
        """Relative change against the previous period, as a fraction (None if undefined)."""
        if self.previous_total is None or self.previous_total == 0:
            return None
        return (self.totals.total - self.previous_total) / self.previous_total

    @cached_property
    def per_period(self) -> dict[tuple[int, LineKey], LineTotal]:
        """{(period index, line key): line} for every period and cost line (for the CSV):
        only in a report read with ``lines_per_period`` (``cost_report``)."""
        return self.priced.per_period() if self.priced else {}

    @cached_property
    def period_lines(self) -> list[tuple[int, LineTotal]]:
        """(period index, line) for every period and cost line, in order (for the CSV)."""
        ordered = sorted(self.per_period.items(), key=lambda kv: (kv[0][0], kv[0][1].sort_key()))
        return [(period, line) for (period, _key), line in ordered]

    @property
    def lines(self) -> list[LineTotal]:
        """The cost lines over the report's periods, in order. A kept report holds none (a
        month by user has tens of thousands, which the page never shows): they are added up
        again from the priced cells by dims when read."""
        if self._lines is None:
            found = self.priced.line_totals() if self.priced else {}
            self._lines = sorted(found.values(), key=lambda t: t.key.sort_key())
        return self._lines

    @property
    def has_data(self) -> bool:
        return bool(self._lines) if self._lines is not None else bool(self.priced.by_dims)

    def kept(self) -> CostReport:
        """This report as it is kept (``costs.cache``): without its cells, lines and
        labels, which the page does not read (a month by user: 17 MB, 3.4 s to load)."""
        self.priced.without_cells()
        self._lines = None
        return self

    @property
    def ranking(self) -> list[tuple[str, Decimal]]:
        """(group, priced cost over the view) largest first: people by cost when grouped by
        account."""
        return [(g, sum(self.chart[g], ZERO)) for g in self.groups]


def _utc_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def _hour_floor(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


class _CodeAllowance:
    """Which of the organisation's code execution the monthly free allowance covers.

    Read by UTC day first (allowances only change with a price, at 00:00 UTC): days wholly
    free or wholly billed stay days, and only the day in which the allowance runs out is
    read by hour (and its crossing hour by minute, in ``partial_free``).
    """

    def __init__(self, org, book: PriceBook, start: dt.datetime, end: dt.datetime):
        self.org = org

        def allowance_at(moment):
            return allowance_ms(book.tool_rate_for(CODE_EXECUTION, moment.date()))

        daily = (
            ModelDayBucket.objects.filter(
                org=org, start__gte=month_start(start), start__lt=end, code_execution_ms__gt=0
            )
            .values("start")
            .annotate(ms=Sum("code_execution_ms"))
            .order_by("start")
        )
        units = {}  # start -> (end, ms): whole days, or the hours of a crossing day
        used: dict[dt.datetime, int] = {}
        crossing = Q()
        for row in daily:
            day, ms = row["start"], row["ms"]
            month = month_start(day)
            before, allowance = used.get(month, 0), allowance_at(day)
            used[month] = before + ms
            if before < allowance < before + ms:
                crossing |= Q(start__gte=day, start__lt=day + DAY)
            else:
                units[day] = (day + DAY, ms)
        if crossing:
            hourly = (
                ModelHourBucket.objects.filter(crossing, org=org, code_execution_ms__gt=0)
                .values("start")
                .annotate(ms=Sum("code_execution_ms"))
                .order_by("start")
            )
            units.update({row["start"]: (row["start"] + HOUR, row["ms"]) for row in hourly})
        self.starts = sorted(units)
        self.units = units
        # A unit's start stands for the whole unit: only the order within a month matters.
        self.free = code_execution_free_ms(((u, units[u][1]) for u in self.starts), allowance_at)

    def state(self, unit: dt.datetime) -> str:
        free = self.free.get(unit, 0)
        if free == 0:
            return BILLED
        return FREE if free >= self.units[unit][1] else PARTIAL

    def boundaries(self, start: dt.datetime, end: dt.datetime) -> set[dt.datetime]:
        """Instants in (start, end) where the free state of used time changes."""
        cuts = set()
        previous = None
        for unit in (u for u in self.starts if u < end and self.units[u][0] > start):
            state = self.state(unit)
            if state == PARTIAL:
                cuts.update((unit, self.units[unit][0]))
            elif previous is not None and state != previous:
                cuts.add(unit)
            previous = state
        return {c for c in cuts if start < c < end}

    def segment_state(self, seg_start: dt.datetime, seg_end: dt.datetime) -> str:
        """The state of the used time a segment overlaps (all alike, by ``boundaries``)."""
        i = bisect.bisect_left(self.starts, seg_end) - 1
        if i >= 0 and self.units[self.starts[i]][0] > seg_start:
            return self.state(self.starts[i])
        return BILLED

    @staticmethod
    def _unit(hour: dt.datetime, accounts: bool) -> str:
        """The level an hour's usage is shared at: minutes, or, once its minute buckets are
        dropped (MINUTE_RETENTION_DAYS), quarter hours: the same free total, cut where every
        segment edge of today's zones falls. Raw rows (a report by account) keep minutes."""
        return "quarter" if minutes_dropped(hour, accounts) else "minute"

    def partial_free(
        self, hour: dt.datetime, accounts: bool, scope: Scope, fields: list[str]
    ) -> list[tuple[dt.datetime, tuple, int]]:
        """(minute, dims, free ms) of ``scope``'s usage within the hour where the allowance
        runs out, dims being the Series ``fields``; shared by series as logged when
        ``accounts`` (a report by account), else by base series.

        Shared and added up in SQL (a running sum in time order), so one query returns a
        row per minute and dims, where the series' minutes were read, shared one by one and
        their dims looked up in a second query; how many there are grows with the data (14
        with code execution in the bench's crossing hour at 2 million requests).
        """
        if connection.vendor != "postgresql":
            return self._partial_free_in_python(hour, accounts, scope, fields)
        source = bucket_source(self._unit(hour, accounts), accounts, self.org.id)
        series = Series._meta.db_table
        terms, scope_params = _scope_sql(scope, alias="o")
        dims = ", ".join(f"o.{f}" for f in fields)
        free = self.free[hour]
        # Within a minute, by base series and then by series: the free time each base series
        # gets is the same in both families, only shared further among its accounts.
        sql = f"""
WITH m AS (
    SELECT {source.minute} AS minute, b.series_id, SUM(b.code_execution_ms) AS ms
    FROM {source.sql}
    WHERE b.org_id = %s AND b.start >= %s AND b.start < %s AND b.code_execution_ms > 0
    GROUP BY 1, 2
), o AS (
    SELECT m.minute, m.ms, s.model_id, s.service_tier, s.context_window, s.workspace_id,
           s.account_id, s.api_key_id,
           SUM(m.ms) OVER (
               ORDER BY m.minute, COALESCE(s.base_id, s.id), s.id ROWS UNBOUNDED PRECEDING
           ) - m.ms AS before
    FROM m JOIN {series} s ON s.id = m.series_id
)
SELECT o.minute, {dims}, CAST(SUM(LEAST(o.ms, %s - o.before)) AS BIGINT)
FROM o WHERE {" AND ".join(["o.before < %s", *terms])}
GROUP BY o.minute, {dims}
"""
        params = [*source.params, self.org.id, hour, hour + HOUR, free, free, *scope_params]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [(row[0], tuple(row[1:-1]), row[-1]) for row in cursor.fetchall()]

    def _partial_free_in_python(self, hour, accounts, scope, fields):
        """``partial_free`` read by series and shared here (databases other than PostgreSQL)."""
        unit = self._unit(hour, accounts)
        minutes = (
            bucket_rows(unit, accounts, self.org.id, hour, hour + HOUR)
            .filter(code_execution_ms__gt=0)
            .values("start", "series_id")
            .annotate(ms=Sum("code_execution_ms"))
            .order_by("start", Coalesce("series__base_id", "series_id"), "series_id")
            .values_list("start", "series_id", "ms")
        )
        shares = split_free(self.free[hour], [((m, s), ms) for m, s, ms in minutes])
        series = Series.objects.filter(org_id=scope.org_id, id__in={sid for _m, sid in shares})
        if scope.workspace_id is not None:
            series = series.filter(workspace_id=scope.workspace_id)
        if scope.model_id is not None:
            series = series.filter(model_id=scope.model_id)
        if scope.account_ids is not None:
            series = series.filter(account_id__in=scope.account_ids)
        dims = {s["id"]: tuple(s[f] for f in fields) for s in series.values("id", *fields)}
        return [(m, dims[sid], ms) for (m, sid), ms in shares.items() if sid in dims]


def _segments(bounds: list[dt.datetime], extra: set[dt.datetime]) -> list[dt.datetime]:
    return sorted(set(bounds) | {c for c in extra if bounds[0] < c < bounds[-1]})


@dataclass(frozen=True)
class _Span:
    start: dt.datetime
    end: dt.datetime


_GROUP_BY = ("model", "service_tier", "context_window")
# A cell is a flat list of integers, four per counter of COUNT_FIELDS (at counter * 4 +):
# priced quantity, unpriced quantity, amount of the priced quantity in 1e-12 USD, and
# code-execution milliseconds covered by the allowance.
_QTY, _UNPRICED, _PICO, _FREE = range(4)
_SLOTS = 4
_WIDTH = _SLOTS * len(COUNT_FIELDS)
_KINDS = [(TOKENS, t.api_name, t.label) for t in TOKEN_TYPES] + [
    (WEB_SEARCH, "", "Web Search Usage"),
    (CODE_EXECUTION, "", "Code Execution Usage"),
]
_PREVIOUS = -1  # the period index of usage in the comparison period
CODE_FIELD = COUNT_FIELDS[CODE_KIND]


class _Labels(NamedTuple):
    keys: list[tuple[LineKey, LineKey]]  # per counter: (priced, unpriced) line key
    groups: list[str]  # per counter: the chart group


class _Priced:
    """Usage priced per cell, a (period, (model pk, tier, window[, workspace or account pk]))
    pair.

    Each cell holds, per counter of COUNT_FIELDS, the four slots above. Amounts are integers
    until they are shown, so adding them up is exact and cheap; every line, chart bar and
    total is a sum of the same cell amounts, so they agree to the last digit.
    """

    def __init__(
        self,
        group: str,
        models: dict,
        workspaces: dict,
        accounts: dict,
        api_keys: dict | None = None,
    ):
        self.group = group
        self.models = models  # pk -> {"model_id", "display_name"}
        self.workspaces = workspaces  # pk -> name (when grouping by workspace)
        self.accounts = accounts  # pk or None -> (external id, name) (grouping by account)
        self.api_keys = api_keys or {}  # pk -> name (grouping by API key, for chargeback)
        self.cells: dict[tuple[int, tuple], list[int]] = {}
        self.client_nanos = 0  # the clients' own estimate over the report's periods (1e-9 USD)
        self._labels: dict[tuple, _Labels] = {}

    def groups(self, dims: tuple) -> list[str]:
        """The chart group of each of a cell's counters: grouped by user, the person's label
        for all, without the line keys ``labels`` builds (a thousand people: 9,782 dims)."""
        if self.group == "account" and dims not in self._labels:
            account_id, account_name = self.accounts[dims[3]]
            return [account_label(account_id, account_name) or NO_ACCOUNT] * len(_KINDS)
        return self.labels(dims).groups

    def labels(self, dims: tuple) -> _Labels:
        """The line keys and chart groups of a cell's counters (built once per dims)."""
        found = self._labels.get(dims)
        if found is None:
            model_pk, tier, window = dims[:3]
            model = self.models[model_pk]
            name = model["display_name"]
            workspace = self.workspaces.get(dims[3], "") if self.group == "workspace" else ""
            account_id, account_name = (
                self.accounts[dims[3]] if self.group == "account" else ("", "")
            )
            keys, groups = [], []
            for cost_type, token_type, label in _KINDS:
                description = f"{name} Usage - {label}" if cost_type == TOKENS else label
                # Both keys built outright: NamedTuple._replace costs several times as much,
                # and a month by user builds over 100,000 of them.
                line = (workspace, description, model["model_id"], cost_type, token_type, tier,
                        window)  # fmt: skip
                keys.append(
                    (
                        LineKey(*line, False, account_id, account_name),
                        LineKey(*line, True, account_id, account_name),
                    )
                )
                if self.group == "model":
                    groups.append(name)
                elif self.group == "workspace":
                    groups.append(workspace)
                elif self.group == "account":
                    groups.append(account_label(account_id, account_name) or NO_ACCOUNT)
                elif self.group == "api_key":
                    groups.append(self.api_keys.get(dims[3], "No API key"))
                elif self.group == "cost_type":
                    groups.append(COST_TYPES[cost_type])
                elif self.group == "token_type":
                    groups.append(TOKEN_TYPE_LABELS.get(token_type) or COST_TYPES[cost_type])
                else:
                    groups.append(_TIER_LABELS.get(tier, tier))
            found = self._labels[dims] = _Labels(keys, groups)
        return found

    @cached_property
    def by_dims(self) -> dict[tuple, list[int]]:
        """{dims: cell} added up over the report's periods (the comparison period left out)."""
        out: dict[tuple, list[int]] = {}
        for (p, dims), cell in self.cells.items():
            if p == _PREVIOUS:
                continue
            acc = out.get(dims)
            out[dims] = cell[:] if acc is None else list(map(add, acc, cell))
        return out

    def lines_and_chart(self, periods: int) -> tuple[dict, dict[str, list[Decimal]]]:
        """({line key: LineTotal} over the report's periods, {chart group: amount per period}
        of the priced usage)."""
        bars: dict[str, list[int]] = {}
        labels = self.labels
        for (p, dims), cell in self.cells.items():
            if p == _PREVIOUS:
                continue
            groups = labels(dims).groups
            for at in range(0, _WIDTH, _SLOTS):
                if cell[at + _QTY]:
                    group = groups[at // _SLOTS]
                    bar = bars.get(group)
                    if bar is None:
                        bar = bars[group] = [0] * periods
                    bar[p] += cell[at + _PICO]
        chart = {label: [from_pico(v) for v in values] for label, values in bars.items()}
        return self.line_totals(), chart

    def line_totals(self) -> dict[LineKey, LineTotal]:
        """{line key: LineTotal} over the report's periods."""
        lines = self._totals((None, dims, acc) for dims, acc in self.by_dims.items())
        return {key: line for (_p, key), line in lines.items()}

    def breakdown(self) -> dict[str, dict[tuple, list[int]]]:
        """{chart group: {dims: [1e-12 USD, unpriced quantity] per counter, flattened}} over
        the report's periods: the Cost page's breakdown, from the cells lines and bars add."""
        out: dict[str, dict[tuple, list[int]]] = {}
        for dims, cell in self.by_dims.items():
            groups = self.groups(dims)
            for counter in range(len(COUNT_FIELDS)):
                at = counter * _SLOTS
                if cell[at + _QTY] or cell[at + _UNPRICED]:
                    by_dims = out.setdefault(groups[counter], {})
                    acc = by_dims.get(dims)
                    if acc is None:
                        acc = by_dims[dims] = [0] * (2 * len(COUNT_FIELDS))
                    acc[2 * counter] += cell[at + _PICO]
                    acc[2 * counter + 1] += cell[at + _UNPRICED]
        return out

    def priced_parts(self) -> Iterator[tuple[int, tuple, LineKey, int]]:
        """``(period, dims, line key, amount in 1e-12 USD)`` for each counter of each cell
        with priced usage in the report's periods: for readers that add the same amounts up
        their own way (the Admin API's cost report)."""
        for (p, dims), cell in self.cells.items():
            if p < 0:
                continue
            keys = self.labels(dims).keys
            for counter in range(len(COUNT_FIELDS)):
                at = counter * _SLOTS
                if cell[at + _QTY]:
                    yield p, dims, keys[counter][0], cell[at + _PICO]

    def without_cells(self) -> _Priced:
        """This, keeping only what the page shows (lines by dims, labels, the clients'
        estimate): a month by workspace holds 5,000 cells, which a kept report does not need."""
        self.by_dims  # noqa: B018 - computed while the cells are here
        self.cells = None
        self._labels = {}  # rebuilt for the dims a reader asks about
        return self

    def per_period(self) -> dict[tuple[int, LineKey], LineTotal]:
        """{(period, line key): LineTotal} for every period and cost line."""
        if self.cells is None:
            raise ValueError("A kept report has no cells: read it with lines_per_period.")
        return self._totals((p, dims, cell) for (p, dims), cell in self.cells.items() if p >= 0)

    def _totals(self, cells) -> dict[tuple, LineTotal]:
        """Cells of (period or None, dims, counters) added up into lines by (period, key).

        Two dims can share a line key (workspaces of one name), so this adds, not assigns.
        """
        sums: dict[tuple, list[int]] = {}
        for p, dims, cell in cells:
            keys = self.labels(dims).keys
            for counter in range(len(COUNT_FIELDS)):
                qty, unpriced, pico, free = cell[counter * _SLOTS : (counter + 1) * _SLOTS]
                if qty:
                    acc = sums.get((p, keys[counter][0]))
                    if acc is None:
                        acc = sums[(p, keys[counter][0])] = [0, 0, 0]
                    acc[0] += qty
                    acc[1] += free
                    acc[2] += pico
                if unpriced:
                    acc = sums.get((p, keys[counter][1]))
                    if acc is None:
                        acc = sums[(p, keys[counter][1])] = [0, 0, 0]
                    acc[0] += unpriced
        return {
            (p, key): LineTotal(
                key,
                quantity=qty,
                free_quantity=free,
                amount=None if key.unpriced else from_pico(pico),
            )
            for (p, key), (qty, free, pico) in sums.items()
        }

    def previous_total(self) -> Decimal:
        return from_pico(
            sum(
                cell[at + _PICO]
                for (p, _dims), cell in self.cells.items()
                if p == _PREVIOUS
                for at in range(0, _WIDTH, _SLOTS)
            )
        )


def _free_by_key(allowance, edges, states, scope: Scope, fields: list[str], accounts: bool) -> dict:
    """{(segment, dims): free ms} for the segments in which the allowance runs out."""
    free_by_key: dict[tuple, int] = defaultdict(int)
    hours = {_hour_floor(edges[i]) for i, state in enumerate(states) if state == PARTIAL}
    for hour in sorted(hours):
        for minute, dims, ms in allowance.partial_free(hour, accounts, scope, fields):
            i = bisect.bisect_right(edges, minute) - 1
            if 0 <= i < len(states) and states[i] == PARTIAL:
                free_by_key[(i, dims)] += ms
    return free_by_key


def _read(scope: Scope, spans, group_by, period_of, days) -> list[dict] | None:
    """Grouped by account, the usage of ``spans`` read in two parts, or None where one read
    is as cheap: segments cut only where the code-execution allowance changes state (in the
    day it runs out) are raw rows for accounts, which have no hour buckets, and only code
    execution is priced differently on either side of such a cut. So every counter but code
    execution is read over the segments joined again (whole days: account day buckets), and
    code execution alone over every segment, from rows that have some (an index of their
    own). Rows come back as one read's, indexed by ``spans``."""
    joined = [0] + [
        k
        for k in range(1, len(spans))
        if period_of[k] != period_of[k - 1] or days[k] != days[k - 1]
    ]
    if len(joined) == len(spans):
        return None
    whole = [
        _Span(spans[k].start, spans[joined[n + 1]].start if n + 1 < len(joined) else spans[-1].end)
        for n, k in enumerate(joined)
    ]
    others = [f for f in COUNT_FIELDS if f != CODE_FIELD]
    rows = usage_by_period(scope, whole, group_by, columns=(*others, CLIENT_COST))
    for row in rows:
        row["period"] = joined[row["period"]]  # its first segment: same period and prices
        row[CODE_FIELD] = 0
    code = usage_by_period(scope, spans, group_by, columns=(CODE_FIELD,), positive=CODE_FIELD)
    for row in code:
        row.update(dict.fromkeys(others, 0), **{CLIENT_COST: 0})
    return rows + code


def _price(org, book, allowance, edges, period_of, scope: Scope, group) -> _Priced:
    """The usage of each segment ``[edges[i], edges[i+1])`` priced into the cells of
    period ``period_of[i]`` (None: not wanted), from one read of the buckets."""
    extra = group if group in ("workspace", "account", "api_key") else None
    group_by = _GROUP_BY + ((extra,) if extra else ())
    spans = [_Span(a, b) for a, b in zip(edges, edges[1:], strict=False)]
    # Prices only change on their dates, so a segment is priced as of the latest one before
    # it: one RateCard per model, tier, window and price period, not per day.
    days = [book.price_date(edge.astimezone(dt.UTC).date()) for edge in edges[:-1]]
    raw_hours = by_account(scope, group_by)  # (accounts have day buckets, no hours)
    rows = _read(scope, spans, group_by, period_of, days) if raw_hours else None
    if rows is None:
        rows = usage_by_period(scope, spans, group_by, columns=(*COUNT_FIELDS, CLIENT_COST))
    models = {
        m["id"]: m
        for m in LlmModel.objects.filter(id__in={r["group"][0] for r in rows}).values(
            "id", "model_id", "display_name"
        )
    }
    workspaces = {}
    if group == "workspace":
        workspaces = dict(Workspace.objects.filter(org=org).values_list("id", "name"))
    accounts = {}
    if group == "account":
        accounts = account_details(org.id, {r["group"][3] for r in rows})
    api_keys = {}
    if group == "api_key":
        # Named as the Usage page names them: a name is not unique, its id is.
        keys = ApiKey.objects.filter(org=org).values_list("id", "name", "external_id")
        api_keys = {pk: f"{name} ({external_id})" for pk, name, external_id in keys}
    priced = _Priced(group, models, workspaces, accounts, api_keys)

    states = [allowance.segment_state(span.start, span.end) for span in spans]
    fields = ["model_id", "service_tier", "context_window", *([f"{extra}_id"] if extra else [])]
    free_by_key = _free_by_key(allowance, edges, states, scope, fields, raw_hours)

    cells = priced.cells
    cards: dict[tuple, RateCard] = {}
    code_billable: dict[tuple, int] = defaultdict(int)  # (cell, rate) -> billable ms
    code_at = CODE_KIND * _SLOTS
    quantities = itemgetter(*COUNT_FIELDS)
    client_nanos = 0
    # Once per row and counter (a month by workspace: 5,000 rows): locals, zip, no lookups
    # by name, as this loop is most of the page's own time.
    for row in rows:
        i = row["period"]
        p = period_of[i]
        if p is None:
            continue
        dims = row["group"]
        if p >= 0:
            client_nanos += row[CLIENT_COST]
        card_key = (dims[0], dims[1], dims[2], days[i])
        card = cards.get(card_key)
        if card is None:
            model_id = models[dims[0]]["model_id"]
            card = cards[card_key] = RateCard.of(book, model_id, dims[1], dims[2], days[i])
        cell_key = (p, dims)
        cell = cells.get(cell_key)
        if cell is None:
            cell = cells[cell_key] = [0] * _WIDTH
        at = 0
        for quantity, rate in zip(quantities(row), card.per_unit, strict=True):
            if not quantity:
                pass
            elif rate is None:
                cell[at + _UNPRICED] += quantity
            elif at == code_at:
                state = states[i]
                if state == FREE:
                    free = quantity
                elif state == PARTIAL:
                    free = min(free_by_key.get((i, dims), 0), quantity)
                else:
                    free = 0
                cell[at + _QTY] += quantity
                cell[at + _FREE] += free
                # Rounded once per cell and rate, not per bucket or segment.
                code_billable[(cell_key, rate)] += quantity - free
            else:
                cell[at + _QTY] += quantity
                cell[at + _PICO] += (
                    quantity * rate if type(rate) is int else card.pico(at // _SLOTS, quantity)
                )
            at += _SLOTS
    priced.client_nanos += client_nanos
    for (cell_key, rate), billable in code_billable.items():
        cells[cell_key][code_at + _PICO] += code_execution_pico(billable, rate)
    return priced


def _scope(org, workspace, model, account_ids) -> Scope:
    return Scope(
        org_id=org.id,
        workspace_id=workspace.pk if workspace is not None else None,
        model_id=model.pk if model is not None else None,
        account_ids=account_ids,
    )


def _cuts(book: PriceBook, allowance: _CodeAllowance, start, end) -> set[dt.datetime]:
    cuts = {_utc_midnight(d) for d in book.change_dates()}
    return {c for c in cuts if start < c < end} | allowance.boundaries(start, end)


def price_periods(org, bounds: list[dt.datetime], scope: Scope, group: str) -> _Priced:
    """The usage of ``scope`` between consecutive UTC ``bounds``, priced as the Cost page
    prices it: cut where a price or the code-execution allowance changes, each cell carrying
    the index of its period. For readers other than the Cost page (the Admin API's cost
    report, spend limits), which price other spans and scopes the same way."""
    book = price_book(org)
    start, end = bounds[0], bounds[-1]
    allowance = _CodeAllowance(org, book, start, end)
    edges = _segments(bounds, _cuts(book, allowance, start, end))
    period_of = [bisect.bisect_right(bounds, edge) - 1 for edge in edges[:-1]]
    return _price(org, book, allowance, edges, period_of, scope, group)


def scope_of(org, data: dict) -> Scope:
    """The usage a valid CostFilterForm's ``cleaned_data`` selects (for readers that price it
    their own way, such as the FOCUS export)."""
    account_ids = (data["account"].pk,) if data["account"] else None
    return _scope(org, data["workspace"], data["model"], account_ids)


def cost_report_of(
    org, data: dict, now: dt.datetime, group: str | None = None, lines_per_period: bool = False
) -> CostReport:
    """The cost report of a valid CostFilterForm's ``cleaned_data``, as of ``now``, grouped
    as the form says or by ``group``: the page, its CSV and its Excel workbook read this."""
    return cost_report(
        org,
        zone=data["zone"],
        year=data["month"][0],
        month=data["month"][1],
        day=data["day"],
        workspace=data["workspace"],
        model=data["model"],
        account_ids=(data["account"].pk,) if data["account"] else None,
        group=group or data["group_by"],
        now=now,
        lines_per_period=lines_per_period,
    )


def cost_report(
    org,
    *,
    zone: ZoneInfo,
    year: int,
    month: int,
    day: dt.date | None = None,
    workspace=None,
    model=None,
    account_ids: tuple[int, ...] | None = None,
    group: str = "model",
    now: dt.datetime | None = None,
    lines_per_period: bool = False,
) -> CostReport:
    """The cost of a local month by day (or of a local day by hour), priced at read time.

    ``account_ids`` narrows to those accounts (the filter's one, or a member's own). A
    report of a period that is over is kept (``costs.cache``) without its cells;
    ``lines_per_period`` (the CSV's lines of each day) reads one afresh with them.
    """
    if day is None:
        level, periods = "month", timeslice.days_of_month(year, month, zone)
    else:
        level, periods = "day", timeslice.hours_of_day(day, zone)
    now = now or dt.datetime.now(dt.UTC)
    # Compared as the Usage page compares: a running month with the same span of the last.
    compared = timeslice.comparison(level, periods, zone, now)
    prev_start, prev_end = compared.start, compared.end
    start, end = periods[0].start, periods[-1].end
    book = price_book(org)
    scope = _scope(org, workspace, model, account_ids)
    if lines_per_period:
        return _cost_report(org, book, level, periods, compared, now, scope, group)
    key = None
    if end <= now:  # a period that is over: kept while its buckets, prices and names are
        query = (zone.key, level, start, end, prev_start, prev_end,
                 workspace.pk if workspace is not None else None,
                 model.pk if model is not None else None, account_ids)  # fmt: skip
        key = cache.cost_report_key(org.id, query, group, book, (prev_start, end))
    return kept.kept(
        key,
        lambda: _cost_report(org, book, level, periods, compared, now, scope, group, slim=True),
    )


def _cost_report(
    org,
    book,
    level,
    periods,
    compared: timeslice.Comparison,
    now,
    scope: Scope,
    group,
    slim: bool = False,
) -> CostReport:
    prev_start, prev_end = compared.start, compared.end
    start, end = periods[0].start, periods[-1].end
    allowance = _CodeAllowance(org, book, prev_start, end)

    # The previous period and this one are read together (they meet at ``start``), cut
    # into segments within which prices and the allowance state do not change.
    bounds = [p.start for p in periods] + [end]
    edges = _segments(bounds, _cuts(book, allowance, start, end))
    before = _segments([prev_start, prev_end], _cuts(book, allowance, prev_start, prev_end))
    period_of = [bisect.bisect_right(bounds, a) - 1 for a in edges[:-1]]
    if prev_end != start:  # a running view is compared with part of the one before
        before, gap = before + [start], [None]
    else:
        gap = []
    all_edges = before[:-1] + edges
    all_period_of = [_PREVIOUS] * (len(before) - 1 - len(gap)) + gap + period_of
    priced = _price(
        org,
        book,
        allowance,
        all_edges,
        all_period_of,
        scope,
        group,
    )

    line_totals, chart = priced.lines_and_chart(len(periods))
    lines = sorted(line_totals.values(), key=lambda t: t.key.sort_key())
    totals = Totals()
    for line in lines:
        totals.add(line)

    projection = None
    if level == "month" and start <= now < end:
        elapsed = Decimal(int((now - start).total_seconds()))
        length = Decimal(int((end - start).total_seconds()))
        if elapsed > 0:
            projection = totals.total * length / elapsed

    report = CostReport(
        level=level,
        periods=periods,
        start=start,
        end=end,
        group=group,
        groups=sorted(chart, key=lambda g: (-sum(chart[g]), g)),
        chart=chart,
        _lines=lines,
        totals=totals,
        previous_total=priced.previous_total(),
        comparison=compared,
        future=[timeslice.is_future(p, now) for p in periods],
        projection=projection,
        priced=priced,
    )
    return report.kept() if slim else report
