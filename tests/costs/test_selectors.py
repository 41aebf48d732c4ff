"""Cost reports against an independent computation from the raw rows and a price table.

The expected figures never go through buckets, PriceBook or cost_lines: each raw row is
priced on its own UTC date from the table below (typed in from the public price list),
with Fractions, and the free code-execution allowance is spent request by request in
time order.
"""

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from console.models import Account
from costs.models import ModelPrice, ToolPrice
from costs.selectors import cost_report
from tests import factories
from tests.costs.builders import raw, series_for, store_and_roll_up, utc

UTC = ZoneInfo("UTC")
KOLKATA = ZoneInfo("Asia/Kolkata")
SONNET = "claude-sonnet-4-5-20250929"
OPUS = "claude-opus-4-6-20260205"
HAIKU3 = "claude-3-haiku-20240307"
F = Fraction
TOKEN_FIELDS = (
    "uncached_input_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "output_tokens",
)
# (input, 5m write, 1h write, read, output) USD per million tokens
TABLE = {
    (SONNET, "0-200k"): ("3", "3.75", "6", "0.30", "15"),
    (SONNET, "200k-1M"): ("6", "7.50", "12", "0.60", "22.50"),
    (OPUS, "0-200k"): ("5", "6.25", "10", "0.50", "25"),
    (OPUS, "200k-1M"): ("5", "6.25", "10", "0.50", "25"),  # Opus 4.6: no long-context rate
    (HAIKU3, "0-200k"): ("0.25", "0.30", "0.50", "0.03", "1.25"),
}
WEB_SEARCH_PER_1000 = F(10)


def table_rates(row, overrides):
    """Rates for a raw row: the org's override in force on its UTC date, else the table."""
    series = row.series
    key = (series.model.model_id, series.context_window)
    day = row.timestamp.astimezone(dt.UTC).date()
    chosen = None
    for since, model, tier, rates in sorted(overrides):
        if model == key[0] and tier == series.service_tier and since <= day:
            chosen = rates
    if chosen is None:
        if key not in TABLE:
            return None
        chosen = TABLE[key]
        if series.service_tier == "batch":
            return tuple(F(v) / 2 for v in chosen)
    return tuple(F(v) for v in chosen)


def expected(rows, *, overrides=(), code=None, org_rows=None, start=None, end=None):
    """Independent total (Fraction), unpriced tokens and per-row cost, from raw rows.

    ``code`` = (USD per hour, free hours per month) applies the allowance org-wide over
    ``org_rows`` (all the organisation's rows, in time order) before filtering.
    """
    per_row = {}
    unpriced = 0
    free_left = {}
    if code is not None:
        per_hour, free_hours = code
        for r in sorted(org_rows or rows, key=lambda r: (r.timestamp, r.series_id)):
            month = r.timestamp.astimezone(dt.UTC).strftime("%Y-%m")
            left = free_left.setdefault(month, free_hours * 3_600_000)
            free = min(left, r.code_execution_ms)
            free_left[month] = left - free
            per_row[r.request_id] = F(r.code_execution_ms - free) * F(per_hour) / 3_600_000
    total = F(0)
    costs = {}
    for r in rows:
        if start is not None and not (start <= r.timestamp < end):
            continue
        rates = table_rates(r, overrides)
        # Web search and code execution are priced whether or not the model is.
        web = F(r.web_search_requests) * WEB_SEARCH_PER_1000 / 1000
        cost = per_row.get(r.request_id, F(0)) + web
        if rates is None:
            unpriced += sum(getattr(r, f) for f in TOKEN_FIELDS)
        else:
            cost += sum(
                F(getattr(r, f)) * rate / 10**6 for f, rate in zip(TOKEN_FIELDS, rates, strict=True)
            )
        costs[r.request_id] = cost
        total += cost
    return total, unpriced, costs


def sonnet_org_price(org, since: dt.date, rates: tuple) -> tuple:
    """An org price for standard Sonnet 4.5 from ``since`` at ``rates`` (input, 5m write,
    1h write, read, output, USD per million tokens), and the override ``expected`` takes."""
    ModelPrice.objects.create(
        org=org,
        model_pattern=SONNET,
        service_tier="standard",
        context_window="0-200k",
        effective_from=since,
        input_per_mtok=Decimal(rates[0]),
        cache_write_5m_per_mtok=Decimal(rates[1]),
        cache_write_1h_per_mtok=Decimal(rates[2]),
        cache_read_per_mtok=Decimal(rates[3]),
        output_per_mtok=Decimal(rates[4]),
    )
    return (since, SONNET, "standard", rates)


def sonnet_price_from_may_15(org, input_per_mtok: str) -> tuple:
    return sonnet_org_price(org, dt.date(2026, 5, 15), (input_per_mtok, "2.5", "4", "0.2", "9"))


def close(decimal_amount: Decimal, fraction: Fraction, lines: int = 1000) -> bool:
    """Equal up to the 1e-12 rounding of code-execution lines."""
    return abs(F(decimal_amount) - fraction) <= F(lines, 10**12)


@pytest.fixture
def research(org):
    return factories.make_workspace(org, "Research")


def test_every_token_type_batch_long_context_priority_and_web_search(org, research):
    s = series_for(org)
    batch = series_for(org, workspace=research, service_tier="batch")
    long = series_for(org, context_window="200k-1M")
    long_batch = series_for(org, service_tier="batch", context_window="200k-1M")
    priority = series_for(org, service_tier="priority")
    opus_long = series_for(org, model=OPUS, context_window="200k-1M")
    counts = dict(
        uncached_input_tokens=123_457,
        cache_write_5m_tokens=20_001,
        cache_write_1h_tokens=30_003,
        cache_read_tokens=400_009,
        output_tokens=5_011,
    )
    rows = [
        raw(series, utc(2026, 5, day, hour, 17), **counts, web_search_requests=day % 3)
        for series in (s, batch, long, long_batch, priority, opus_long)
        for day, hour in ((1, 0), (9, 13), (31, 23))
    ]
    store_and_roll_up(org, rows)
    want, _, _ = expected(rows)

    report = cost_report(org, zone=UTC, year=2026, month=5)
    assert F(report.totals.total) == want
    assert report.totals.unpriced_tokens == 0
    # Token types add up to the token cost, and everything to the total.
    assert sum(a for _l, a in report.totals.token_types) == report.totals.tokens
    assert report.totals.tokens + report.totals.web_search == report.totals.total
    assert F(report.totals.web_search) == F(6 * (1 + 0 + 1) * 10, 1000)  # 12 searches
    assert sum(line.amount for line in report.lines) == report.totals.total
    assert sum(sum(v) for v in report.chart.values()) == report.totals.total
    # The batch series alone: half the standard price, cache multipliers included.
    only_research = cost_report(org, zone=UTC, year=2026, month=5, workspace=research)
    assert F(only_research.totals.total) == expected([r for r in rows if r.series == batch])[0]
    tokens_of_s = expected([r for r in rows if r.series == s])[0] - F(2 * 10, 1000)
    assert F(only_research.totals.tokens) * 2 == tokens_of_s


@pytest.mark.parametrize("zone", [UTC, KOLKATA, ZoneInfo("America/New_York")])
@pytest.mark.parametrize(
    "group", ["model", "workspace", "cost_type", "token_type", "service_tier", "account"]
)
def test_daily_chart_matches_local_days_of_raw_rows(org, research, zone, group):
    ada = Account.objects.create(org=org, external_id="ada@example.com", name="Ada")
    a = series_for(org, account=ada)
    b = series_for(org, workspace=research, model=HAIKU3, service_tier="batch")
    u = series_for(org, model="claude-unknown-9")
    rows = [
        raw(
            series,
            utc(2026, 3, day, hour, minute),
            uncached_input_tokens=1000 * day + hour,
            output_tokens=day * 7,
            cache_read_tokens=minute * 11,
        )
        for series in (a, b, u)
        for day in (1, 8, 9, 31)
        for hour, minute in ((0, 0), (5, 29), (5, 30), (18, 31), (23, 59))
    ]
    store_and_roll_up(org, rows)
    report = cost_report(org, zone=zone, year=2026, month=3, group=group)
    _, want_unpriced, per_row = expected(rows)
    by_day = defaultdict(F)
    for r in rows:
        by_day[r.timestamp.astimezone(zone).date()] += per_row[r.request_id]
    for i, period in enumerate(report.periods):
        shown = sum(values[i] for values in report.chart.values())
        assert F(shown) == by_day.get(period.local_start.date(), F(0)), period.label
    in_month = [r for r in rows if r.timestamp.astimezone(zone).month == 3]
    assert F(report.totals.total) == expected(in_month)[0]
    assert report.totals.unpriced_tokens == sum(
        sum(getattr(r, f) for f in TOKEN_FIELDS) for r in in_month if r.series == u
    )
    assert report.totals.unpriced_tokens < want_unpriced or zone == UTC


def test_a_price_change_mid_month_applies_from_its_utc_date_in_any_zone(org):
    s = series_for(org)
    rows = [
        raw(s, utc(2026, 5, 14, hour, 30), uncached_input_tokens=1_000_000, output_tokens=1000)
        for hour in range(24)
    ] + [
        raw(s, utc(2026, 5, 15, hour, 30), uncached_input_tokens=1_000_000, output_tokens=1000)
        for hour in range(24)
    ]
    store_and_roll_up(org, rows)
    before = cost_report(org, zone=KOLKATA, year=2026, month=5)
    override = [sonnet_price_from_may_15(org, "2")]
    for zone in (UTC, KOLKATA):
        report = cost_report(org, zone=zone, year=2026, month=5)
        _, _, per_row = expected(rows, overrides=override)
        by_day = defaultdict(F)
        for r in rows:
            by_day[r.timestamp.astimezone(zone).date()] += per_row[r.request_id]
        for i, period in enumerate(report.periods):
            shown = sum(values[i] for values in report.chart.values())
            assert F(shown) == by_day.get(period.local_start.date(), F(0))
        assert F(report.totals.total) == sum(per_row.values())
    # Only the days from 15 May (UTC) changed.
    after = cost_report(org, zone=KOLKATA, year=2026, month=5)
    changed = [
        p.label
        for i, p in enumerate(before.periods)
        if sum(v[i] for v in before.chart.values()) != sum(v[i] for v in after.chart.values())
    ]
    assert changed == ["2026-05-15", "2026-05-16"]  # 15 May UTC straddles both local days


def test_code_execution_allowance_crossing_mid_month_in_time_order(org, research):
    ToolPrice.objects.create(
        org=org,
        kind="code_execution",
        effective_from=dt.date(2026, 1, 1),
        unit_price=Decimal("0.07"),
        free_hours_per_month=Decimal("2"),
    )
    a = series_for(org)
    b = series_for(org, workspace=research, model=HAIKU3)
    hour = 3_600_000
    rows = [
        raw(b, utc(2026, 4, 30, 23, 0), code_execution_ms=5 * hour),  # April: its own allowance
        raw(a, utc(2026, 5, 2, 10, 0), code_execution_ms=hour // 2),
        raw(b, utc(2026, 5, 9, 7, 45), code_execution_ms=hour // 2),
        raw(a, utc(2026, 5, 12, 10, 10), code_execution_ms=hour // 2),
        raw(b, utc(2026, 5, 12, 10, 40), code_execution_ms=hour),  # crosses: 30 min free
        raw(a, utc(2026, 5, 12, 10, 50), code_execution_ms=hour // 3),
        raw(b, utc(2026, 5, 20, 0, 0), code_execution_ms=1234),
    ]
    store_and_roll_up(org, rows)
    code = (F("0.07"), 2)
    may = [r for r in rows if r.timestamp.month == 5]
    report = cost_report(org, zone=UTC, year=2026, month=5)
    want, _, _ = expected(may, code=code, org_rows=rows)
    assert close(report.totals.code_execution, want)
    assert report.totals.code_execution_free_ms == 2 * hour
    # Filtering to one workspace does not give it the others' allowance.
    mine = cost_report(org, zone=UTC, year=2026, month=5, workspace=research)
    want_b, _, _ = expected([r for r in may if r.series == b], code=code, org_rows=rows)
    assert close(mine.totals.code_execution, want_b)
    # The crossing hour read by local hour in a +05:30 zone: 10:00-10:30 UTC is one local
    # hour, 10:30-11:00 the next; time order within the hour decides who is free.
    day = cost_report(org, zone=KOLKATA, year=2026, month=5, day=dt.date(2026, 5, 12))
    _, _, per_row = expected(may, code=code, org_rows=rows)
    by_hour = defaultdict(F)
    for r in may:
        local = r.timestamp.astimezone(KOLKATA)
        if local.date() == dt.date(2026, 5, 12):
            by_hour[local.strftime("%H:%M")[:2]] += per_row[r.request_id]
    for i, period in enumerate(day.periods):
        shown = sum(values[i] for values in day.chart.values())
        assert close(shown, by_hour.get(period.label[:2], F(0))), period.label
    assert by_hour["15"] == 0 and by_hour["16"] > 0  # 10:10 UTC free, 10:40 UTC partly billed


def test_unpriced_model_shows_tokens_not_zero(org):
    u = series_for(org, model="claude-future-9")
    store_and_roll_up(org, [raw(u, utc(2026, 5, 3), uncached_input_tokens=10, output_tokens=5)])
    report = cost_report(org, zone=UTC, year=2026, month=5)
    assert report.totals.total == 0 and report.totals.unpriced_tokens == 15
    assert report.totals.unpriced_models == {"claude-future-9": 15}
    assert [(line.key.unpriced, line.amount) for line in report.lines] == [(True, None)] * 2
    assert report.chart == {}


def test_previous_month_change_and_run_rate_projection(org):
    s = series_for(org)
    rows = [
        raw(s, utc(2026, 4, 10), uncached_input_tokens=1_000_000),  # $3
        raw(s, utc(2026, 5, 2), uncached_input_tokens=2_000_000),  # $6
    ]
    store_and_roll_up(org, rows)
    now = utc(2026, 5, 11)  # 10 of 31 days
    report = cost_report(org, zone=UTC, year=2026, month=5, now=now)
    assert report.previous_total == Decimal(3)
    assert report.change == Decimal(1)
    assert report.projection == Decimal(6) * 31 / 10
    past = cost_report(org, zone=UTC, year=2026, month=4, now=now)
    assert past.projection is None and past.previous_total == 0 and past.change is None


def test_day_view_by_hour_and_model_filter(org):
    s = series_for(org)
    o = series_for(org, model=OPUS)
    rows = [
        raw(x, utc(2026, 5, 7, h, 5), output_tokens=1000 * (h + 1))
        for x in (s, o)
        for h in (0, 9, 23)
    ]
    store_and_roll_up(org, rows)
    report = cost_report(org, zone=UTC, year=2026, month=5, day=dt.date(2026, 5, 7), model=o.model)
    assert report.level == "day" and len(report.periods) == 24
    assert list(report.chart) == ["Claude Opus 4.6"]
    assert [F(v) for v in report.chart["Claude Opus 4.6"]] == [
        F(1000 * (h + 1) * 25, 10**6) if h in (0, 9, 23) else 0 for h in range(24)
    ]


def test_price_change_and_allowance_crossing_in_one_local_day_add_up_exactly(org, research):
    """Usage summed per model and price period, not per bucket, still prices every row at
    its own UTC date's rate, and every view (lines, chart, CSV lines, totals) agrees."""
    ToolPrice.objects.create(
        org=org,
        kind="code_execution",
        effective_from=dt.date(2026, 1, 1),
        unit_price=Decimal("0.07"),
        free_hours_per_month=Decimal("1"),
    )
    override = [sonnet_price_from_may_15(org, "2.000001")]
    code = (F("0.07"), 1)
    a = series_for(org)
    b = series_for(org, workspace=research, model=HAIKU3, service_tier="batch")
    minute = 60_000
    rows = [
        raw(
            series,
            utc(2026, 5, day, hour, m),
            uncached_input_tokens=1_000_003 * hour + m,
            output_tokens=7 * m + 1,
            cache_read_tokens=11 * day,
            web_search_requests=m % 2,
            # 24 minutes of code a row: the hour's allowance runs out early on 15 May UTC
            code_execution_ms=24 * minute + 7 if day == 15 and hour == 0 else 0,
        )
        for series in (a, b)
        for day, hours in ((14, (12, 18, 23)), (15, (0, 5, 18)), (16, (1,)))
        for hour in hours
        for m in (5, 20, 35)
    ]
    store_and_roll_up(org, rows)
    zone = ZoneInfo("Asia/Kathmandu")  # +05:45: 15 May 00:00 UTC is 05:45 local
    _, _, per_row = expected(rows, overrides=override, code=code, org_rows=rows)

    for group in ("model", "workspace", "token_type"):
        day = cost_report(
            org, zone=zone, year=2026, month=5, day=dt.date(2026, 5, 15), group=group,
            lines_per_period=True,
        )  # fmt: skip
        month = cost_report(org, zone=zone, year=2026, month=5, group=group, lines_per_period=True)
        for report in (day, month):
            local = [r for r in rows if report.start <= r.timestamp < report.end]
            with_code, _, _ = expected(local, overrides=override, code=code, org_rows=rows)
            without_code, _, _ = expected(local, overrides=override)
            # Tokens and searches are exact; code execution is rounded to 1e-12 per line.
            assert F(report.totals.tokens + report.totals.web_search) == without_code
            assert close(report.totals.code_execution, with_code - without_code, lines=10)
            assert report.totals.code_execution_free_ms == 60 * minute  # all on 15 May
            assert report.totals.code_execution_ms == 6 * (24 * minute + 7)
            # Lines, chart bars and CSV lines are sums of the same amounts.
            assert sum(line.amount for line in report.lines) == report.totals.total
            assert sum(sum(v) for v in report.chart.values()) == report.totals.total
            assert sum(line.amount for _p, line in report.period_lines) == report.totals.total
        by_hour = defaultdict(F)
        for r in rows:
            by_hour[r.timestamp.astimezone(zone).replace(minute=0)] += per_row[r.request_id]
        for i, period in enumerate(day.periods):
            shown = sum(values[i] for values in day.chart.values())
            assert close(shown, by_hour.get(period.local_start, F(0)), lines=10), period.label
        assert by_hour[dt.datetime(2026, 5, 15, 5, tzinfo=zone)] > 0  # old and new price


def test_grouped_by_user_ranks_people_by_cost_and_filters_one(org, research):
    ada = Account.objects.create(org=org, external_id="u_ada", name="Ada")
    bob = Account.objects.create(org=org, external_id="u_bob", name="Bob")
    same_name = Account.objects.create(org=org, external_id="u_bob2", name="Bob")
    people = {None: 1, ada: 5, bob: 3, same_name: 2}
    rows = []
    for account, weight in people.items():
        for series in (
            series_for(org, account=account),
            series_for(org, workspace=research, model=OPUS, account=account),
        ):
            rows += [
                raw(
                    series,
                    utc(2026, 5, day, 9),
                    uncached_input_tokens=1000 * weight * day,
                    output_tokens=300 * weight,
                    web_search_requests=weight % 2,
                )
                for day in (2, 17, 30)
            ]
    store_and_roll_up(org, rows)

    def cost_of(account):
        return expected([r for r in rows if r.series.account == account])[0]

    report = cost_report(org, zone=UTC, year=2026, month=5, group="account")
    assert [label for label, _ in report.ranking] == [
        "Ada (u_ada)",
        "Bob (u_bob)",
        "Bob (u_bob2)",
        "No account",
    ]
    assert [F(amount) for _, amount in report.ranking] == [
        cost_of(ada),
        cost_of(bob),
        cost_of(same_name),
        cost_of(None),
    ]
    assert F(report.totals.total) == expected(rows)[0]
    lines = {(line.key.account_id, line.key.account_name) for line in report.lines}
    assert lines == {("u_ada", "Ada"), ("u_bob", "Bob"), ("u_bob2", "Bob"), ("", "")}
    only_bob = cost_report(org, zone=UTC, year=2026, month=5, account_ids=(bob.pk,))
    assert F(only_bob.totals.total) == cost_of(bob)
    nobody = cost_report(org, zone=UTC, year=2026, month=5, account_ids=())
    assert nobody.totals.total == 0 and not nobody.has_data


@pytest.mark.parametrize("zone", [UTC, KOLKATA])
def test_costs_by_and_of_accounts_match_raw_rows_by_local_day_and_hour(org, research, zone):
    """By account (day buckets of every series, raw rows finer than a day) and without
    (base buckets): each local day's and hour's cost, grouped or filtered by person, is the
    independent cost of its raw rows; late rows count, a pending batch does not, and the
    code-execution allowance runs out in the same place whatever the grouping."""
    from tests.usage.rawrows import store_batch

    ToolPrice.objects.create(
        org=org,
        kind="code_execution",
        effective_from=dt.date(2026, 1, 1),
        unit_price=Decimal("0.07"),
        free_hours_per_month=Decimal("1"),
    )
    ada = Account.objects.create(org=org, external_id="u_ada", name="Ada")
    bob = Account.objects.create(org=org, external_id="u_bob", name="Bob")
    series = [
        series_for(org, account=account, **dims)
        for account in (None, ada, bob)
        for dims in ({}, {"workspace": research, "model": OPUS, "service_tier": "batch"})
    ]
    minutes = [(day, hour, minute) for day in (1, 3, 4, 30) for hour, minute in
               ((0, 0), (5, 29), (5, 30), (9, 15), (18, 31), (23, 59))]  # fmt: skip
    # Within a minute the allowance is shared by base series, then series (buckets know no
    # finer order); seconds in that order make the time order of the raw rows the same.
    second = {s: i for i, s in enumerate(sorted(series, key=lambda s: (s.base_id or s.id, s.id)))}
    rows = [
        raw(
            s,
            utc(2026, 6, day, hour, minute, second[s]),
            uncached_input_tokens=1000 * day + 7 * i,
            output_tokens=50 + minute,
            cache_read_tokens=hour * 13,
            web_search_requests=i % 2,
            # 100 minutes of code execution a day in the 09:15 minute: June's free hour runs
            # out on the 1st, within that minute, part-way through one series' request.
            code_execution_ms=1_000_000 if (hour, minute) == (9, 15) else 0,
        )
        for i, s in enumerate(series)
        for day, hour, minute in minutes
    ]
    store_and_roll_up(org, rows[::2])
    store_and_roll_up(org, rows[1::2])  # late rows: between and before the first ones
    store_batch(org, [raw(series[1], utc(2026, 6, 3, 9, 15), uncached_input_tokens=10**9)])
    code = (F("0.07"), 1)
    _, _, per_row = expected(rows, code=code, org_rows=rows)

    def by_local(unit, of=lambda r: True):
        out = defaultdict(F)
        for r in rows:
            if of(r):
                local = r.timestamp.astimezone(zone)
                out[local.date() if unit == "day" else (local.date(), local.hour)] += per_row[
                    r.request_id
                ]
        return out

    def shown(report, i, groups=None):
        return sum(v[i] for g, v in report.chart.items() if groups is None or g in groups)

    for day in (None, dt.date(2026, 6, 1), dt.date(2026, 6, 4)):
        unit = "day" if day is None else "hour"
        for group in ("account", "model"):
            report = cost_report(org, zone=zone, year=2026, month=6, day=day, group=group)
            want = by_local(unit)
            for i, p in enumerate(report.periods):
                key = p.local_start.date() if day is None else (day, p.local_start.hour)
                assert close(shown(report, i), want.get(key, F(0)), 12), (group, p.label)
        report = cost_report(org, zone=zone, year=2026, month=6, day=day, group="account")
        for account, label in ((ada, "Ada (u_ada)"), (bob, "Bob (u_bob)"), (None, "No account")):
            want = by_local(unit, lambda r, a=account: r.series.account == a)
            only = (
                None
                if account is None
                else cost_report(
                    org, zone=zone, year=2026, month=6, day=day, account_ids=(account.pk,)
                )
            )
            for i, p in enumerate(report.periods):
                key = p.local_start.date() if day is None else (day, p.local_start.hour)
                assert close(shown(report, i, {label}), want.get(key, F(0)), 12), (label, p)
                if only is not None:
                    assert close(shown(only, i), want.get(key, F(0)), 12), (label, p.label)


def test_crossing_hour_is_shared_in_sql_in_time_order(org, research):
    """The free time of the hour in which the allowance runs out, shared in SQL by a running
    sum and added up per minute and dims, is what sharing each series' minutes one by one in
    time order gives: by base series and by account, for the organisation and for one
    workspace; and all of the allowance is given out."""
    from collections import Counter

    from costs.selectors import PARTIAL, _CodeAllowance, price_book
    from usage.selectors import Scope

    ToolPrice.objects.create(
        org=org,
        kind="code_execution",
        effective_from=dt.date(2026, 1, 1),
        unit_price=Decimal("0.07"),
        free_hours_per_month=Decimal("1"),
    )
    ada = Account.objects.create(org=org, external_id="u_ada", name="Ada")
    series = [
        series_for(org, account=account, **dims)
        for account in (None, ada)
        for dims in ({}, {"workspace": research, "model": OPUS})
    ]
    # 4 series x 3 minutes x ~400,000 ms: the free hour (3,600,000 ms) runs out at 09:07.
    rows = [
        raw(s, utc(2026, 6, 1, 9, minute, i), code_execution_ms=400_000 + 1_000 * i)
        for i, s in enumerate(series)
        for minute in (5, 6, 7)
    ]
    store_and_roll_up(org, rows)
    allowance = _CodeAllowance(org, price_book(org), utc(2026, 6, 1), utc(2026, 7, 1))
    hour = utc(2026, 6, 1, 9)
    assert allowance.state(hour) == PARTIAL
    fields = ["model_id", "service_tier", "context_window", "workspace_id"]
    for accounts in (False, True):
        for scope in (Scope(org_id=org.id), Scope(org_id=org.id, workspace_id=research.pk)):
            got = Counter()
            for minute, dims, ms in allowance.partial_free(hour, accounts, scope, fields):
                got[(minute, dims)] += ms
            want = Counter()
            for minute, dims, ms in allowance._partial_free_in_python(
                hour, accounts, scope, fields
            ):
                want[(minute, dims)] += ms
            assert got == want
            if scope.workspace_id is None:
                assert sum(got.values()) == 3_600_000
                assert {minute.minute for minute, _dims in got} == {5, 6, 7}
            else:  # 09:07's last free time goes to the default workspace, shared first
                assert {minute.minute for minute, _dims in got} == {5, 6}
