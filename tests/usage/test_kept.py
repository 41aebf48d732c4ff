"""Usage reports of periods that are over are kept (usage/kept.py): a kept report is the
report computed afresh, and a late row or a rename makes a new one."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from console.models import Account, Workspace
from tests import factories
from tests.usage.rawrows import raw, series_for, store_batch
from usage import selectors
from usage.rollups import rollup_pending
from usage.selectors import Scope, UsageQuery

AFTER = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)  # "now" for April: the month is over


def u(*args):
    return dt.datetime(*args, tzinfo=dt.UTC)


def april(org, group_by="", now=AFTER):
    query = UsageQuery(Scope(org.id), ZoneInfo("UTC"), 2026, 4, group_by=group_by, now=now)
    return selectors.usage_report(query)


def read_buckets(queries) -> bool:
    return any(
        "bucket" in q["sql"] and "usage_bucketday" not in q["sql"] for q in queries.captured_queries
    )


@pytest.fixture
def rows(org):
    research = factories.make_workspace(org, "Research")
    ada = Account.objects.create(org=org, external_id="u_ada", name="Ada")
    made = [
        raw(series_for(org, workspace=w, account=a), u(2026, 4, d, h), output_tokens=d * 10 + h,
            uncached_input_tokens=h)
        for w in (None, research)
        for a in (None, ada)
        for d in (1, 15, 30)
        for h in (0, 13)
    ]  # fmt: skip
    store_batch(org, made)
    rollup_pending()
    return made


@pytest.mark.parametrize("group_by", ["", "workspace", "account"])
def test_a_kept_report_is_the_report_computed_afresh(org, rows, settings, group_by):
    with CaptureQueriesContext(connection) as first:
        computed = april(org, group_by)
    with CaptureQueriesContext(connection) as second:
        kept = april(org, group_by)
    assert read_buckets(first) and not read_buckets(second)
    settings.REPORT_CACHE_SECONDS = 0
    assert kept == computed == april(org, group_by)
    assert kept["totals"]["output_tokens"] == sum(r.output_tokens for r in rows)


def test_a_late_row_and_a_rename_make_a_new_report(org, rows):
    before = april(org, "workspace")
    store_batch(org, [raw(series_for(org), u(2026, 4, 20, 5), output_tokens=1_000)])
    rollup_pending()
    after = april(org, "workspace")
    assert after["totals"]["output_tokens"] == before["totals"]["output_tokens"] + 1_000
    Workspace.objects.filter(org=org, name="Research").update(name="Science")
    labels = [g["label"] for g in april(org, "workspace")["groups"]]
    assert "Science" in labels and "Research" not in labels


def test_a_running_month_and_another_organisation_are_never_served_a_kept_report(
    org, other_org, rows
):
    during = u(2026, 4, 20)
    april(org, now=during)
    with CaptureQueriesContext(connection) as queries:
        april(org, now=during)
    assert read_buckets(queries)
    assert april(org)["totals"]["requests"] == len(rows)
    assert april(other_org)["totals"]["requests"] == 0
