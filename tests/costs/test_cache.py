"""Cost reports of periods that are over are kept (costs/cache.py): a kept report is the
report computed afresh, and anything it is made of changing makes a new one."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from console.models import Account, Workspace
from costs.breakdown import build
from costs.selectors import cost_report
from tests import factories
from tests.costs.builders import raw, series_for, store_and_roll_up, utc
from tests.costs.test_selectors import (
    SONNET,
    expected,
    sonnet_org_price,
    sonnet_price_from_may_15,
)
from usage.models import BucketDay
from usage.rollups import rebuild_rollups

UTC = ZoneInfo("UTC")
AFTER_MAY = utc(2026, 7, 1)  # "now" for a report of May 2026: the month is over


def may(org, now=AFTER_MAY, **filters):
    return cost_report(org, zone=UTC, year=2026, month=5, now=now, **filters)


def bucket_queries(queries) -> list[str]:
    """The statements that read buckets (the versions' table aside)."""
    return [
        q["sql"]
        for q in queries
        if "bucket" in q["sql"].lower() and "usage_bucketday" not in q["sql"].lower()
    ]


def facts(report) -> tuple:
    """Everything a report shows, as plain values."""
    return (
        [(line.key, line.quantity, line.free_quantity, line.amount) for line in report.lines],
        report.chart,
        report.groups,
        report.totals,
        report.previous_total,
        [(row.name, row.pico, row.unpriced, len(row.lines)) for row in build(report).rows],
    )


@pytest.fixture
def month_of_usage(org):
    research = factories.make_workspace(org, "Research")
    rows = [
        raw(
            series_for(org, workspace=w, model=m),
            utc(2026, 5, d, h),
            uncached_input_tokens=1_000 * d + h,
            output_tokens=100 * d,
            cache_read_tokens=7 * h,
            web_search_requests=d % 3,
        )
        for w in (None, research)
        for m in (SONNET, "claude-opus-4-6-20260205")
        for d in (1, 14, 15, 31)
        for h in (0, 9, 23)
    ]
    rows.append(raw(series_for(org), utc(2026, 4, 30, 12), output_tokens=5_000))
    store_and_roll_up(org, rows)
    return rows


@pytest.mark.parametrize("group", ["model", "workspace", "token_type"])
def test_a_kept_report_is_the_report_computed_afresh_and_reads_no_bucket(
    org, month_of_usage, settings, group
):
    override = sonnet_price_from_may_15(org, "2.5")
    with CaptureQueriesContext(connection) as first:
        computed = may(org, group=group)
    assert bucket_queries(first.captured_queries)
    with CaptureQueriesContext(connection) as second:
        kept = may(org, group=group)
    assert bucket_queries(second.captured_queries) == []
    settings.REPORT_CACHE_SECONDS = 0
    afresh = may(org, group=group)
    assert facts(kept) == facts(computed) == facts(afresh)
    total, _unpriced, _ = expected(
        month_of_usage, overrides=[override], start=utc(2026, 5, 1), end=utc(2026, 6, 1)
    )
    assert kept.totals.total == Decimal(total.numerator) / Decimal(total.denominator)
    # Kept without its cells: the CSV's lines of each day are read afresh, and add up.
    with pytest.raises(ValueError, match="lines_per_period"):
        kept.per_period  # noqa: B018
    daily = may(org, group=group, lines_per_period=True)
    assert sum(line.amount for _day, line in daily.period_lines) == kept.totals.total


def test_a_late_row_rolled_up_into_a_kept_month_is_counted(org, month_of_usage):
    before = may(org).totals.total
    late = raw(series_for(org), utc(2026, 5, 20, 8), output_tokens=1_000_000)
    store_and_roll_up(org, [late])
    # A million Sonnet 4.5 output tokens at $15 per million.
    assert may(org).totals.total == before + Decimal(15)


def test_a_row_in_the_allowance_month_before_the_compared_one_changes_the_key(org, month_of_usage):
    """The code-execution allowance counts from the first of the compared month, so a day
    before the report's own span is part of what it is made of."""
    may(org)
    versions = BucketDay.objects.filter(org=org, day=dt.date(2026, 4, 2)).count()
    store_and_roll_up(org, [raw(series_for(org), utc(2026, 4, 2), output_tokens=1)])
    assert BucketDay.objects.filter(org=org, day=dt.date(2026, 4, 2)).count() == versions + 1
    with CaptureQueriesContext(connection) as queries:
        may(org)
    assert bucket_queries(queries.captured_queries)


def test_a_price_change_reprices_a_kept_month(org, month_of_usage):
    before = may(org)
    override = sonnet_org_price(org, dt.date(2026, 5, 1), ("1",) * 5)
    after = may(org)
    assert after.totals.total < before.totals.total
    expected_total, _unpriced, _ = expected(
        month_of_usage, overrides=[override], start=utc(2026, 5, 1), end=utc(2026, 6, 1)
    )
    assert after.totals.total == Decimal(expected_total.numerator) / expected_total.denominator


def test_a_renamed_workspace_is_shown_by_its_new_name(org, month_of_usage):
    assert "Research" in may(org, group="workspace").groups
    Workspace.objects.filter(org=org, name="Research").update(name="Science")
    groups = may(org, group="workspace").groups
    assert "Science" in groups and "Research" not in groups


def test_each_account_and_organisation_has_its_own_report(org, other_org):
    ada = Account.objects.create(org=org, external_id="ada", name="Ada")
    bob = Account.objects.create(org=org, external_id="bob", name="Bob")
    store_and_roll_up(
        org, [raw(series_for(org, account=ada), utc(2026, 5, 3), output_tokens=10**6)]
    )
    store_and_roll_up(
        org, [raw(series_for(org, account=bob), utc(2026, 5, 3), output_tokens=10**5)]
    )
    store_and_roll_up(
        other_org, [raw(series_for(other_org), utc(2026, 5, 3), output_tokens=2 * 10**6)]
    )
    assert may(org, account_ids=(ada.pk,)).totals.total == Decimal(15)
    assert may(org, account_ids=(bob.pk,)).totals.total == Decimal("1.5")
    assert may(org).totals.total == Decimal("16.5")
    assert may(other_org).totals.total == Decimal(30)


def test_a_running_month_is_computed_on_every_view(org, month_of_usage):
    during = utc(2026, 5, 20, 12)
    may(org, now=during)
    with CaptureQueriesContext(connection) as queries:
        may(org, now=during)
    assert bucket_queries(queries.captured_queries)


def test_a_rebuild_raises_the_version_of_every_day_it_rebuilt(org, month_of_usage):
    start = {b.day: b.version for b in BucketDay.objects.filter(org=org)}
    rebuild_rollups(org.id, dt.date(2026, 5, 14), dt.date(2026, 5, 17))
    now = {b.day: b.version for b in BucketDay.objects.filter(org=org)}
    for day in (dt.date(2026, 5, 14), dt.date(2026, 5, 15), dt.date(2026, 5, 16)):
        assert now[day] > start.get(day, 0)
    assert now[dt.date(2026, 5, 31)] == start[dt.date(2026, 5, 31)]
