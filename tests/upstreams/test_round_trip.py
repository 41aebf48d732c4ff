"""THE round trip: organisation A's generated November, served by our own Admin API on a
live server, pulled by the connector into organisation B, equals A's usage on every day,
model and workspace (tokens by type), computed from A's records alone; a second pull
imports nothing new; a pull after an outage resumes where it stopped."""

import datetime as dt
from collections import defaultdict

import pytest
from django.core.cache import cache
from django.db.models import Sum

from tests.adminapi import generated
from tests.upstreams.conftest import NOVEMBER
from upstreams import services
from usage.models import DayBucket, RequestLog
from usage.rollups import rollup_pending

pytestmark = pytest.mark.django_db(transaction=True)

COUNTS = (
    "uncached_input_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "output_tokens",
    "web_search_requests",
)

# Ten minutes after the month: with the default settle delay, exactly November is settled.
AFTER_NOVEMBER = dt.datetime(2026, 12, 1, 0, 10, tzinfo=dt.UTC)


def expected(records) -> dict:
    """{(UTC day, model, workspace external id): {count: sum}} from A's records."""
    return generated.by_day_and(records, lambda r: (r["model"], r["workspace_id"]))


def actual(org) -> dict:
    """The same from B's day buckets."""
    rows = (
        DayBucket.objects.filter(org=org)
        .values("start", "series__model__model_id", "series__workspace__external_id")
        .annotate(**{c: Sum(c) for c in COUNTS})
    )
    found = defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    for row in rows:
        key = (
            row["start"].date(),
            (row["series__model__model_id"], row["series__workspace__external_id"]),
        )
        for c in COUNTS:
            found[key][c] += row[c]
    return {k: v for k, v in found.items() if any(v.values())}


def test_a_month_pulled_from_a_live_meterboard_equals_the_source(month, upstream):
    alpha, records = month
    beta = upstream.org
    result = services.pull(upstream, now=AFTER_NOVEMBER)
    assert result.error == ""
    assert result.position == AFTER_NOVEMBER - dt.timedelta(minutes=10)
    assert result.minutes == 30 * 1440
    rollup_pending(org_id=beta.pk)

    assert actual(beta) == expected(records)
    assert len(expected(records)) > 100  # every day, both models, three workspaces
    # Minute results carry no request count: none is made up, every row says so.
    buckets = DayBucket.objects.filter(org=beta).aggregate(
        requests=Sum("requests"), uncounted=Sum("uncounted_rows")
    )
    assert buckets == {"requests": 0, "uncounted": result.imported}
    assert RequestLog.objects.filter(org=beta, requests_known=True).count() == 0
    # Names came from the upstream's workspace list.
    assert set(beta.workspaces.values_list("external_id", "name")) == {
        (None, "Default"),
        ("wrkspc_research", "Research"),
        ("wrkspc_support", "Support"),
    }
    upstream.refresh_from_db()
    assert upstream.last_success_at is not None and upstream.last_error == ""
    assert upstream.imported_results == result.imported

    # A second run finds nothing new; a run from the start again stores only duplicates.
    again = services.pull(upstream, now=AFTER_NOVEMBER + dt.timedelta(minutes=0))
    assert (again.minutes, again.imported) == (0, 0)
    type(upstream).objects.filter(pk=upstream.pk).update(position=NOVEMBER)
    upstream.refresh_from_db()
    repeat = services.pull(upstream, now=AFTER_NOVEMBER)
    assert (repeat.imported, repeat.duplicates) == (0, result.imported)
    rollup_pending(org_id=beta.pk)
    assert actual(beta) == expected(records)


def test_a_pull_after_an_outage_resumes_where_it_stopped(month, upstream, settings):
    _, records = month
    beta = upstream.org
    # The upstream turns us away after a few requests (its rate limit, retry-after beyond
    # what the connector waits): the run stops with the error on the page.
    settings.ADMINAPI_RATE_LIMIT_PER_MINUTE = 6
    settings.UPSTREAM_MAX_RETRY_AFTER_SECONDS = 0
    cache.clear()
    first = services.pull(upstream, now=AFTER_NOVEMBER)
    assert "429" in first.error
    assert NOVEMBER < first.position < AFTER_NOVEMBER - dt.timedelta(minutes=10)
    upstream.refresh_from_db()
    assert upstream.position == first.position
    assert "429" in upstream.last_error and upstream.last_error_at is not None
    assert upstream.last_success_at is None

    # Down altogether: nothing moves, the error says why.
    live = upstream.base_url
    upstream.base_url = "http://127.0.0.1:9"
    down = services.pull(upstream, now=AFTER_NOVEMBER)
    assert down.imported == 0 and "failed" in down.error
    upstream.refresh_from_db()
    assert upstream.position == first.position

    # Back: the next run starts at the position and the month adds up exactly.
    upstream.base_url = live
    settings.ADMINAPI_RATE_LIMIT_PER_MINUTE = 300
    cache.clear()
    rest = services.pull(upstream, now=AFTER_NOVEMBER)
    assert rest.error == "" and rest.duplicates == 0
    rollup_pending(org_id=beta.pk)
    assert actual(beta) == expected(records)
    upstream.refresh_from_db()
    assert upstream.last_error == "" and upstream.last_success_at is not None
