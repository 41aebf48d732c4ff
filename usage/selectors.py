"""Reads for the Usage page (and the Cost page): exact sums over local periods.

Local periods are read as whole UTC days, whole UTC hours and edge quarter hours (and
minutes only for the minute drill and a comparison cut at the current minute:
``console.timeslice.plan``), in one query whatever the number of rows, keys, models or
days. Which tables a piece is read from is decided in one place, ``bucket_source`` (SQL)
and ``bucket_rows`` (ORM), for every reader of usage (the Cost page, the Admin API, the
settings pages, spend limits):

* a read that neither filters nor groups by API key or account (``reads_model_buckets``)
  reads quarter hours, hours and days from the model buckets (by workspace, model, tier and
  window: a tenth of the rows of the series buckets, and no join) and minutes, if any, from
  the minute buckets of base series;
* any other read that neither filters nor groups by account (``by_account``) reads the
  minute, quarter-hour, hour and day buckets of base series, whose size does not grow
  with the number of accounts;
* a read that does reads UTC days from the account day buckets and anything finer from
  the raw logs of rolled-up batches (not of batches still pending, so the two parts of one
  read never disagree while a rollup is pending; in one statement, so in one snapshot).
  Raw logs are kept ``RAW_RETENTION_DAYS``; older account figures finer than a UTC day
  are gone with them, while day figures stay.

The list of rate-limited requests reads raw rows whatever the scope (it needs the requests
themselves).
"""

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

from django.core.paginator import Paginator
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Trunc
from django.utils import timezone

from console import timeslice
from console.models import Account, ApiKey, LlmModel, Workspace
from usage import kept
from usage.models import (
    AccountDayBucket,
    DayBucket,
    HourBucket,
    IngestBatch,
    MinuteBucket,
    ModelDayBucket,
    ModelHourBucket,
    ModelQuarterHourBucket,
    QuarterHourBucket,
    RateLimit,
    RequestLog,
    Series,
)
from usage.retention import minutes_dropped
from usage.rollups import BUCKET_COLUMNS, COUNT_COLUMNS, raw_retention_horizon, truncate_sql

BUCKETS = {
    "minute": MinuteBucket,
    "quarter": QuarterHourBucket,
    "hour": HourBucket,
    "day": DayBucket,
}
# The same usage without API key and account, for reads that need neither (all but minutes).
MODEL_BUCKETS = {
    "quarter": ModelQuarterHourBucket,
    "hour": ModelHourBucket,
    "day": ModelDayBucket,
}
MODEL_BUCKET_DIMENSIONS = frozenset({"model", "workspace", "service_tier", "context_window"})
NO_ACCOUNT = "No account"
# What a request count says for a selection with usage imported from an upstream.
REQUESTS_NOT_KNOWN = "request count not known for imported usage"

# Group-by dimension -> the Series field it reads.
DIMENSIONS = {
    "model": "series__model_id",
    "api_key": "series__api_key_id",
    "workspace": "series__workspace_id",
    "service_tier": "series__service_tier",
    "context_window": "series__context_window",
    "account": "series__account_id",
}


class Span(Protocol):
    start: dt.datetime
    end: dt.datetime


def org_models(org_id: int):
    """The models one organisation may see: those it has usage or a rate limit for.

    The model table is shared by every organisation, so every list, choice and lookup of
    models in a page goes through this: another organisation's model must read exactly
    like an id nobody ever sent.
    """
    # EXISTS per model (a few index probes), not IN over every series of the organisation:
    # with 1,000 accounts it has hundreds of thousands, and the OR kept the planner from
    # making the IN a semi-join, so each page hashed them all (27-110 ms at 2 million).
    used = Series.objects.filter(org_id=org_id, model_id=OuterRef("pk"))
    limited = RateLimit.objects.filter(org_id=org_id, model_id=OuterRef("pk"))
    return LlmModel.objects.filter(Exists(used) | Exists(limited))


@dataclass(frozen=True)
class Scope:
    """Which usage to count: one organisation, optionally narrowed (None means all)."""

    org_id: int
    workspace_id: int | None = None
    api_key_id: int | None = None
    no_key: bool = False  # only usage sent without an API key
    model_id: int | None = None
    # Only the usage of these accounts (the filter's one, or a member's own on My usage).
    account_ids: tuple[int, ...] | None = None

    def q(self, prefix: str = "") -> Q:
        """The filter on a table with ``org_id`` and ``series`` (bucket or raw log)."""
        q = Q(**{f"{prefix}org_id": self.org_id})
        if self.workspace_id is not None:
            q &= Q(**{f"{prefix}series__workspace_id": self.workspace_id})
        if self.no_key:
            q &= Q(**{f"{prefix}series__api_key__isnull": True})
        elif self.api_key_id is not None:
            q &= Q(**{f"{prefix}series__api_key_id": self.api_key_id})
        if self.model_id is not None:
            q &= Q(**{f"{prefix}series__model_id": self.model_id})
        if self.account_ids is not None:
            q &= Q(**{f"{prefix}series__account_id__in": self.account_ids})
        return q


@dataclass(frozen=True)
class _Whole:
    start: dt.datetime
    end: dt.datetime


_SERIES_COLUMNS = {
    "model": "model_id",
    "api_key": "api_key_id",
    "workspace": "workspace_id",
    "service_tier": "service_tier",
    "context_window": "context_window",
    "account": "account_id",
}


def _scope_sql(scope: Scope, alias: str = "s") -> tuple[list[str], list]:
    """WHERE terms on ``alias`` (the series, or a model bucket table, which has the series'
    columns but the key and the account) for the scope's narrowing filters."""
    terms, params = [], []
    if scope.workspace_id is not None:
        terms.append(f"{alias}.workspace_id = %s")
        params.append(scope.workspace_id)
    if scope.no_key:
        terms.append(f"{alias}.api_key_id IS NULL")
    elif scope.api_key_id is not None:
        terms.append(f"{alias}.api_key_id = %s")
        params.append(scope.api_key_id)
    if scope.model_id is not None:
        terms.append(f"{alias}.model_id = %s")
        params.append(scope.model_id)
    if scope.account_ids is not None:
        if scope.account_ids:
            ids = ", ".join(["%s"] * len(scope.account_ids))
            terms.append(f"{alias}.account_id IN ({ids})")
            params.extend(scope.account_ids)
        else:
            terms.append("1 = 0")  # nobody's usage
    return terms, params


def by_account(scope: Scope, group_by: Sequence[str] = ()) -> bool:
    """Whether a read filters or groups by account, so needs the account family."""
    return scope.account_ids is not None or "account" in group_by


@dataclass(frozen=True)
class Source:
    """Where one bucket level is read from: ``sql`` is a FROM item aliased ``b`` with the
    columns org_id, series_id, start and BUCKET_COLUMNS (``params`` its parameters), and
    ``minute`` the SQL of the UTC minute holding ``b.start``."""

    sql: str
    params: list
    minute: str
    raw: bool = False  # raw rows, not buckets
    by_series: bool = True  # keyed by series (joined to Series for dimensions), or by model


def _pending_batches_sql(org_id: int) -> tuple[str, list]:
    """A WHERE term on raw rows ``r`` leaving out the batches not yet rolled up (by the
    partial index ``batch_pending_rollup``, a handful of rows)."""
    pending = (
        f"SELECT id FROM {IngestBatch._meta.db_table} WHERE org_id = %s AND rolled_up_at IS NULL"
    )
    if connection.vendor == "postgresql":
        # An array, so the check per raw row is a scan of a few ids, not a subplan.
        return f"r.batch_id <> ALL(ARRAY({pending}))", [org_id]
    return f"r.batch_id NOT IN ({pending})", [org_id]


def bucket_source(unit: str, accounts: bool, org_id: int, by_model: bool = False) -> Source:
    """The table (or raw-row subquery) that sums of ``unit`` (a ``timeslice.UNITS``) are
    read from, for a read of ``org_id`` that is ``by_account`` or not, and that
    ``reads_model_buckets`` or not (``by_model``; then ``by_series`` is False for hours and
    days: the table has workspace_id, model_id, service_tier and context_window instead of a
    series_id)."""
    if by_model and unit in MODEL_BUCKETS:
        return Source(MODEL_BUCKETS[unit]._meta.db_table + " b", [], "b.start", by_series=False)
    if not accounts:
        return Source(BUCKETS[unit]._meta.db_table + " b", [], "b.start")
    if unit == "day":
        return Source(AccountDayBucket._meta.db_table + " b", [], "b.start")
    # Raw rows, shaped as buckets of one request each. The outer query's bounds on b.start
    # reach the (org, timestamp) index through the subquery, which PostgreSQL inlines.
    status = {
        "requests": "CASE WHEN r.requests_known THEN 1 ELSE 0 END",
        "uncounted_rows": "CASE WHEN r.requests_known THEN 0 ELSE 1 END",
        "rate_limited_requests": "CASE WHEN r.status_code = 429 THEN 1 ELSE 0 END",
        **{
            f"rate_limited_by_{kind}": (
                f"CASE WHEN r.status_code = 429 AND r.rate_limit_type = '{kind}' THEN 1 ELSE 0 END"
            )
            for kind in ("requests", "input_tokens", "output_tokens")
        },
    }
    columns = ", ".join(
        [f"{status[c]} AS {c}" for c in status] + [f"r.{c} AS {c}" for c in COUNT_COLUMNS]
    )
    pending, params = _pending_batches_sql(org_id)
    sql = (
        f"(SELECT r.org_id AS org_id, r.series_id AS series_id, r.timestamp AS start, "
        f"{columns} FROM {RequestLog._meta.db_table} r "
        f"WHERE r.org_id = %s AND {pending}) b"
    )
    # Django's connection to PostgreSQL runs in UTC, so date_trunc truncates in UTC.
    return Source(sql, [org_id, *params], truncate_sql("b.start", "minute"), raw=True)


def bucket_rows(
    unit: str, accounts: bool, org_id: int, start: dt.datetime, end: dt.datetime
) -> QuerySet:
    """The rows holding the sums of ``unit`` over ``[start, end)`` (bounds on that unit's
    edges) for a read that is ``by_account`` or not, as a queryset with ``start``,
    ``series`` and the COUNT_COLUMNS (the ORM readers' ``bucket_source``)."""
    if not accounts or unit == "day":
        model = AccountDayBucket if accounts else BUCKETS[unit]
        return model.objects.filter(org_id=org_id, start__gte=start, start__lt=end)
    if unit == "quarter":  # Django's Trunc "quarter" is three months: refuse, never mislead
        raise ValueError("Raw rows are read by minute or hour, not by quarter hour.")
    pending = IngestBatch.objects.filter(org_id=org_id, rolled_up_at__isnull=True)
    return (
        RequestLog.objects.filter(org_id=org_id, timestamp__gte=start, timestamp__lt=end)
        .exclude(batch_id__in=pending.values("id"))
        .annotate(start=Trunc("timestamp", unit, tzinfo=dt.UTC))
    )


def _period_of_start(periods: Sequence[Span], column: str = "b.start") -> tuple[str, list]:
    """SQL giving the index of the period holding ``column`` (which lies in one of them)."""
    if connection.vendor == "postgresql":
        # A binary search over the period starts: cheap per row even for 1,440 minutes.
        return f"width_bucket({column}, %s::timestamptz[]) - 1", [[p.start for p in periods]]
    if len(periods) == 1:
        return "0", []
    adapt = connection.ops.adapt_datetimefield_value
    whens = " ".join(f"WHEN {column} < %s THEN {i}" for i in range(len(periods) - 1))
    params = [adapt(p.end) for p in periods[:-1]]
    return f"CASE {whens} ELSE {len(periods) - 1} END", params


@contextmanager
def _bucket_cursor() -> Iterator:
    """A cursor for reading buckets: on PostgreSQL in a transaction without JIT compilation
    or parallel workers, grouping by hashing. A read takes milliseconds; at 10 million
    requests a month in +05:30 is costed high enough that compiling its plan took 300 ms,
    starting workers on two cores made a day by the hour take twice as long, and the
    planner, expecting a group per row, sorted the rows (on disk, for a day of minutes)
    where there are a few thousand groups at most."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('jit', 'off', true), "
            "set_config('max_parallel_workers_per_gather', '0', true), "
            "set_config('enable_sort', 'off', true)"
        )
        yield cursor


def usage_by_period(
    scope: Scope,
    periods: Sequence[Span],
    group_by: Sequence[str] = (),
    columns: Sequence[str] = BUCKET_COLUMNS,
    positive: str | None = None,
) -> list[dict]:
    """Exact sums per period and group, ordered by period then group.

    Returns ``[{"period": i, "group": (value, ...), <each of BUCKET_COLUMNS>: int}]`` for
    the (period, group) pairs that have usage; ``i`` indexes ``periods`` (consecutive,
    minute-aligned ``[start, end)`` UTC spans) and ``group`` holds the raw values of the
    ``group_by`` dimensions (ids for model/api_key/workspace/account, None for "no key" or
    "no account"), ``()``
    without a group-by. ``columns`` (of BUCKET_COLUMNS) narrows the sums to those a reader
    needs: the Cost page prices seven counters and leaves the five request counts unread.
    One query (reading one, two or three bucket levels, from the tables ``bucket_source``
    chooses), and on PostgreSQL one setting the planner for it. ``positive`` (one of
    ``columns``) reads only rows where that counter is above zero (raw rows with code
    execution have an index of their own).
    """
    unknown = set(group_by) - DIMENSIONS.keys()
    if unknown:
        raise ValueError(f"Unknown group-by dimension(s): {sorted(unknown)}")
    if positive is not None and positive not in columns:
        raise ValueError(f"{positive!r} is not one of the columns read.")
    if not periods:
        return []
    scope_terms, scope_params = _scope_sql(scope)
    dims = [f"s.{_SERIES_COLUMNS[d]}" for d in group_by]
    join_series = bool(dims)
    narrow, narrow_params, narrow_raw = [], [], []
    accounts = by_account(scope, group_by)
    if scope_terms:
        # The matching series are looked up once, so the plan is an index scan on
        # (series_id, start) whatever the table statistics say (a join could pick a
        # nested loop over every bucket of the organisation). Raw rows have no index by
        # series: they are read by time and kept by a hashed subplan, one probe per row
        # where ANY over an array would compare each row with every series (a person has
        # hundreds: keys x models x tiers).
        # Read without accounts, only base series can be in the buckets: leaving account
        # series out keeps the list short (a key has thousands with 1,000 people) and the
        # lookup on a partial index (series_base_of_org) of the organisation's base series.
        series_table = Series._meta.db_table
        base_only = "" if accounts else " AND s.base_id IS NULL"
        sub = (
            f"SELECT id FROM {series_table} s WHERE s.org_id = %s"
            f"{base_only} AND {' AND '.join(scope_terms)}"
        )
        narrow_raw = [f"b.series_id IN ({sub})"]
        narrow = (
            [f"b.series_id = ANY(ARRAY({sub}))"]
            if connection.vendor == "postgresql"
            else narrow_raw
        )
        narrow_params = [scope.org_id, *scope_params]
    # Hours and days of a read that needs neither key nor account come from the model buckets
    # (a tenth of the rows, no join); minutes, and every level of other reads, from the series.
    by_model = reads_model_buckets(scope, group_by)
    levels = [pieces for pieces in timeslice.plan(list(periods)).values() if pieces]
    selects, params = [], []
    for level, pieces in enumerate(levels):
        source = bucket_source(pieces[0].unit, accounts, scope.org_id, by_model)
        if source.by_series:
            level_dims, terms, terms_params = (
                dims,
                narrow_raw if source.raw else narrow,
                narrow_params,
            )
            join = f" JOIN {Series._meta.db_table} s ON s.id = b.series_id" if join_series else ""
        else:  # a model bucket table carries the dimensions itself
            level_dims = [f"b.{_SERIES_COLUMNS[d]}" for d in group_by]
            (terms, terms_params), join = _scope_sql(scope, alias="b"), ""
        piece_sql, piece_params, within, within_params = _pieces_sql(pieces)
        select = ", ".join(
            [
                f"{level} AS level",
                f"{piece_sql} AS piece",
                *level_dims,
                *(f"CAST(SUM(b.{c}) AS BIGINT)" for c in columns),
            ]
        )
        # A literal 0, so the planner sees the partial index's own predicate.
        nonzero = [f"b.{positive} > 0"] if positive else []
        where = " AND ".join(["b.org_id = %s", within, *terms, *nonzero])
        selects.append(
            f"SELECT {select} FROM {source.sql}{join} WHERE {where} "
            f"GROUP BY {', '.join(['piece', *level_dims])}"
        )
        params += [*piece_params, *source.params, scope.org_id, *within_params, *terms_params]
    with _bucket_cursor() as cursor:  # one query for every level read
        cursor.execute(" UNION ALL ".join(selects), params)
        fetched = cursor.fetchall()
    # Rows are added up per (period, group) as plain lists: this loop runs once per fetched
    # row (thousands for a month by model), so it avoids a dict per row and a zip per
    # counter. A piece of weight +1 in one period (every whole day or hour) is the common case.
    width = len(dims)
    sums: dict[tuple, list[int]] = {}
    for row in fetched:
        group = tuple(row[2 : 2 + width])
        values = row[2 + width :]
        for period, sign in levels[row[0]][row[1]].weights:
            key = (period, group)
            acc = sums.get(key)
            if acc is None:
                sums[key] = list(values) if sign == 1 else [sign * v for v in values]
            elif sign == 1:
                sums[key] = list(map(int.__add__, acc, values))
            else:
                sums[key] = list(map(int.__sub__, acc, values))
    order: dict[tuple, tuple] = {}  # each group's sort key, built once, not once per period
    for _period, group in sums:
        if group not in order:
            order[group] = _group_sort_key(group)
    return [
        {"period": period, "group": group, **dict(zip(columns, counts, strict=True))}
        for (period, group), counts in sorted(
            sums.items(), key=lambda kv: (kv[0][0], order[kv[0][1]])
        )
        if any(counts)  # a group whose usage was all taken back to a neighbour
    ]


def minutes_gone(
    scope: Scope, group_by: Sequence[str], start: dt.datetime, now: dt.datetime | None = None
) -> bool:
    """Whether the minute detail of a span starting at ``start`` is no longer kept for this
    read: minute buckets older than ``MINUTE_RETENTION_DAYS`` are dropped (a read by account
    takes its minutes from raw rows, kept ``RAW_RETENTION_DAYS``, and is not affected)."""
    return minutes_dropped(start, by_account(scope, group_by), now)


def reads_model_buckets(scope: Scope, group_by: Sequence[str] = ()) -> bool:
    """Whether a read's hours and days can come from the model buckets: it neither filters
    nor groups by API key or account."""
    return (
        scope.api_key_id is None
        and not scope.no_key
        and scope.account_ids is None
        and set(group_by) <= MODEL_BUCKET_DIMENSIONS
    )


def _pieces_sql(pieces: Sequence[timeslice.Piece]) -> tuple[str, list, str, list]:
    """``(SQL of the index of the piece holding a row of the bucket table b, its params,
    WHERE term keeping the rows of the pieces, its params)``; pieces are disjoint, in order."""
    adapt = connection.ops.adapt_datetimefield_value
    runs: list[list] = []  # touching pieces read as one range
    for p in pieces:
        if runs and runs[-1][1] == p.start:
            runs[-1][1] = p.end
        else:
            runs.append([p.start, p.end])
    # Literal bounds, so the planner knows how few rows each range holds.
    within = " OR ".join(["(b.start >= %s AND b.start < %s)"] * len(runs))
    within_params = [adapt(x) for run in runs for x in run]
    if len(pieces) == 1:
        return "0", [], f"({within})", within_params
    piece_sql, piece_params = _period_of_start(pieces)
    return piece_sql, piece_params, f"({within})", within_params


def _group_sort_key(group: tuple) -> tuple:
    return tuple((v is None, str(v) if v is not None else "") for v in group)


def add_up(rows: Iterable[dict]) -> dict:
    """The sums of BUCKET_COLUMNS over rows of ``usage_by_period``: ``{column: int}``."""
    total = dict.fromkeys(BUCKET_COLUMNS, 0)
    for row in rows:
        for c in BUCKET_COLUMNS:
            total[c] += row[c]
    return total


def derived(counts: dict) -> dict:
    """Counts with the figures the page shows: input, cache writes, cache read rate."""
    cache_writes = counts["cache_write_5m_tokens"] + counts["cache_write_1h_tokens"]
    input_tokens = counts["uncached_input_tokens"] + cache_writes + counts["cache_read_tokens"]
    rate = counts["cache_read_tokens"] / input_tokens if input_tokens else None
    return {
        **counts,
        "cache_write_tokens": cache_writes,
        "input_tokens": input_tokens,
        "cache_read_rate": rate,  # a share for display only, never summed
        # False when some of the usage was imported from an upstream, whose reports carry no
        # request counts: the selection's request count is then not known, never a guess.
        "requests_known": not counts["uncounted_rows"],
    }


def change(current: int, previous: int) -> float | None:
    """Relative change from ``previous`` to ``current`` (None when previous is zero)."""
    if not previous:
        return None
    return (current - previous) / previous


def dimension_labels(
    org_id: int, group_by: Sequence[str], rows: Iterable[dict], *, for_csv: bool = False
) -> dict:
    """``{dimension: {raw value: label}}`` for the group values in rows (one query each).

    Models read by their display name on the page (as on the Cost page) and by their id in
    a CSV, where a program may match them."""
    values: dict[str, set] = {d: set() for d in group_by}
    for row in rows:
        for d, v in zip(group_by, row["group"], strict=True):
            values[d].add(v)
    labels: dict[str, dict] = {}
    for d, seen in values.items():
        ids = {v for v in seen if v is not None}
        if d == "model":
            name = "model_id" if for_csv else "display_name"
            found = LlmModel.objects.filter(id__in=ids).values_list("id", name)
            labels[d] = dict(found)
        elif d == "api_key":
            keys = ApiKey.objects.filter(org_id=org_id, id__in=ids)
            labels[d] = {k.id: f"{k.name} ({k.external_id})" for k in keys}
            labels[d][None] = "No API key"
        elif d == "workspace":
            spaces = Workspace.objects.filter(org_id=org_id, id__in=ids)
            labels[d] = {w.id: w.name for w in spaces}
        elif d == "account":
            accounts = Account.objects.filter(org_id=org_id, id__in=ids)
            labels[d] = {a.id: a.label for a in accounts}
            labels[d][None] = NO_ACCOUNT
        else:
            labels[d] = {v: v for v in seen}
    return labels


def member_accounts(org_id: int, user) -> list[Account]:
    """The accounts whose usage is ``user``'s own in the organisation, by name.

    An account an Admin linked to a member is that member's alone; an account linked to
    nobody is the member's whose email it carries (``Account.email``, derived at ingest).
    """
    mine = Q(member=user)
    if user.email:  # an account without an email must never match a member without one
        mine |= Q(member__isnull=True, email=user.email.lower())
    return list(Account.objects.filter(mine, org_id=org_id).order_by("name", "external_id"))


def account_details(org_id: int, ids: Iterable[int | None]) -> dict:
    """``{account pk: (external id, name)}`` of the organisation's accounts among ``ids``
    (``None``, usage without an account, maps to ``("", "")``); one query."""
    found = Account.objects.filter(org_id=org_id, id__in={i for i in ids if i is not None})
    details: dict = {pk: (e, n) for pk, e, n in found.values_list("id", "external_id", "name")}
    details[None] = ("", "")
    return details


def filter_choices(org_id: int, workspace_id: int | None = None) -> dict[str, list[tuple]]:
    """What the reports' selects offer, in one query: ``{"workspaces": [(external id or
    None, name, is default)], "api_keys": [(external id, name)] (of the workspace, if any),
    "models": [(model id, display name)] (those of ``org_models``), "accounts": [(external
    id, name)]}``, each in its model's order."""
    key_filter, key_params = (
        ("AND k.workspace_id = %s", [workspace_id]) if workspace_id else ("", [])
    )
    visible, visible_params = org_models(org_id).values("id").query.sql_with_params()
    sql = (
        "SELECT 0, CASE WHEN w.is_default THEN 0 ELSE 1 END, w.name, w.external_id "
        f"FROM {Workspace._meta.db_table} w WHERE w.org_id = %s "
        "UNION ALL SELECT 1, 0, k.name, k.external_id "
        f"FROM {ApiKey._meta.db_table} k WHERE k.org_id = %s {key_filter} "
        "UNION ALL SELECT 2, 0, m.model_id, m.display_name "
        f"FROM {LlmModel._meta.db_table} m WHERE m.id IN ({visible}) "
        "UNION ALL SELECT 3, 0, a.name, a.external_id "
        f"FROM {Account._meta.db_table} a WHERE a.org_id = %s "
        "ORDER BY 1, 2, 3, 4"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [org_id, org_id, *key_params, *visible_params, org_id])
        fetched = cursor.fetchall()
    out: dict[str, list[tuple]] = {"workspaces": [], "api_keys": [], "models": [], "accounts": []}
    for kind, not_default, a, b in fetched:
        if kind == 0:
            out["workspaces"].append((b, a, not not_default))
        elif kind == 1:
            out["api_keys"].append((b, a))
        elif kind == 2:
            out["models"].append((a, b))
        else:
            out["accounts"].append((b, a))
    return out


def rate_limit_use(scope: Scope, hours: Sequence[Span]) -> list[dict]:
    """Per model and hour, the peak per-minute input (uncached + cache writes), output and
    requests, and the hour's cache read rate, with the organisation's limits.

    Returns ``[{"model_id", "model", "period": i, "peak_input_tpm", "peak_output_tpm",
    "peak_rpm", "cache_read_rate", "input_limit", "output_limit", "requests_limit"}]``
    ordered by model then hour; ``i`` indexes ``hours``. Three queries (and the planner
    setting on PostgreSQL); reads minute buckets of the hours given, so callers keep it
    to a day or an hour (raw rows of them when the scope narrows to accounts).
    """
    if not hours:
        return []
    adapt = connection.ops.adapt_datetimefield_value
    source = bucket_source("minute", by_account(scope), scope.org_id)
    scope_terms, scope_params = _scope_sql(scope)
    period_sql, period_params = _period_of_start(hours, column="m.start")
    where = " AND ".join(["b.org_id = %s", "b.start >= %s", "b.start < %s", *scope_terms])
    sql = (
        f"SELECT m.model_id, {period_sql} AS period, MAX(m.written), MAX(m.out), MAX(m.reqs), "
        "SUM(m.written), SUM(m.cache_read) FROM ("
        f"SELECT s.model_id AS model_id, {source.minute} AS start, "
        "SUM(b.uncached_input_tokens + b.cache_write_5m_tokens + b.cache_write_1h_tokens) "
        "AS written, SUM(b.cache_read_tokens) AS cache_read, SUM(b.output_tokens) AS out, "
        "SUM(b.requests) AS reqs "
        f"FROM {source.sql} JOIN {Series._meta.db_table} s "
        f"ON s.id = b.series_id WHERE {where} GROUP BY s.model_id, {source.minute}"
        ") m GROUP BY m.model_id, period"
    )
    params = [
        *period_params,
        *source.params,
        scope.org_id,
        adapt(hours[0].start),
        adapt(hours[-1].end),
        *scope_params,
    ]
    with _bucket_cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    peaks: dict[tuple, dict] = {}
    for model_id, period, peak_in, peak_out, peak_rpm, written, read in fetched:
        peaks[(model_id, int(period))] = {
            "in": int(peak_in),
            "out": int(peak_out),
            "rpm": int(peak_rpm),
            "written": int(written),
            "read": int(read),
        }
    model_ids = {m for m, _ in peaks}
    models = dict(LlmModel.objects.filter(id__in=model_ids).values_list("id", "model_id"))
    limits = {
        r.model_id: r for r in RateLimit.objects.filter(org_id=scope.org_id, model_id__in=model_ids)
    }
    out = []
    for (model_id, period), p in sorted(peaks.items(), key=lambda kv: (models[kv[0][0]], kv[0][1])):
        limit = limits.get(model_id)
        total_in = p["written"] + p["read"]
        out.append(
            {
                "model_id": model_id,
                "model": models[model_id],
                "period": period,
                "peak_input_tpm": p["in"],
                "peak_output_tpm": p["out"],
                "peak_rpm": p["rpm"],
                "cache_read_rate": p["read"] / total_in if total_in else None,
                "input_limit": limit.input_tokens_per_minute if limit else None,
                "output_limit": limit.output_tokens_per_minute if limit else None,
                "requests_limit": limit.requests_per_minute if limit else None,
            }
        )
    return out


def rate_limited_requests(
    scope: Scope,
    periods: Sequence[Span],
    per_period: Sequence[int],
    page: int = 1,
    per_page: int = 50,
):
    """One page of the 429 requests of the view, newest first, from the raw logs.

    ``per_period`` is the rate-limited count of each period (from ``usage_by_period``),
    so that only the periods holding the wanted page are scanned and no COUNT over raw
    rows is needed. Returns ``(page object of RequestLog with series, workspace, api_key
    and model loaded, horizon)``; raw rows before ``horizon`` are purged, so periods
    before it show in the counts but not in the list. Two queries at most.
    """
    horizon = raw_retention_horizon()
    total = sum(per_period)
    paginator = Paginator(_Counted(total), per_page)
    page_obj = paginator.get_page(page)
    first, last = page_obj.start_index() - 1, page_obj.end_index()  # [first, last) newest first
    # Walk periods newest first to find the span holding rows first..last.
    seen, span_start, span_end, skip = 0, None, None, 0
    for period, count in reversed(list(zip(periods, per_period, strict=True))):
        if count == 0:
            continue
        if seen + count > first and span_end is None:
            span_end, skip = period.end, first - seen
        if span_end is not None:
            span_start = period.start
        seen += count
        if seen >= last:
            break
    rows: list = []
    if total and span_end is not None:
        rows = list(
            RequestLog.objects.filter(scope.q())
            .filter(status_code=429, timestamp__gte=span_start, timestamp__lt=span_end)
            .select_related("series__workspace", "series__api_key", "series__model")
            .order_by("-timestamp", "-id")[skip : skip + (last - first)]
        )
    page_obj.object_list = rows
    return page_obj, horizon


class _Counted:
    """A sized stand-in for a list whose length is already known (no COUNT query)."""

    def __init__(self, count: int):
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, item):
        return []


@dataclass(frozen=True)
class UsageQuery:
    """One view of the Usage page: scope, zone, drill level and grouping."""

    scope: Scope
    zone: ZoneInfo
    year: int
    month: int
    day: dt.date | None = None
    hour: timeslice.Period | None = None
    group_by: str = ""
    sort: str = ""
    rl_page: int = 1
    now: dt.datetime | None = None  # what "so far" and "still to come" are measured from

    @property
    def level_and_periods(self) -> tuple[str, list[timeslice.Period]]:
        return timeslice.periods_for(self.zone, self.year, self.month, self.day, self.hour)

    @property
    def group_dims(self) -> tuple[str, ...]:
        return (self.group_by,) if self.group_by else ()


RATE_LIMIT_TYPES = [
    ("rate_limited_by_requests", "Requests per minute"),
    ("rate_limited_by_input_tokens", "Input tokens per minute"),
    ("rate_limited_by_output_tokens", "Output tokens per minute"),
]
CHANGE_FIGURES = ["input_tokens", "output_tokens", "requests", "web_search_requests"]


def _group_label(query: UsageQuery, labels: dict, group: tuple) -> str:
    if not group:
        return "All usage"
    value = group[0]
    return str(labels[query.group_by].get(value, value))


def usage_report(query: UsageQuery) -> dict:
    """Everything the Usage page shows for one view, from at most two queries.

    Returns ``{"level", "periods", "rows", "per_period": [derived counts per period],
    "totals", "previous": {"start", "end", "totals", "label", "to_date"} (what the totals
    are compared with, ``timeslice.comparison``), "changes": {figure: float|None},
    "future": [period not yet begun],
    "groups": [{"group", "label", **derived counts}] (sorted as asked), "labels",
    "rate_limited": [{"name", "column", "y": [per period]}], "has_data",
    "minutes_gone": the view is an hour by minute whose minute detail is no longer kept
    (``minutes_gone``; then the totals and groups are the hour's, per period all zero)}``.
    """
    level, periods = query.level_and_periods
    now = query.now or timezone.now()
    compared = timeslice.comparison(level, periods, query.zone, now)
    gone = level == "hour" and minutes_gone(query.scope, query.group_dims, periods[0].start, now)
    start, end = periods[0].start, periods[-1].end
    key = None
    if end <= now:  # a period that is over: kept while its buckets and names are (usage.kept)
        asked = (query.scope, query.zone.key, level, start, end, compared.start, compared.end,
                 query.group_by, query.sort, gone)  # fmt: skip
        reads = (min(start, compared.start), end)
        key = kept.report_key("usage", query.scope.org_id, asked, query.group_dims, reads)
    return kept.kept(key, lambda: _usage_report(query, level, periods, now, compared, gone))


def _usage_report(query: UsageQuery, level, periods, now, compared, gone: bool) -> dict:
    # An hour whose minutes are gone is read whole (from quarter hours), not as 60 zeros.
    read = [_Whole(periods[0].start, periods[-1].end)] if gone else periods
    # The comparison is read along with the view's: one query for every sum on the page.
    both = usage_by_period(
        query.scope, [*read, _Whole(compared.start, compared.end)], query.group_dims
    )
    rows = [row for row in both if row["period"] < len(read)]
    previous = derived(add_up(row for row in both if row["period"] == len(read)))
    per_period_counts = [dict.fromkeys(BUCKET_COLUMNS, 0) for _ in periods]
    per_group: dict[tuple, dict] = {}
    for row in rows:
        acc = per_period_counts[row["period"]]
        grp = per_group.setdefault(row["group"], dict.fromkeys(BUCKET_COLUMNS, 0))
        for c in BUCKET_COLUMNS:
            acc[c] += row[c]
            grp[c] += row[c]
    totals = derived(add_up(per_period_counts))
    if gone:  # the hour's sums were kept in its first minute's cell only to add them up
        per_period_counts[0] = dict.fromkeys(BUCKET_COLUMNS, 0)
    labels = dimension_labels(query.scope.org_id, query.group_dims, rows)
    groups = [
        {"group": g, "label": _group_label(query, labels, g), **derived(c)}
        for g, c in per_group.items()
    ]
    sort = query.sort or "-input_tokens"
    column, reverse = sort.lstrip("-"), sort.startswith("-")
    if column == "group":
        groups.sort(key=lambda g: g["label"].lower(), reverse=reverse)
    else:
        groups.sort(key=lambda g: (g[column], g["label"].lower()), reverse=reverse)
    return {
        "level": level,
        "periods": periods,
        "rows": [] if gone else rows,
        "per_period": [derived(c) for c in per_period_counts],
        "totals": totals,
        "previous": {
            "start": compared.start,
            "end": compared.end,
            "totals": previous,
            "label": compared.label,
            "to_date": compared.to_date,
        },
        "future": [timeslice.is_future(p, now) for p in periods],
        "changes": {
            f: change(totals[f], previous[f])
            if f != "requests" or (totals["requests_known"] and previous["requests_known"])
            else None
            for f in CHANGE_FIGURES
        },
        "groups": groups,
        "labels": labels,
        "rate_limited": [
            {"name": name, "column": col, "y": [c[col] for c in per_period_counts]}
            for col, name in RATE_LIMIT_TYPES
        ],
        "has_data": totals["requests"] + totals["uncounted_rows"] > 0,
        "minutes_gone": gone,
    }
