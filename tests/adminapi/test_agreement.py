"""The same month three ways: the Admin API, the Usage page's selectors and the Cost page's
totals agree with each other and with an independent sum of the records sent (generated
data sent through the ingest API, with late rows and duplicates)."""

import datetime as dt
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from costs.selectors import cost_report
from tests.adminapi import generated
from usage.selectors import Scope, UsageQuery, usage_report

UTC = ZoneInfo("UTC")
MONTH = {"starting_at": "2026-11-01T00:00:00Z", "ending_at": "2026-12-01T00:00:00Z", "limit": "31"}
API_FIELDS = {
    "uncached_input_tokens": lambda r: r["uncached_input_tokens"],
    "cache_write_5m_tokens": lambda r: r["cache_creation"]["ephemeral_5m_input_tokens"],
    "cache_write_1h_tokens": lambda r: r["cache_creation"]["ephemeral_1h_input_tokens"],
    "cache_read_tokens": lambda r: r["cache_read_input_tokens"],
    "output_tokens": lambda r: r["output_tokens"],
    "web_search_requests": lambda r: r["server_tool_use"]["web_search_requests"],
}


@pytest.fixture
def records(client, org):
    generated.install_prices(org)
    batches = generated.generate()
    generated.send(client, org, batches)
    return generated.unique(batches)


def _day(starting_at: str) -> dt.date:
    return dt.date.fromisoformat(starting_at[:10])


def test_usage_by_day_model_and_workspace_agrees_three_ways(api, org, records):
    expected = generated.by_day_and(records, lambda r: (r["model"], r["workspace_id"]))
    body = api(
        "/v1/organizations/usage_report/messages",
        {**MONTH, "group_by[]": ["model", "workspace_id"]},
    ).json()
    assert body["has_more"] is False
    from_api = {
        (_day(bucket["starting_at"]), (r["model"], r["workspace_id"])): {
            name: read(r) for name, read in API_FIELDS.items()
        }
        for bucket in body["data"]
        for r in bucket["results"]
    }
    assert from_api == expected

    page = usage_report(UsageQuery(scope=Scope(org_id=org.id), zone=UTC, year=2026, month=11))
    for period, day_counts in zip(page["periods"], page["per_period"], strict=True):
        day = period.local_start.date()
        for name in API_FIELDS:
            in_records = sum(v[name] for (d, _k), v in expected.items() if d == day)
            assert day_counts[name] == in_records, (day, name)


@pytest.mark.parametrize("include_priority", [True, False])
def test_cost_by_day_agrees_with_the_cost_page_and_the_records(api, org, records, include_priority):
    tiers = {"standard", "batch"} | ({"priority"} if include_priority else set())
    counted = [r for r in records if r["service_tier"] in tiers]
    expected = {}
    for record in counted:
        day = generated.day_of(record)
        expected[day] = expected.get(day, Fraction(0)) + generated.usd(record)

    body = api(
        "/v1/organizations/cost_report",
        {**MONTH, "include_priority_tier": str(include_priority).lower()},
    ).json()
    from_api = {
        _day(b["starting_at"]): sum(Fraction(Decimal(r["amount"])) for r in b["results"]) / 100
        for b in body["data"]
        if b["results"]
    }
    assert from_api == expected

    described = api(
        "/v1/organizations/cost_report",
        {
            **MONTH,
            "group_by[]": ["workspace_id", "description"],
            "include_priority_tier": str(include_priority).lower(),
        },
    ).json()
    assert (
        sum(Fraction(Decimal(r["amount"])) for b in described["data"] for r in b["results"])
        == sum(expected.values()) * 100
    )

    if include_priority:  # the Cost page has every tier
        page = cost_report(org, zone=UTC, year=2026, month=11, group="workspace")
        assert Fraction(page.totals.total) == sum(expected.values())
        per_day = [sum(values) for values in zip(*page.chart.values(), strict=True)]
        assert {
            p.local_start.date(): Fraction(v)
            for p, v in zip(page.periods, per_day, strict=True)
            if v
        } == expected
