"""Selector sums against an independent aggregate of the raw rows (computed with zoneinfo)."""

import datetime as dt
import random
from collections import Counter, defaultdict
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from console import timeslice
from console.models import Account
from tests import factories
from tests.usage.rawrows import raw, series_for, store_batch
from usage import selectors
from usage.models import (
    AccountDayBucket,
    DayBucket,
    HourBucket,
    MinuteBucket,
    ModelDayBucket,
    ModelQuarterHourBucket,
    QuarterHourBucket,
    RateLimit,
    RequestLog,
    Series,
)
from usage.rollups import BUCKET_COLUMNS, COUNT_COLUMNS, rollup_pending
from usage.selectors import Scope

UTC = dt.UTC
MODELS = ["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"]


def u(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def _random_row(rng, series, timestamp):
    status = 429 if rng.random() < 0.15 else 200
    limit = rng.choice(["requests", "input_tokens", "output_tokens", ""]) if status == 429 else ""
    return raw(
        series,
        timestamp,
        status_code=status,
        rate_limit_type=limit,
        uncached_input_tokens=rng.randint(0, 5000),
        cache_write_5m_tokens=rng.choice([0, 0, rng.randint(1, 3000)]),
        cache_write_1h_tokens=rng.choice([0, 0, 0, rng.randint(1, 2000)]),
        cache_read_tokens=rng.choice([0, rng.randint(1, 9000)]),
        output_tokens=rng.randint(0, 2000),
        web_search_requests=rng.choice([0, 0, 1, 2]),
        code_execution_ms=rng.choice([0, 0, rng.randint(1, 60000)]),
    )


def build(org, windows, per_window=250, hot=(), seed=7, accounts=()):
    """Raw rows in several series over ``windows`` (UTC spans), plus ``hot`` hours full of
    rows, each series also with each of ``accounts``; stored as batches and rolled up.
    Returns the raw rows (with their series)."""
    rng = random.Random(seed)
    research = factories.make_workspace(org, "Research", "wrkspc_research")
    default = org.workspaces.get(is_default=True)
    k1 = factories.make_api_key(org, research, "prod", "apikey_prod")
    k2 = factories.make_api_key(org, default, "ci", "apikey_ci")
    combos = [(research, k1), (default, k2), (default, None), (research, None)]
    all_series = [
        series_for(
            org, workspace=w, api_key=k, model=m, service_tier=tier, context_window=cw, account=a
        )
        for (w, k) in combos
        for m in MODELS
        for tier, cw in [("standard", "0-200k"), ("batch", "200k-1M"), ("priority", "0-200k")]
        for a in (None, *accounts)
    ]
    rows = []
    spans = [(a, b, per_window) for a, b in windows] + [(h, h + timeslice.HOUR, 120) for h in hot]
    for a, b, n in spans:
        seconds = int((b - a).total_seconds())
        for _ in range(n):
            ts = a + dt.timedelta(seconds=rng.randrange(seconds), microseconds=rng.randrange(10**6))
            rows.append(_random_row(rng, rng.choice(all_series), ts))
    # Rows exactly on bucket edges, where off-by-one mistakes would show.
    for a, b, _ in spans:
        for edge in (a, b - dt.timedelta(microseconds=1)):
            rows.append(_random_row(rng, rng.choice(all_series), edge))
    for i in range(0, len(rows), 200):
        store_batch(org, rows[i : i + 200])
    rollup_pending()
    return rows, {"research": research, "default": default, "k1": k1, "k2": k2}


def expected(rows, periods, zone, level, scope=None, group_by=()):
    """Independent: map each raw row to its local period by its own local wall time."""
    index = {}
    for i, p in enumerate(periods):
        local = p.local_start
        if level == "month":
            index[local.date()] = i
        elif level == "day":
            index[(local.date(), local.hour, local.utcoffset())] = i
        else:
            index[(local.date(), local.hour, local.minute, local.utcoffset())] = i
    out = defaultdict(Counter)
    for r in rows:
        s = r.series
        if scope is not None:
            if scope.workspace_id is not None and s.workspace_id != scope.workspace_id:
                continue
            if scope.no_key and s.api_key_id is not None:
                continue
            if scope.api_key_id is not None and s.api_key_id != scope.api_key_id:
                continue
            if scope.model_id is not None and s.model_id != scope.model_id:
                continue
            if scope.account_ids is not None and s.account_id not in scope.account_ids:
                continue
        local = r.timestamp.astimezone(zone)
        if level == "month":
            key = local.date()
        elif level == "day":
            key = (local.date(), local.hour, local.utcoffset())
        else:
            key = (local.date(), local.hour, local.minute, local.utcoffset())
        if key not in index:
            continue
        group = tuple(
            {
                "model": s.model_id,
                "api_key": s.api_key_id,
                "workspace": s.workspace_id,
                "service_tier": s.service_tier,
                "context_window": s.context_window,
                "account": s.account_id,
            }[d]
            for d in group_by
        )
        c = out[(index[key], group)]
        c["requests"] += 1
        if r.status_code == 429:
            c["rate_limited_requests"] += 1
            if r.rate_limit_type:
                c[f"rate_limited_by_{r.rate_limit_type}"] += 1
        for col in COUNT_COLUMNS:
            c[col] += getattr(r, col)
    return {k: {col: v[col] for col in BUCKET_COLUMNS} for k, v in out.items()}


def got(result):
    return {(r["period"], r["group"]): {c: r[c] for c in BUCKET_COLUMNS} for r in result}


def raw_total(rows, start, end, scope=None):
    total = Counter()
    for r in rows:
        if not (start <= r.timestamp < end):
            continue
        if scope is not None and scope.workspace_id not in (None, r.series.workspace_id):
            continue
        total["requests"] += 1
        total["rate_limited_requests"] += r.status_code == 429
        for col in COUNT_COLUMNS:
            total[col] += getattr(r, col)
    return total


# (zone, month, a day of it, an hour key of that day)
CASES = [
    ("UTC", (2026, 11), dt.date(2026, 11, 1), "13:00"),
    ("Asia/Kolkata", (2026, 11), dt.date(2026, 11, 1), "05"),
    ("Asia/Kathmandu", (2026, 11), dt.date(2026, 11, 30), "23:00"),
    ("America/New_York", (2026, 11), dt.date(2026, 11, 1), "01:00-05:00"),
    ("America/New_York", (2026, 11), dt.date(2026, 11, 1), "01:00-04:00"),
    ("Europe/London", (2026, 3), dt.date(2026, 3, 29), "02:00"),
    ("Europe/London", (2026, 10), dt.date(2026, 10, 25), "01:00+00:00"),
]


def _windows_for(zone_name, month, day, hour_key):
    zone = ZoneInfo(zone_name)
    start, end = timeslice.month_bounds(*month, zone)
    hour = timeslice.parse_hour(day, hour_key, zone)
    windows = [(start - 2 * timeslice.DAY, start + timeslice.DAY), (end - timeslice.DAY, end)]
    windows += [timeslice.day_bounds(day, zone)]
    windows += [(start + 10 * timeslice.DAY, start + 12 * timeslice.DAY)]
    return windows, [hour.start, hour.start - timeslice.HOUR, hour.end]


@pytest.mark.parametrize("zone_name,month,day,hour_key", CASES)
@pytest.mark.parametrize("group_by", [(), ("model",), ("api_key",), ("workspace",)])
def test_every_level_matches_raw_rows(org, zone_name, month, day, hour_key, group_by):
    zone = ZoneInfo(zone_name)
    windows, hot = _windows_for(zone_name, month, day, hour_key)
    rows, _ = build(org, windows, per_window=120, hot=hot)
    scope = Scope(org.id)
    hour = timeslice.parse_hour(day, hour_key, zone)
    assert hour is not None
    for level, periods in [
        timeslice.periods_for(zone, *month),
        timeslice.periods_for(zone, *month, day=day),
        timeslice.periods_for(zone, *month, day=day, hour=hour),
    ]:
        result = selectors.usage_by_period(scope, periods, group_by)
        want = expected(rows, periods, zone, level, group_by=group_by)
        assert got(result) == want, (level, zone_name)
        assert sum(r["requests"] for r in result) > 0


@pytest.mark.parametrize(
    "group_by",
    [("service_tier",), ("context_window",), ("model", "service_tier", "context_window")],
)
def test_other_group_bys_and_filters(org, group_by):
    zone = ZoneInfo("Asia/Kolkata")
    windows, hot = _windows_for("Asia/Kolkata", (2026, 11), dt.date(2026, 11, 3), "10")
    rows, dims = build(org, windows, per_window=100, hot=hot)
    sonnet = factories.make_model(MODELS[0])
    scopes = [
        Scope(org.id),
        Scope(org.id, workspace_id=dims["research"].id),
        Scope(org.id, workspace_id=dims["default"].id),
        Scope(org.id, api_key_id=dims["k1"].id),
        Scope(org.id, no_key=True),
        Scope(org.id, workspace_id=dims["default"].id, no_key=True, model_id=sonnet.id),
    ]
    level, periods = timeslice.periods_for(zone, 2026, 11)
    for scope in scopes:
        result = selectors.usage_by_period(scope, periods, group_by)
        assert got(result) == expected(rows, periods, zone, level, scope, group_by), scope


@pytest.mark.parametrize("zone_name,month,day,hour_key", [CASES[0], CASES[1], CASES[3]])
def test_reads_by_and_of_accounts_match_raw_rows(org, zone_name, month, day, hour_key):
    """Grouped or filtered by account (day buckets of every series, raw rows of rolled-up
    batches finer than a day) or not (base buckets): every view equals the raw rows, late
    rows included, a batch still pending counted nowhere."""
    zone = ZoneInfo(zone_name)
    ada = Account.objects.create(org=org, external_id="u_ada", name="Ada")
    bob = Account.objects.create(org=org, external_id="u_bob", name="Bob")
    windows, hot = _windows_for(zone_name, month, day, hour_key)
    rows, dims = build(org, windows, per_window=60, hot=hot, accounts=(ada, bob))
    rng = random.Random(11)
    accounted = [s for s in {r.series for r in rows} if s.account_id]
    hour = timeslice.parse_hour(day, hour_key, zone)
    # Late rows: earlier minutes than the buckets already hold, rolled up later.
    late = [
        _random_row(rng, rng.choice(accounted), hour.start + dt.timedelta(seconds=s))
        for s in range(0, 3600, 97)
    ]
    store_batch(org, late)
    rollup_pending()
    pending = [_random_row(rng, s, hour.start + dt.timedelta(minutes=7)) for s in accounted]
    store_batch(org, pending)  # not rolled up
    rows += late
    scopes = [
        Scope(org.id),
        Scope(org.id, account_ids=(ada.pk,)),
        Scope(org.id, workspace_id=dims["research"].id, account_ids=(ada.pk, bob.pk)),
        Scope(org.id, account_ids=()),
    ]
    group_bys = [(), ("account",), ("model", "account"), ("api_key",)]
    for level, periods in [
        timeslice.periods_for(zone, *month),
        timeslice.periods_for(zone, *month, day=day),
        timeslice.periods_for(zone, *month, day=day, hour=hour),
    ]:
        for scope in scopes:
            for group_by in group_bys:
                result = selectors.usage_by_period(scope, periods, group_by)
                want = expected(rows, periods, zone, level, scope, group_by)
                assert got(result) == want, (level, scope, group_by)
        assert selectors.usage_by_period(Scope(org.id, account_ids=(ada.pk,)), periods)


def test_account_reads_take_days_from_account_buckets_and_the_rest_from_raw_rows(org):
    ada = Account.objects.create(org=org, external_id="u_ada", name="Ada")
    build(org, [(u(2026, 10, 30), u(2026, 12, 2))], per_window=200, accounts=(ada,))
    by_ada = Scope(org.id, account_ids=(ada.pk,))
    tables = {
        "base": DayBucket._meta.db_table,
        "base minutes": MinuteBucket._meta.db_table,
        "base quarters": QuarterHourBucket._meta.db_table,
        "model quarters": ModelQuarterHourBucket._meta.db_table,
        "model": ModelDayBucket._meta.db_table,
        "account": AccountDayBucket._meta.db_table,
        "raw": RequestLog._meta.db_table,
    }

    def read(zone, scope, group_by):
        _, periods = timeslice.periods_for(ZoneInfo(zone), 2026, 11)
        with CaptureQueriesContext(connection) as ctx:
            selectors.usage_by_period(scope, periods, group_by)
        assert len(ctx.captured_queries) == 1 + PLANNER_SETTING
        sql = ctx.captured_queries[-1]["sql"]
        return {name for name, table in tables.items() if f"{table} " in sql}

    assert read("UTC", Scope(org.id), ("model",)) == {"model"}
    assert read("UTC", Scope(org.id), ("api_key",)) == {"base"}
    assert read("UTC", Scope(org.id), ("account",)) == {"account"}
    assert read("UTC", by_ada, ()) == {"account"}
    # A month in +05:30 moves local midnights to UTC ones; the stretches between are hours
    # and quarter hours, read from raw rows when by account, never from minute buckets (kept
    # MINUTE_RETENTION_DAYS only).
    assert read("Asia/Kolkata", by_ada, ("model",)) == {"account", "raw"}
    assert read("Asia/Kolkata", Scope(org.id), ("model",)) == {"model", "model quarters"}


def test_other_organisations_usage_is_never_counted(org, other_org):
    windows = [(u(2026, 11, 1), u(2026, 11, 3))]
    build(other_org, windows, seed=1)
    rows, _ = build(org, windows, seed=2)
    level, periods = timeslice.periods_for(ZoneInfo("UTC"), 2026, 11)
    result = selectors.usage_by_period(Scope(org.id), periods)
    assert got(result) == expected(rows, periods, ZoneInfo("UTC"), level)


def test_the_comparison_span_reads_exactly(org):
    zone = ZoneInfo("Europe/London")
    windows = [(u(2026, 2, 27), u(2026, 3, 3)), (u(2026, 3, 30), u(2026, 4, 2))]
    rows, dims = build(org, windows, per_window=300)
    level, periods = timeslice.periods_for(zone, 2026, 4)
    # April the 2nd at 10:17 BST: compared with March 1st 00:00 to March 2nd 10:17 GMT.
    compared = timeslice.comparison(level, periods, zone, u(2026, 4, 2, 9, 17, 41))
    start, end = compared.start, compared.end
    assert (start, end) == (u(2026, 3, 1), u(2026, 3, 2, 10, 17))
    scope = Scope(org.id, workspace_id=dims["research"].id)
    previous = timeslice.Range("minute", start, end)  # any span with a start and an end
    total = selectors.add_up(selectors.usage_by_period(scope, [previous]))
    want = raw_total(rows, start, end, scope)
    assert total["requests"] == want["requests"] > 0
    assert all(total[c] == want[c] for c in COUNT_COLUMNS)
    assert total["rate_limited_requests"] == want["rate_limited_requests"]
    assert selectors.change(150, 100) == 0.5 and selectors.change(5, 0) is None


def test_derived_figures():
    counts = dict.fromkeys(BUCKET_COLUMNS, 0)
    counts.update(
        uncached_input_tokens=100,
        cache_write_5m_tokens=50,
        cache_write_1h_tokens=50,
        cache_read_tokens=800,
    )
    d = selectors.derived(counts)
    assert d["input_tokens"] == 1000 and d["cache_write_tokens"] == 100
    assert d["cache_read_rate"] == 0.8
    assert selectors.derived(dict.fromkeys(BUCKET_COLUMNS, 0))["cache_read_rate"] is None


def test_unknown_group_by_is_refused(org):
    with pytest.raises(ValueError):
        selectors.usage_by_period(Scope(org.id), [], ("colour",))


# On PostgreSQL each read first turns off JIT compilation and parallel workers for itself.
PLANNER_SETTING = 1 if connection.vendor == "postgresql" else 0


def test_utc_month_reads_day_buckets_only(org):
    build(org, [(u(2026, 11, 1), u(2026, 12, 1))], per_window=200)
    _, periods = timeslice.periods_for(ZoneInfo("UTC"), 2026, 11)
    with CaptureQueriesContext(connection) as ctx:
        selectors.usage_by_period(Scope(org.id), periods, ("api_key",))
    assert len(ctx.captured_queries) == 1 + PLANNER_SETTING
    sql = ctx.captured_queries[-1]["sql"]
    assert DayBucket._meta.db_table in sql
    assert HourBucket._meta.db_table not in sql and MinuteBucket._meta.db_table not in sql


@pytest.mark.parametrize(
    "scope_of,group_by,tables",
    [
        # Neither key nor account: the model buckets' days, hours and quarter hours (never
        # minutes: they are kept MINUTE_RETENTION_DAYS only).
        (
            lambda org, dims: Scope(org.id),
            ("model",),
            {"modelday", "modelhour", "modelquarterhour"},
        ),
        (
            lambda org, dims: Scope(org.id, workspace_id=dims["research"].id),
            ("workspace", "service_tier", "context_window"),
            {"modelday", "modelhour", "modelquarterhour"},
        ),
        # A key or an account needs the series buckets at every level.
        (lambda org, dims: Scope(org.id), ("api_key",), {"day", "hour", "quarterhour"}),
        (
            lambda org, dims: Scope(org.id, api_key_id=dims["k1"].id),
            ("model",),
            {"day", "hour", "quarterhour"},
        ),
        (lambda org, dims: Scope(org.id, no_key=True), (), {"day", "hour", "quarterhour"}),
        # An account: its days from the account day buckets, the rest from raw rows.
        (lambda org, dims: Scope(org.id, account_ids=()), (), {"accountday", "raw"}),
        (lambda org, dims: Scope(org.id), ("account",), {"accountday", "raw"}),
    ],
)
def test_reads_without_key_or_account_use_the_model_buckets(org, scope_of, group_by, tables):
    # Kathmandu (+05:45): a month there reads days, hours and edge quarter hours.
    zone = ZoneInfo("Asia/Kathmandu")
    _, dims = build(org, [(u(2026, 10, 31), u(2026, 11, 3))], per_window=40)
    _, periods = timeslice.periods_for(zone, 2026, 11)
    with CaptureQueriesContext(connection) as ctx:
        selectors.usage_by_period(scope_of(org, dims), periods, group_by)
    sql = ctx.captured_queries[-1]["sql"]
    read = {
        name
        for name in (
            "minute",
            "quarterhour",
            "hour",
            "day",
            "modelquarterhour",
            "modelhour",
            "modelday",
            "accountday",
        )
        if f"usage_{name}bucket " in sql
    } | ({"raw"} if "usage_requestlog " in sql else set())
    assert read == tables


@pytest.mark.parametrize("zone_name", ["UTC", "Asia/Kathmandu"])
def test_query_count_does_not_grow_with_rows_or_keys(org, zone_name, django_assert_num_queries):
    zone = ZoneInfo(zone_name)
    _, periods = timeslice.periods_for(zone, 2026, 11)
    build(org, [(u(2026, 11, 1), u(2026, 11, 4))], per_window=50, seed=3)
    # One query even where +05:45 reads day, hour and quarter-hour buckets.
    with django_assert_num_queries(1 + PLANNER_SETTING):
        small = selectors.usage_by_period(Scope(org.id), periods, ("api_key",))
    rng = random.Random(5)
    keys = [factories.make_api_key(org, name=f"k{i}") for i in range(30)]
    more = []
    for day in range(1, 31):
        for key in keys:
            s = series_for(org, api_key=key, model=rng.choice(MODELS))
            more.append(_random_row(rng, s, u(2026, 11, day, rng.randrange(24))))
    store_batch(org, more)
    rollup_pending()
    with django_assert_num_queries(1 + PLANNER_SETTING):
        large = selectors.usage_by_period(Scope(org.id), periods, ("api_key",))
    assert len(large) > len(small) + 100


@pytest.mark.parametrize("by_account", [False, True])
def test_rate_limit_use_peaks_per_model_and_hour(org, by_account):
    """Of everyone (base minute buckets) or of one person (raw rows of their minutes)."""
    zone = ZoneInfo("Asia/Kolkata")
    day = dt.date(2026, 11, 2)
    _, hours = timeslice.periods_for(zone, 2026, 11, day=day)
    ada = Account.objects.create(org=org, external_id="u_ada", name="Ada")
    rows, _ = build(org, [], hot=[hours[3].start, hours[10].start], accounts=(ada,))
    RateLimit.objects.create(
        org=org, model=factories.make_model(MODELS[0]), input_tokens_per_minute=40_000
    )
    scope = Scope(org.id, account_ids=(ada.pk,)) if by_account else Scope(org.id)
    result = selectors.rate_limit_use(scope, hours)
    # Independent: per model and local hour, the busiest minute, from raw rows.
    per_minute = defaultdict(Counter)
    for r in rows:
        if by_account and r.series.account_id != ada.pk:
            continue
        minute = r.timestamp.replace(second=0, microsecond=0)
        c = per_minute[(r.series.model.model_id, minute)]
        c["in"] += r.uncached_input_tokens + r.cache_write_5m_tokens + r.cache_write_1h_tokens
        c["out"] += r.output_tokens
        c["read"] += r.cache_read_tokens
    want = {}
    for (model, minute), c in per_minute.items():
        period = next((i for i, h in enumerate(hours) if h.start <= minute < h.end), None)
        if period is None:
            continue
        w = want.setdefault((model, period), {"in": 0, "out": 0, "read": 0, "all": 0})
        w["in"], w["out"] = max(w["in"], c["in"]), max(w["out"], c["out"])
        w["read"] += c["read"]
        w["all"] += c["in"] + c["read"]
    assert {(r["model"], r["period"]) for r in result} == set(want)
    for r in result:
        w = want[(r["model"], r["period"])]
        assert (r["peak_input_tpm"], r["peak_output_tpm"]) == (w["in"], w["out"])
        assert r["cache_read_rate"] == pytest.approx(w["read"] / w["all"])
        assert r["input_limit"] == (40_000 if r["model"] == MODELS[0] else None)


def test_rate_limited_requests_pages_newest_first(org, django_assert_max_num_queries):
    zone = ZoneInfo("UTC")
    rows, _ = build(org, [(u(2026, 11, 1), u(2026, 11, 6))], per_window=400)
    level, periods = timeslice.periods_for(zone, 2026, 11)
    per_period = [0] * len(periods)
    for r in selectors.usage_by_period(Scope(org.id), periods):
        per_period[r["period"]] += r["rate_limited_requests"]
    limited = sorted(
        (r for r in rows if r.status_code == 429), key=lambda r: (r.timestamp, r.id), reverse=True
    )
    assert len(limited) > 25
    seen = []
    for number in range(1, 100):
        with django_assert_max_num_queries(1):
            page, _horizon = selectors.rate_limited_requests(
                Scope(org.id), periods, per_period, page=number, per_page=10
            )
            seen += [r.request_id for r in page.object_list]
        if not page.has_next():
            break
    assert seen == [r.request_id for r in limited]


def test_filter_choices_lists_in_one_query(org, other_org, django_assert_num_queries):
    research = factories.make_workspace(org, "Research", "wrkspc_research")
    factories.make_workspace(org, "Archive", "wrkspc_archive")
    factories.make_api_key(org, research, "zeta", "apikey_z")
    factories.make_api_key(org, research, "alpha", "apikey_a")
    factories.make_api_key(org, name="ci", external_id="apikey_ci")
    factories.make_api_key(other_org, name="theirs", external_id="apikey_theirs")
    series_for(org, model=MODELS[1])
    series_for(other_org, model="claude-opus-4-5-20251101")
    factories.make_model("claude-unused-model")
    Account.objects.create(org=org, external_id="u_2", name="Zed")
    Account.objects.create(org=org, external_id="u_1", name="Ada")
    Account.objects.create(org=other_org, external_id="u_theirs", name="Theirs")
    with django_assert_num_queries(1):
        everything = selectors.filter_choices(org.id)
    with django_assert_num_queries(1):
        of_research = selectors.filter_choices(org.id, research.id)
    default = org.workspaces.get(is_default=True)
    assert everything["workspaces"] == [
        (default.external_id, default.name, True),
        ("wrkspc_archive", "Archive", False),
        ("wrkspc_research", "Research", False),
    ]
    assert everything["api_keys"] == [
        ("apikey_a", "alpha"),
        ("apikey_ci", "ci"),
        ("apikey_z", "zeta"),
    ]
    assert of_research["api_keys"] == [("apikey_a", "alpha"), ("apikey_z", "zeta")]
    used = sorted(s.model.model_id for s in Series.objects.filter(org=org).select_related("model"))
    assert [m for m, _ in everything["models"]] == sorted(set(used)) == [MODELS[1]]
    assert everything["accounts"] == of_research["accounts"] == [("u_1", "Ada"), ("u_2", "Zed")]


def test_grouped_by_user_ranks_people_by_tokens_and_filters_one(org, django_assert_num_queries):
    ada = Account.objects.create(org=org, external_id="u_ada", name="Ada")
    bob = Account.objects.create(org=org, external_id="bob@example.com", name="bob@example.com")
    rng = random.Random(13)
    rows = []
    for account in (ada, bob, None):
        for model in MODELS:
            series = series_for(org, model=model, account=account)
            rows += [
                _random_row(rng, series, u(2026, 4, rng.randint(1, 30), rng.randint(0, 23)))
                for _ in range(40)
            ]
    store_batch(org, rows)
    rollup_pending()

    def input_of(account):
        return sum(
            r.uncached_input_tokens
            + r.cache_write_5m_tokens
            + r.cache_write_1h_tokens
            + r.cache_read_tokens
            for r in rows
            if r.series.account == account
        )

    query = selectors.UsageQuery(
        scope=Scope(org.id), zone=ZoneInfo("UTC"), year=2026, month=4, group_by="account"
    )
    # The month is over: its key first (bucket day versions; workspace, model and account
    # names), then the buckets and the names.
    with django_assert_num_queries(4 + 2 + PLANNER_SETTING):
        report = selectors.usage_report(query)
    ranked = sorted([ada, bob, None], key=input_of, reverse=True)
    names = {ada: "Ada (u_ada)", bob: "bob@example.com", None: "No account"}
    assert [g["label"] for g in report["groups"]] == [names[a] for a in ranked]
    assert [g["input_tokens"] for g in report["groups"]] == [input_of(a) for a in ranked]
    only_ada = Scope(org.id, account_ids=(ada.pk,))
    totals = selectors.add_up(selectors.usage_by_period(only_ada, [_Month(2026, 4)]))
    assert totals["requests"] == sum(1 for r in rows if r.series.account == ada)
    assert totals["output_tokens"] == sum(r.output_tokens for r in rows if r.series.account == ada)
    nobody = Scope(org.id, account_ids=())
    assert selectors.usage_by_period(nobody, [_Month(2026, 4)]) == []
    assert selectors.account_details(org.id, [ada.pk, None]) == {
        ada.pk: ("u_ada", "Ada"),
        None: ("", ""),
    }


class _Month:
    def __init__(self, year, month):
        self.start = u(year, month, 1)
        self.end = u(year + month // 12, month % 12 + 1, 1)
