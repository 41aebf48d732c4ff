"""Limit evaluation in process: what fires, when, and that nothing fires twice."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from costs.selectors import cost_report
from spend import selectors, services
from spend.models import Alert, Delivery
from tests.costs.builders import raw, store_and_roll_up
from tests.spend.builders import series_for, token_limit, tokens_at, utc
from usage.rollups import rebuild_rollups


@pytest.fixture
def evaluate(django_capture_on_commit_callbacks, mailoutbox):
    """Evaluate every limit at ``now`` and run the deliveries it enqueued; return the
    (threshold percent, period start, late) of the alerts it created."""

    def run(now):
        with django_capture_on_commit_callbacks(execute=True):
            services.evaluate_all(now)
        created = Alert.objects.filter(created_at__gte=run.since).order_by("id")
        run.since = dt.datetime.now(dt.UTC)
        return [(a.threshold.percent, a.period_start, a.late) for a in created]

    run.since = dt.datetime.now(dt.UTC)
    return run


def test_each_threshold_fires_once_per_period(org, evaluate, mailoutbox):
    token_limit(org, amount=1000, thresholds=(50, 100))
    day = utc(2026, 12, 2)
    tokens_at(org, day + dt.timedelta(hours=1), 499)
    assert evaluate(day + dt.timedelta(hours=2)) == []
    tokens_at(org, day + dt.timedelta(hours=2), 1)  # exactly 50%: reached
    assert evaluate(day + dt.timedelta(hours=3)) == [(50, day, False)]
    assert evaluate(day + dt.timedelta(hours=4)) == []
    tokens_at(org, day + dt.timedelta(hours=5), 600)
    assert evaluate(day + dt.timedelta(hours=6)) == [(100, day, False)]
    assert evaluate(day + dt.timedelta(hours=7)) == []
    assert len(mailoutbox) == 2
    assert [m.to for m in mailoutbox] == [["ops@acme.test"], ["ops@acme.test"]]
    assert "50% of the day limit of 1,000 tokens reached, 500 tokens" in mailoutbox[0].body
    assert set(Delivery.objects.values_list("status", "attempts")) == {("sent", 1)}


def test_a_period_starts_clean_at_its_boundary(org, evaluate):
    token_limit(org, amount=100, thresholds=(100,))
    tokens_at(org, utc(2026, 12, 1, 23, 59), 60)
    tokens_at(org, utc(2026, 12, 2, 0, 0), 60)  # the next day: neither day reaches 100
    assert evaluate(utc(2026, 12, 2, 0, 5)) == []
    tokens_at(org, utc(2026, 12, 2, 0, 6), 40)
    assert evaluate(utc(2026, 12, 2, 0, 7)) == [(100, utc(2026, 12, 2), False)]


def test_month_boundary_in_plus_0545(org, evaluate):
    zone = ZoneInfo("Asia/Kathmandu")  # +05:45: local midnight of 1 December is 18:15 UTC
    token_limit(org, amount=100, period="month", time_zone="Asia/Kathmandu", thresholds=(100,))
    december = dt.datetime(2026, 12, 1, tzinfo=zone).astimezone(dt.UTC)
    assert december == utc(2026, 11, 30, 18, 15)
    tokens_at(org, december - dt.timedelta(minutes=1), 99)  # 23:59 on 30 November, local
    tokens_at(org, december, 99)  # 00:00 on 1 December, local
    assert evaluate(december + dt.timedelta(minutes=5)) == []
    tokens_at(org, december + dt.timedelta(minutes=10), 1)
    assert evaluate(december + dt.timedelta(minutes=15)) == [(100, december, False)]


def test_day_across_a_dst_change_is_25_hours(org, evaluate):
    # New York falls back on 1 November 2026: the local day lasts from 04:00 UTC to 05:00 UTC
    # the day after; the 25th hour (04:00-05:00 UTC on the 2nd) still belongs to the 1st.
    token_limit(org, amount=100, time_zone="America/New_York", thresholds=(100,))
    start, end = utc(2026, 11, 1, 4), utc(2026, 11, 2, 5)
    tokens_at(org, start - dt.timedelta(minutes=1), 500)  # 23:59 EDT on 31 October
    tokens_at(org, start, 50)
    assert evaluate(utc(2026, 11, 2, 4, 0)) == [(100, utc(2026, 10, 31, 4), True)]
    tokens_at(org, utc(2026, 11, 2, 4, 30), 50)  # 23:30 EST on 1 November
    assert evaluate(utc(2026, 11, 2, 4, 45)) == [(100, start, False)]
    tokens_at(org, end, 500)  # 00:00 EST on 2 November: a new day
    assert evaluate(end + dt.timedelta(minutes=1)) == [(100, end, False)]


def test_a_late_row_for_the_past_period_sends_one_late_alert(org, evaluate, mailoutbox):
    token_limit(org, amount=100, thresholds=(50, 100))
    tokens_at(org, utc(2026, 12, 1, 12), 60)
    assert evaluate(utc(2026, 12, 1, 13)) == [(50, utc(2026, 12, 1), False)]
    assert evaluate(utc(2026, 12, 2, 1)) == []  # the next day
    tokens_at(org, utc(2026, 12, 1, 23, 30), 50)  # arrives late, for the day before
    assert evaluate(utc(2026, 12, 2, 2)) == [(100, utc(2026, 12, 1), True)]
    assert evaluate(utc(2026, 12, 2, 3)) == []
    assert mailoutbox[-1].body.startswith("LATE ALERT (found after the period ended)")
    assert len(mailoutbox) == 2


def test_a_rollup_rebuild_sends_nothing_again(org, evaluate, mailoutbox):
    token_limit(org, amount=100, thresholds=(50, 100))
    tokens_at(org, utc(2026, 12, 2, 1), 150)
    assert evaluate(utc(2026, 12, 2, 2)) == [
        (50, utc(2026, 12, 2), False),
        (100, utc(2026, 12, 2), False),
    ]
    rebuild_rollups(org.id, dt.date(2026, 12, 1), dt.date(2026, 12, 3))
    assert evaluate(utc(2026, 12, 2, 3)) == []
    assert len(mailoutbox) == 2


def test_scopes_count_only_their_usage(org, evaluate):
    from tests import factories

    workspace = factories.make_workspace(org, "Research", "wrkspc_r")
    key = factories.make_api_key(org, workspace, "batch")
    token_limit(org, name="key", amount=100, thresholds=(100,), api_key=key)
    token_limit(org, name="ws", amount=150, thresholds=(100,), workspace=workspace)
    tokens_at(org, utc(2026, 12, 2, 1), 100, workspace=workspace)  # no key: workspace only
    assert evaluate(utc(2026, 12, 2, 2)) == []
    tokens_at(org, utc(2026, 12, 2, 2), 100, workspace=workspace, api_key=key)
    fired = Alert.objects.values_list("threshold__limit__name", flat=True)
    assert evaluate(utc(2026, 12, 2, 3)) == [(100, utc(2026, 12, 2), False)] * 2
    assert sorted(fired) == ["key", "ws"]


def test_usd_spend_equals_the_cost_page_to_the_last_digit(org):
    series = series_for(org)
    opus = series_for(org, model="claude-opus-4-1-20250805", service_tier="batch")
    rows = [
        raw(series, utc(2026, 11, 3, 10, 7), uncached_input_tokens=123_457, output_tokens=9_999),
        raw(series, utc(2026, 11, 17, 0, 1), cache_read_tokens=77_777, cache_write_5m_tokens=3),
        raw(opus, utc(2026, 11, 30, 23, 59), output_tokens=1_234_567, web_search_requests=7),
    ]
    store_and_roll_up(org, rows)
    limit = services.create_limit(
        org, None, name="USD", unit="usd", amount=Decimal("100"), period="month",
        time_zone="Asia/Kolkata", thresholds=[100], emails=[], endpoints=[],
    )  # fmt: skip
    zone = ZoneInfo("Asia/Kolkata")
    page = cost_report(org, zone=zone, year=2026, month=11)
    window = selectors.window(limit, utc(2026, 11, 20))
    assert (window.start, window.end) == (page.start, page.end)
    spent = selectors.spend(limit, window.start, window.end)
    assert spent == page.totals.total
    assert spent > 0


def test_week_starts_on_monday_at_local_midnight(org):
    limit = token_limit(org, period="week", time_zone="Europe/Paris")
    window = selectors.window(limit, utc(2026, 12, 2, 12))  # a Wednesday
    assert window.start == utc(2026, 11, 29, 23)  # Monday 30 November, 00:00 CET
    assert window.end == utc(2026, 12, 6, 23)


def test_forecast_fires_once_when_the_projection_reaches_the_limit(org, evaluate, mailoutbox):
    limit = token_limit(org, amount=3000, period="month", thresholds=(100,))
    limit.thresholds.create(kind="forecast", percent=100, emails=["cfo@acme.test"])
    tokens_at(org, utc(2026, 12, 1, 1), 99)
    # A tenth of December gone (3 days and 2.4 hours of 31 days): 99 x 10 = 990, short of it.
    tenth = utc(2026, 12, 1) + dt.timedelta(days=31) / 10
    assert evaluate(tenth) == []
    tokens_at(org, utc(2026, 12, 2), 201)  # 300 x 10 = 3000: the projection reaches it
    assert evaluate(tenth) == [(100, utc(2026, 12, 1), False)]
    assert evaluate(tenth + dt.timedelta(days=1)) == []
    alert = Alert.objects.get()
    assert (alert.threshold.kind, alert.spend) == ("forecast", Decimal(3000))
    assert mailoutbox[0].to == ["cfo@acme.test"]
    assert "FORECAST: at this rate the period from 2026-12-01 00:00 UTC ends at 3,000 tokens" in (
        mailoutbox[0].body
    )
    # A past period has no forecast to make: the next month sends nothing for December.
    assert evaluate(utc(2027, 1, 1, 1)) == []


def test_a_new_limit_sends_nothing_about_the_period_before_it_existed(org, evaluate):
    token_limit(org, amount=100, thresholds=(100,), created_at=utc(2026, 12, 2, 9))
    tokens_at(org, utc(2026, 12, 1, 12), 500)  # yesterday, already over
    assert evaluate(utc(2026, 12, 2, 10)) == []
    tokens_at(org, utc(2026, 12, 2, 9, 30), 100)
    assert evaluate(utc(2026, 12, 2, 10, 1)) == [(100, utc(2026, 12, 2), False)]
