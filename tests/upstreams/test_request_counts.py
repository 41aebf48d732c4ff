"""Imported usage carries no request counts: wherever a request count shows (Usage page
card, tables and change, its CSV, My usage) a selection with imported usage says so instead
of showing a number; a selection without it shows its count as before."""

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse

from accounts.models import Role
from tests import factories
from tests.upstreams.scripted import Scripted
from tests.upstreams.test_client import bucket, result
from tests.usage.rawrows import raw, series_for, store_batch
from upstreams import services
from usage.models import DayBucket
from usage.rollups import rollup_pending
from usage.selectors import REQUESTS_NOT_KNOWN

pytestmark = pytest.mark.django_db

NOVEMBER_3 = dt.datetime(2026, 11, 3, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def imported(org):
    """Two imported minutes on 3 November (three results), and 5 logged requests in October."""
    server = Scripted()
    server.answers = [
        (200, {}, {"data": [], "has_more": False}),  # workspaces
        (200, {}, {"data": [], "has_more": False}),  # API keys
        (
            200,
            {},
            {
                "data": [
                    bucket(0, result(), result(model="claude-haiku-4-5-20251001")),
                    bucket(7, result(output_tokens=50, account_id="dev@acme.test")),
                ],
                "has_more": False,
            },
        ),
    ]
    upstream = services.create_upstream(
        org, name="Up", base_url=server.url, key="k", start=NOVEMBER_3, actor=None
    )
    try:
        pulled = services.pull(upstream, now=NOVEMBER_3 + dt.timedelta(minutes=30))
    finally:
        server.close()
    assert pulled.error == "" and pulled.imported == 3
    series = series_for(org)
    october = dt.datetime(2026, 10, 5, 12, 0, tzinfo=dt.UTC)
    store_batch(org, [raw(series, october + dt.timedelta(seconds=n)) for n in range(5)])
    rollup_pending(org_id=org.pk)
    return org


def test_buckets_count_no_requests_and_say_how_many_rows_are_uncounted(imported):
    sums = {
        (b.start.date(), b.requests, b.uncounted_rows)
        for b in DayBucket.objects.filter(org=imported)
    }
    assert (dt.date(2026, 11, 3), 0, 2) in sums  # Sonnet: two minutes (one by an account)
    assert (dt.date(2026, 11, 3), 0, 1) in sums  # Haiku: one minute
    assert (dt.date(2026, 10, 5), 5, 0) in sums


def test_the_usage_page_says_the_request_count_is_not_known(client, imported):
    client.force_login(factories.make_member(imported, Role.DEVELOPER))
    november = client.get("/usage/?month=2026-11&group_by=model").content.decode()
    assert REQUESTS_NOT_KNOWN in november
    assert 'data-testid="requests-not-known"' in november
    assert "not known</td>" in november  # the per-day and per-model tables' cells
    october = client.get("/usage/?month=2026-10").content.decode()
    assert REQUESTS_NOT_KNOWN not in october
    assert '<div class="value" data-total="requests">5</div>' in october


def test_the_csv_says_it_in_the_requests_column(client, imported):
    client.force_login(factories.make_member(imported, Role.DEVELOPER))
    body = b"".join(
        client.get(reverse("usage:export"), {"month": "2026-11"}).streaming_content
    ).decode()
    lines = list(csv.DictReader(io.StringIO(body)))
    day = next(line for line in lines if line["period_start"].startswith("2026-11-03"))
    assert day["requests"] == REQUESTS_NOT_KNOWN
    assert int(day["output_tokens"]) == 4 + 4 + 50
    others = [line for line in lines if not line["period_start"].startswith("2026-11-03")]
    assert others and all(line["requests"] == "0" for line in others)


def test_my_usage_says_it_too(client, imported):
    client.force_login(factories.make_member(imported, Role.USER, "dev@acme.test"))
    page = client.get(reverse("me:usage"), {"month": "2026-11"}).content.decode()
    assert REQUESTS_NOT_KNOWN in page
    assert '<div class="value" data-total="output_tokens">50</div>' in page
