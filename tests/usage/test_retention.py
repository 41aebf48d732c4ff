"""Minute buckets kept MINUTE_RETENTION_DAYS, dropped a day (a partition) at a time, while
quarter hours keep every local period exact in zones of +05:45 and +05:30."""

import datetime as dt
import re
from collections import Counter
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from costs.selectors import cost_report
from tests import factories
from tests.usage.rawrows import (
    expected_buckets,
    expected_model_buckets,
    raw,
    series_for,
    store_batch,
    stored_buckets,
    stored_model_buckets,
)
from usage import partitions, retention, tasks
from usage.models import MinuteBucket
from usage.rollups import COUNT_COLUMNS, rollup_pending
from usage.selectors import Scope, UsageQuery, usage_report

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="partitions need PostgreSQL"
)

PAGE = reverse("usage:page")
EXPORT = reverse("usage:export")
HAIKU = "claude-haiku-4-5-20251001"


def utc(*args):
    return dt.datetime(*args, tzinfo=dt.UTC)


def minute_partitions() -> set[str]:
    return {p.name for p in partitions.list_partitions(partitions.MINUTES)}


@pytest.mark.postgres
@postgres_only
def test_minute_buckets_are_partitioned_by_utc_day_with_a_default(db):
    assert partitions.is_partitioned(partitions.MINUTES)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_partkeydef('usage_minutebucket'::regclass)")
        assert cursor.fetchone()[0] == "RANGE (start)"
    day = partitions.partition_for(utc(2032, 2, 29, 23, 59), partitions.MINUTES)
    assert (day.name, day.start, day.end) == (
        "usage_minutebucket_p2032_02_29",
        utc(2032, 2, 29),
        utc(2032, 3, 1),
    )
    created = partitions.ensure_partitions(utc(2032, 2, 29, 12), partitions.MINUTES)
    assert created[0] == "usage_minutebucket_p2032_02_28" and len(created) == 9


@pytest.mark.postgres
@postgres_only
def test_minute_buckets_older_than_the_window_go_by_whole_partitions(org, settings):
    settings.MINUTE_RETENTION_DAYS = 10
    now = utc(2032, 3, 20, 12)  # the horizon is 2032-03-10 00:00 UTC
    partitions.ensure_partitions_for(utc(2032, 3, 1), utc(2032, 3, 21), partitions.MINUTES)
    s = series_for(org)
    rows = [
        raw(s, utc(2032, 3, d, h, m), output_tokens=100 * d + h, uncached_input_tokens=m + 1)
        for d in (2, 9, 10, 15)
        for h, m in ((0, 0), (13, 37), (23, 59))
    ]
    stray = [raw(s, utc(2031, 7, 4, 5, 6), output_tokens=3)]  # no partition: the default
    store_batch(org, rows + stray)
    rollup_pending()
    kept = {unit: stored_buckets(org, unit) for unit in ("quarter", "hour", "day")}
    assert kept["quarter"] == expected_buckets(rows + stray, "quarter")
    model_quarters = stored_model_buckets(org, "quarter")
    assert model_quarters == expected_model_buckets(rows + stray, "quarter")
    statements = []

    def spy(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        removed = retention.purge_minute_buckets(now)

    assert removed == 2 * 3 + 1
    names = minute_partitions()
    assert {"usage_minutebucket_p2032_03_02", "usage_minutebucket_p2032_03_09"}.isdisjoint(names)
    assert "usage_minutebucket_p2031_07_04" not in names  # split out of the default, dropped
    assert {"usage_minutebucket_p2032_03_10", "usage_minutebucket_p2032_03_15"} <= names
    recent = [r for r in rows if r.timestamp >= utc(2032, 3, 10)]
    assert stored_buckets(org, "minute") == expected_buckets(recent, "minute")
    assert {unit: stored_buckets(org, unit) for unit in kept} == kept  # nothing else moves
    assert stored_model_buckets(org, "quarter") == model_quarters
    assert any(s.startswith("DROP TABLE usage_minutebucket_p2032_03_02") for s in statements)
    assert not any(re.search(r"DELETE FROM usage_minutebucket\b", s) for s in statements)
    # A second run finds nothing more to drop.
    assert retention.purge_minute_buckets(now) == 0


def test_sqlite_deletes_the_minute_buckets_older_than_the_window(org, settings):
    settings.MINUTE_RETENTION_DAYS = 10
    now = utc(2032, 3, 20, 12)
    s = series_for(org)
    rows = [raw(s, utc(2032, 3, d, 23, 59), output_tokens=d) for d in (9, 10)]
    store_batch(org, rows)
    rollup_pending()

    assert retention.purge_minute_buckets(now) == 1

    assert stored_buckets(org, "minute") == expected_buckets(rows[1:], "minute")
    assert stored_buckets(org, "quarter") == expected_buckets(rows, "quarter")


def test_zero_keeps_minutes_forever(org, settings):
    settings.MINUTE_RETENTION_DAYS = 0
    store_batch(org, [raw(series_for(org), utc(2001, 1, 1, 0, 1), output_tokens=1)])
    rollup_pending()
    assert retention.minute_retention_horizon(utc(2040, 1, 1)) is None
    assert retention.purge_minute_buckets(utc(2040, 1, 1)) == 0
    assert MinuteBucket.objects.filter(org=org).count() == 1


@pytest.mark.postgres
@postgres_only
def test_the_beat_tasks_keep_minute_partitions_ahead_and_drop_old_ones(org, settings):
    settings.MINUTE_RETENTION_DAYS = 35
    created = tasks.maintain_partitions.apply().get()
    today = partitions.partition_for(timezone.now(), partitions.MINUTES)
    assert today.name in minute_partitions()
    ahead = partitions.partition_for(timezone.now() + dt.timedelta(days=7), partitions.MINUTES)
    assert ahead.name in minute_partitions()
    assert isinstance(created, list)
    old = timezone.now() - dt.timedelta(days=60)
    store_batch(org, [raw(series_for(org), old, output_tokens=5)])
    rollup_pending()
    assert MinuteBucket.objects.filter(org=org).count() == 1

    tasks.purge_raw_logs.apply().get()

    assert MinuteBucket.objects.filter(org=org).count() == 0
    assert partitions.partition_for(old, partitions.MINUTES).name not in minute_partitions()


def _month_rows(org):
    """July 2031 (and its neighbours' edges) with requests on both sides of every quarter
    hour around the local midnights of +05:45 (18:15 UTC) and +05:30 (18:30 UTC)."""
    key = factories.make_api_key(org, name="prod", external_id="apikey_prod")
    series = [
        series_for(org),
        series_for(org, model=HAIKU, service_tier="batch"),
        series_for(org, api_key=key),
    ]
    stamps = [utc(2031, 6, 30, 18, 20), utc(2031, 8, 1, 18, 40), utc(2031, 8, 1, 18, 10)]
    for day in range(1, 32):
        for h, m in ((0, 0), (18, 14), (18, 15), (18, 29), (18, 30), (18, 44), (18, 45)):
            stamps.append(utc(2031, 7, day, h, m, day % 60))
        stamps.append(utc(2031, 7, day, 23, 59, 59))
    return key, [
        raw(
            s,
            stamp,
            uncached_input_tokens=1000 * stamp.day + stamp.minute + i,
            cache_read_tokens=stamp.hour * 7 + i,
            output_tokens=stamp.minute * 3 + 1,
        )
        for i, s in enumerate(series)
        for stamp in stamps
    ]


def _raw_by_local(rows, zone, unit, keep=lambda r: True) -> dict:
    out: dict = {}
    for r in rows:
        if not keep(r):
            continue
        local = r.timestamp.astimezone(zone)
        at = local.date() if unit == "day" else local.replace(minute=0, second=0, microsecond=0)
        c = out.setdefault(at.isoformat()[:16] if unit == "hour" else at, Counter())
        c["requests"] += 1
        for col in COUNT_COLUMNS:
            c[col] += getattr(r, col)
    return out


def _figures(counts) -> tuple:
    return tuple(counts[c] for c in ("requests", "uncached_input_tokens", "output_tokens"))


@pytest.mark.parametrize("zone_name", ["Asia/Kathmandu", "Asia/Kolkata"])
def test_quarter_hours_keep_a_month_exact_after_minute_retention(org, settings, zone_name):
    settings.MINUTE_RETENTION_DAYS = 35
    zone = ZoneInfo(zone_name)
    now = utc(2031, 10, 1)  # the horizon is 26 August: every minute of July is past it
    key, rows = _month_rows(org)
    store_batch(org, rows)
    rollup_pending()
    # The raw sums, computed before retention, and the Cost page as it was with minutes.
    by_day = _raw_by_local(rows, zone, "day")
    by_day_key = _raw_by_local(rows, zone, "day", keep=lambda r: r.series.api_key_id == key.id)
    first = dt.date(2031, 7, 20)
    by_hour = _raw_by_local(
        rows, zone, "hour", keep=lambda r: r.timestamp.astimezone(zone).date() == first
    )
    costs_before = {
        group: cost_report(org, zone=zone, year=2031, month=7, group=group, now=now)
        for group in ("model", "workspace")
    }
    day_cost_before = cost_report(org, zone=zone, year=2031, month=7, day=first, now=now)

    assert retention.purge_minute_buckets(now) > 0
    assert MinuteBucket.objects.filter(org=org).count() == 0

    scopes = {"all": (Scope(org.id), by_day), "key": (Scope(org.id, api_key_id=key.id), by_day_key)}
    for scope, expected in scopes.values():
        report = usage_report(UsageQuery(scope, zone, 2031, 7, now=now))
        for period, counts in zip(report["periods"], report["per_period"], strict=True):
            want = expected.get(period.local_start.date(), Counter())
            assert _figures(counts) == _figures(want), (zone_name, period.label)
        in_month = [c for d, c in expected.items() if d.month == 7]
        assert _figures(report["totals"]) == _figures(sum(in_month, Counter()))
    grouped = usage_report(UsageQuery(Scope(org.id), zone, 2031, 7, group_by="model", now=now))
    assert sum(g["requests"] for g in grouped["groups"]) == sum(
        c["requests"] for d, c in by_day.items() if d.month == 7
    )
    day = usage_report(UsageQuery(Scope(org.id), zone, 2031, 7, day=first, now=now))
    for period, counts in zip(day["periods"], day["per_period"], strict=True):
        want = by_hour.get(period.local_start.isoformat()[:16], Counter())
        assert _figures(counts) == _figures(want), period.label
    for group, before in costs_before.items():
        after = cost_report(org, zone=zone, year=2031, month=7, group=group, now=now)
        assert after.chart == before.chart and after.totals == before.totals, group
        assert after.totals.total > 0
    day_cost = cost_report(org, zone=zone, year=2031, month=7, day=first, now=now)
    assert day_cost.chart == day_cost_before.chart and day_cost.totals == day_cost_before.totals


def _old_hour(org):
    """An hour 60 days ago, rolled up, and its minutes past a 35-day window, dropped."""
    day = (timezone.now() - dt.timedelta(days=60)).astimezone(dt.UTC)
    hour = day.replace(hour=10, minute=0, second=0, microsecond=0)
    s = series_for(org)
    rows = [raw(s, hour + dt.timedelta(minutes=m), output_tokens=10 + m) for m in (5, 20, 59)]
    rows.append(raw(s, hour - dt.timedelta(minutes=1), output_tokens=1000))  # the hour before
    store_batch(org, rows)
    rollup_pending()
    retention.purge_minute_buckets()
    return hour


def _query(at, **extra) -> str:
    params = {
        "month": f"{at:%Y-%m}",
        "day": f"{at:%Y-%m-%d}",
        "tz": "UTC",
        **extra,
    }
    return "&".join(f"{k}={v}" for k, v in params.items())


def test_the_minute_drill_of_an_old_hour_says_why_it_is_unavailable(client, org, settings):
    settings.MINUTE_RETENTION_DAYS = 35
    hour = _old_hour(org)
    client.force_login(factories.make_member(org))

    response = client.get(f"{PAGE}?{_query(hour, hour=f'{hour:%H}:00')}")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="minutes-gone"' in page
    assert "Minute detail is kept for 35 days; this hour is older." in page
    assert 'data-testid="usage-chart"' not in page  # no chart of zeros
    assert 'data-testid="periods"' not in page
    assert 'data-total="output_tokens">114<' in page  # the hour's own total, exact
    assert 'data-total="requests">3<' in page
    # The day by hour still works, and its rate limit use (peaks per minute) says why not.
    day = client.get(f"{PAGE}?{_query(hour)}").content.decode()
    assert 'data-testid="usage-chart"' in day and 'data-total="output_tokens">1,114<' in day
    # ... and says, for that old day, that its hours go no further (no drill links).
    assert "Minute detail is kept for 35 days; this day is older" in day
    assert "&amp;hour=" not in day and "data-drill-index" not in day
    limits = client.get(f"{PAGE}?{_query(hour, part='limits')}", HTTP_HX_REQUEST="true")
    assert "minute detail is kept for 35 days; this day is older" in limits.content.decode()
    # Minute rows of that hour cannot be exported either: a 400 that says why.
    export = client.get(f"{EXPORT}?{_query(hour, hour=f'{hour:%H}:00')}")
    assert export.status_code == 400
    assert "Minute detail is kept for 35 days" in export.content.decode()


def test_a_recent_hour_is_still_drilled_to_minutes(client, org, settings):
    settings.MINUTE_RETENTION_DAYS = 35
    hour = (timezone.now() - dt.timedelta(days=2)).astimezone(dt.UTC)
    hour = hour.replace(minute=0, second=0, microsecond=0)
    store_batch(org, [raw(series_for(org), hour + dt.timedelta(minutes=7), output_tokens=9)])
    rollup_pending()
    retention.purge_minute_buckets()
    client.force_login(factories.make_member(org))

    page = client.get(f"{PAGE}?{_query(hour, hour=f'{hour:%H}:00')}").content.decode()

    assert 'data-testid="minutes-gone"' not in page
    assert 'data-testid="usage-chart"' in page
    day = client.get(f"{PAGE}?{_query(hour)}").content.decode()
    assert 'data-testid="minutes-gone-day"' not in day and "data-drill-index" in day


@pytest.mark.parametrize("zone_name", ["UTC", "Asia/Kolkata"])
def test_the_code_allowance_crossing_an_old_hour_is_shared_by_quarter_hour_alike(
    org, settings, zone_name
):
    """The free code-execution time of the hour in which the allowance runs out is shared in
    time order; once that hour's minutes are gone it is read by quarter hour, and every
    segment edge of today's zones is a quarter hour: the same amounts by group and period."""
    from costs.models import ToolPrice

    zone = ZoneInfo(zone_name)
    ToolPrice.objects.create(
        org=org,
        kind="code_execution",
        effective_from=dt.date(2026, 1, 1),
        unit_price=Decimal("0.07"),
        free_hours_per_month=Decimal("2"),
    )
    research = factories.make_workspace(org, "Research", "wrkspc_research")
    a, b = series_for(org), series_for(org, workspace=research, model=HAIKU)
    hour = 3_600_000
    rows = [
        raw(a, utc(2026, 5, 2, 10, 0), code_execution_ms=hour // 2),
        raw(b, utc(2026, 5, 9, 7, 45), code_execution_ms=hour // 2),
        raw(a, utc(2026, 5, 12, 10, 10), code_execution_ms=hour // 2),
        raw(b, utc(2026, 5, 12, 10, 40), code_execution_ms=hour),  # crosses: 30 min free
        raw(a, utc(2026, 5, 12, 10, 50), code_execution_ms=hour // 3),
    ]
    store_batch(org, rows)
    rollup_pending()
    day = dt.date(2026, 5, 12)

    def reports():
        return [
            cost_report(org, zone=zone, year=2026, month=5, group="workspace"),
            cost_report(org, zone=zone, year=2026, month=5, day=day, group="workspace"),
        ]

    settings.MINUTE_RETENTION_DAYS = 0
    before = reports()  # read by minute
    settings.MINUTE_RETENTION_DAYS = 35  # May 2026 is older than that on any run
    retention.purge_minute_buckets()
    assert MinuteBucket.objects.filter(org=org).count() == 0

    # The month's two free hours; on the 12th the last half of the allowance, 10:10 and half
    # of 10:40 (UTC), while 10:50 is billed.
    for was, now, free in zip(before, reports(), (2 * hour, hour), strict=True):
        assert now.chart == was.chart and now.totals == was.totals
        assert now.totals.code_execution_free_ms == free
