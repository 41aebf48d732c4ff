"""GET /v1/organizations/cost_report against Anthropic's published reference.

What the reference says, and what the tests pin:
* ``bucket_width`` only ``1d``; ``limit`` 1 to 31, default 7; ``page``, ``starting_at``
  (required), ``ending_at`` as in the usage report; ``group_by[]`` any subset of
  ``workspace_id`` and ``description``.
* A result: ``amount``, the cost in the lowest currency unit (cents) as a decimal string
  ("123.45" in USD is $1.2345); ``currency`` "USD"; ``workspace_id`` (null unless grouped,
  and for the Default workspace); ``description``, ``cost_type`` (tokens, web_search,
  code_execution), ``token_type`` (uncached_input_tokens, output_tokens,
  cache_read_input_tokens, cache_creation.ephemeral_5m_input_tokens,
  cache_creation.ephemeral_1h_input_tokens), ``model``, ``service_tier``, ``context_window``:
  null unless grouping by description; model and context window null for non-token costs.
* Priority Tier costs are not in this report (Anthropic's guide); Meterboard follows that
  by default and includes them with ``include_priority_tier=true`` (or the setting
  ``ADMINAPI_COST_INCLUDE_PRIORITY_TIER``).

Expected amounts are computed here from the raw rows and the prices typed in below, with
Fractions: never through buckets, PriceBook or RateCard.
"""

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest
from django.db import connection

from costs.models import ModelPrice, ToolPrice
from tests import factories
from tests.costs.builders import raw, series_for, store_and_roll_up, utc

URL = "/v1/organizations/cost_report"
SONNET = "claude-sonnet-4-5-20250929"
# USD per million tokens: input, 5m write, 1h write, cache read, output (org's own prices)
RATES = {
    "standard": ("3", "3.75", "6", "0.3", "15"),
    "batch": ("1.5", "1.875", "3", "0.15", "7.5"),
    "priority": ("4.5", "5", "8", "0.45", "22"),
}
FIELDS = (
    "uncached_input_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "output_tokens",
)
WEB_SEARCH_PER_1000 = Fraction(10)


@pytest.fixture
def priced(org):
    for tier, rates in RATES.items():
        ModelPrice.objects.create(
            org=org,
            model_pattern=SONNET,
            service_tier=tier,
            context_window="0-200k",
            effective_from=dt.date(2026, 1, 1),
            input_per_mtok=Decimal(rates[0]),
            cache_write_5m_per_mtok=Decimal(rates[1]),
            cache_write_1h_per_mtok=Decimal(rates[2]),
            cache_read_per_mtok=Decimal(rates[3]),
            output_per_mtok=Decimal(rates[4]),
        )
    ToolPrice.objects.create(
        org=org, kind="web_search", effective_from=dt.date(2026, 1, 1), unit_price=Decimal(10)
    )


@pytest.fixture
def rows(org, priced):
    research = factories.make_workspace(org, "Research", "wrkspc_research")
    standard = series_for(org)
    batch = series_for(org, workspace=research, service_tier="batch")
    priority = series_for(org, workspace=research, service_tier="priority")
    counts = dict(
        uncached_input_tokens=1_234_567,
        cache_write_5m_tokens=3_001,
        cache_write_1h_tokens=777,
        cache_read_tokens=98_765,
        output_tokens=54_321,
    )
    return store_and_roll_up(
        org,
        [
            raw(standard, utc(2026, 11, 3, 0, 0), web_search_requests=3, **counts),
            raw(standard, utc(2026, 11, 3, 23, 59, 59), uncached_input_tokens=1),
            raw(batch, utc(2026, 11, 3, 12), **counts),
            raw(priority, utc(2026, 11, 3, 13), **counts),
            raw(batch, utc(2026, 11, 4, 1), output_tokens=333),
        ],
    )


def expected_usd(rows, day: dt.date, *, tiers=("standard", "batch")) -> Fraction:
    """The cost of the raw rows of one UTC day, priced one row at a time."""
    total = Fraction(0)
    for row in rows:
        tier = row.series.service_tier
        if row.timestamp.date() != day or tier not in tiers:
            continue
        for field, rate in zip(FIELDS, RATES[tier], strict=True):
            total += Fraction(getattr(row, field)) * Fraction(rate) / 1_000_000
        total += Fraction(row.web_search_requests) * WEB_SEARCH_PER_1000 / 1000
    return total


def cents(amount: str) -> Fraction:
    assert isinstance(amount, str)
    return Fraction(Decimal(amount))


def _body(response):
    assert response.status_code == 200, response.content
    return response.json()


def test_daily_cost_in_cents_equals_the_raw_rows_priced(api, rows):
    body = _body(api(URL, {"starting_at": "2026-11-03T00:00:00Z", "limit": "2"}))
    assert set(body) == {"data", "has_more", "next_page"}
    day1, day2 = body["data"]
    assert (day1["starting_at"], day1["ending_at"]) == (
        "2026-11-03T00:00:00Z",
        "2026-11-04T00:00:00Z",
    )
    [result] = day1["results"]
    assert result["currency"] == "USD"
    assert cents(result["amount"]) == expected_usd(rows, dt.date(2026, 11, 3)) * 100
    assert all(result[f] is None for f in ("workspace_id", "description", "cost_type", "model"))
    assert cents(day2["results"][0]["amount"]) == expected_usd(rows, dt.date(2026, 11, 4)) * 100


def test_amount_is_a_plain_decimal_string_of_cents(api, org, priced):
    store_and_roll_up(org, [raw(series_for(org), utc(2026, 11, 3, 9), uncached_input_tokens=1000)])
    [result] = _body(api(URL, {"starting_at": "2026-11-03T00:00:00Z", "limit": "1"}))["data"][0][
        "results"
    ]
    assert result["amount"] == "0.3"  # 1,000 tokens at $3 per million: $0.003


def test_priority_tier_is_left_out_unless_asked_for(api, rows, settings):
    params = {"starting_at": "2026-11-03T00:00:00Z", "limit": "1"}
    day = dt.date(2026, 11, 3)
    everything = expected_usd(rows, day, tiers=("standard", "batch", "priority")) * 100
    left_out = _body(api(URL, params))["data"][0]["results"][0]["amount"]
    assert cents(left_out) == expected_usd(rows, day) * 100
    included = _body(api(URL, {**params, "include_priority_tier": "true"}))
    assert cents(included["data"][0]["results"][0]["amount"]) == everything
    settings.ADMINAPI_COST_INCLUDE_PRIORITY_TIER = True
    by_setting = _body(api(URL, params))["data"][0]["results"][0]["amount"]
    assert cents(by_setting) == everything
    assert api(URL, {**params, "include_priority_tier": "maybe"}).status_code == 400


def test_grouped_by_description_in_anthropics_wording(api, rows):
    params = {"starting_at": "2026-11-03T00:00:00Z", "limit": "1", "group_by[]": "description"}
    results = _body(api(URL, params))["data"][0]["results"]
    standard = [r for r in results if r["service_tier"] == "standard"]
    assert [(r["description"], r["token_type"]) for r in standard] == [
        ("Claude Sonnet 4.5 Usage - Input Tokens", "uncached_input_tokens"),
        (
            "Claude Sonnet 4.5 Usage - 5m Cache Write Tokens",
            "cache_creation.ephemeral_5m_input_tokens",
        ),
        (
            "Claude Sonnet 4.5 Usage - 1h Cache Write Tokens",
            "cache_creation.ephemeral_1h_input_tokens",
        ),
        ("Claude Sonnet 4.5 Usage - Cache Read Tokens", "cache_read_input_tokens"),
        ("Claude Sonnet 4.5 Usage - Output Tokens", "output_tokens"),
    ]
    assert {(r["cost_type"], r["model"], r["context_window"]) for r in standard} == {
        ("tokens", SONNET, "0-200k")
    }
    input_line = standard[0]
    assert cents(input_line["amount"]) == Fraction(1_234_568) * 3 / 1_000_000 * 100
    [search] = [r for r in results if r["cost_type"] == "web_search"]
    assert search["description"] == "Web Search Usage"
    assert (search["model"], search["context_window"], search["token_type"]) == (None, None, None)
    assert cents(search["amount"]) == Fraction(3) * 10 / 1000 * 100
    assert {r["service_tier"] for r in results} == {"standard", "batch", None}
    assert all(r["workspace_id"] is None for r in results)
    total = sum(cents(r["amount"]) for r in results)
    assert total == expected_usd(rows, dt.date(2026, 11, 3)) * 100


def test_grouped_by_workspace_the_default_one_is_null(api, rows):
    params = {"starting_at": "2026-11-03T00:00:00Z", "limit": "1", "group_by[]": "workspace_id"}
    results = _body(api(URL, params))["data"][0]["results"]
    assert [r["workspace_id"] for r in results] == [None, "wrkspc_research"]
    assert all(r["description"] is None for r in results)
    research_only = [r for r in rows if r.series.workspace.external_id == "wrkspc_research"]
    assert cents(results[1]["amount"]) == expected_usd(research_only, dt.date(2026, 11, 3)) * 100


def test_code_execution_is_its_own_cost_type(api, org, priced):
    ToolPrice.objects.create(
        org=org,
        kind="code_execution",
        effective_from=dt.date(2026, 1, 1),
        unit_price=Decimal("0.05"),
    )
    store_and_roll_up(org, [raw(series_for(org), utc(2026, 11, 3, 9), code_execution_ms=7_200_000)])
    params = {"starting_at": "2026-11-03T00:00:00Z", "limit": "1", "group_by[]": "description"}
    [line] = _body(api(URL, params))["data"][0]["results"]
    assert (line["cost_type"], line["description"], line["model"]) == (
        "code_execution",
        "Code Execution Usage",
        None,
    )
    assert line["amount"] == "10"  # two container-hours at $0.05


def test_limit_width_and_grouping_rules(api):
    params = {"starting_at": "2020-01-01T00:00:00Z"}
    assert len(_body(api(URL, params))["data"]) == 7
    assert len(_body(api(URL, {**params, "limit": "31"}))["data"]) == 31
    for bad, field in [
        ({"limit": "32"}, "limit"),
        ({"bucket_width": "1h"}, "bucket_width"),
        ({"group_by[]": "model"}, "group_by"),
        ({"starting_at": ""}, "starting_at"),
    ]:
        response = api(URL, {**params, **bad})
        assert response.status_code == 400
        assert response.json()["error"]["type"] == "invalid_request_error"
        assert response.json()["error"]["message"].startswith(field)


def test_cost_pages_follow_next_page(api, rows):
    params = {
        "starting_at": "2026-11-01T00:00:00Z",
        "ending_at": "2026-11-06T00:00:00Z",
        "limit": "2",
    }
    seen, page = [], None
    while True:
        body = _body(api(URL, {**params, **({"page": page} if page else {})}))
        seen += [b["starting_at"][:10] for b in body["data"]]
        if not body["has_more"]:
            assert body["next_page"] is None
            break
        page = body["next_page"]
    assert seen == ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"]


def test_a_page_costs_a_fixed_number_of_queries(api, rows, django_assert_num_queries):
    params = {
        "starting_at": "2026-11-01T00:00:00Z",
        "limit": "31",
        "group_by[]": ["workspace_id", "description"],
    }
    api(URL, params)
    # The key; prices (2); the code-execution allowance (1); the buckets (1, after one that
    # tunes the planner on PostgreSQL); models (1); workspace names and ids (2).
    with django_assert_num_queries(9 if connection.vendor == "postgresql" else 8):
        assert api(URL, params).status_code == 200
