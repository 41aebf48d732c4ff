import csv
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import Role
from console.models import AuditEntry
from costs.models import ModelPrice
from tests import factories
from tests.costs.builders import raw, series_for, store_and_roll_up, utc

PAGE = reverse("costs:page")
EXPORT = reverse("costs:export")
QUERY = {"month": "2026-05", "tz": "UTC"}


@pytest.fixture
def usage(org):
    sonnet = series_for(org)
    research = factories.make_workspace(org, "Research")
    haiku = series_for(org, workspace=research, model="claude-haiku-4-5-20251001")
    store_and_roll_up(
        org,
        [
            raw(sonnet, utc(2026, 5, 3, 10), uncached_input_tokens=1_000_000, output_tokens=2000),
            raw(haiku, utc(2026, 5, 4, 23, 59), cache_read_tokens=500_000, web_search_requests=3),
            raw(series_for(org, model="mystery-model-1"), utc(2026, 5, 5), output_tokens=77),
        ],
    )
    return {"research": research}


def client_for(client, org, role):
    client.force_login(factories.make_member(org, role))
    return client


# Who may open what -------------------------------------------------------------------


@pytest.mark.parametrize("url", [PAGE, EXPORT, reverse("costs:prices")])
def test_anonymous_goes_to_login(client, org, url):
    response = client.get(url, QUERY)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("role", [Role.USER, Role.CLAUDE_CODE_USER])
@pytest.mark.parametrize("url", [PAGE, EXPORT, reverse("costs:prices")])
def test_roles_without_reports_get_403(client, org, role, url):
    response = client_for(client, org, role).get(url, QUERY)
    assert response.status_code == 403
    assert "Admin, Billing, Developer" in response.content.decode()


@pytest.mark.parametrize("role", [Role.USER, Role.CLAUDE_CODE_USER])
def test_partial_for_roles_without_reports_is_403(client, org, role):
    response = client_for(client, org, role).get(PAGE, QUERY, HTTP_HX_REQUEST="true")
    assert response.status_code == 403


@pytest.mark.parametrize("url", [PAGE, EXPORT])
@pytest.mark.parametrize("param", ["workspace", "model"])
def test_other_organisations_workspace_or_model_is_404(client, org, other_org, url, param):
    foreign = factories.make_workspace(other_org, "Theirs")
    series_for(other_org, workspace=foreign, model="claude-opus-4-7-foreign")
    value = foreign.external_id if param == "workspace" else "claude-opus-4-7-foreign"
    c = client_for(client, org, Role.BILLING)
    assert c.get(url, {**QUERY, param: value}).status_code == 404
    assert c.get(url, {**QUERY, param: value}, HTTP_HX_REQUEST="true").status_code == 404


@pytest.mark.parametrize(
    "bad",
    [
        {"month": "May 2026"},
        {"month": "2026-13"},
        {"day": "2026-02-30"},
        {"month": "2026-05", "day": "2026-06-01"},
        {"month": "2011-12", "day": "2011-12-30", "tz": "Pacific/Apia"},  # a skipped day
        {"tz": "Mars/Olympus"},
        {"group_by": "colour"},
        {"workspace": "wrkspc 01"},
        {"workspace": "<b>"},
        {"model": "x" * 129},  # longer than any model id ingest accepts
    ],
)
def test_malformed_filters_are_400_with_a_message(client, org, bad):
    c = client_for(client, org, Role.DEVELOPER)
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
        response = c.get(PAGE, {**QUERY, **bad}, **headers)
        assert response.status_code == 400
        response = c.get(PAGE, bad, **headers)  # with nothing else in the query string
        assert response.status_code == 400
        assert "These filters cannot be shown" in response.content.decode()
        assert "Show the current month with no filters" in response.content.decode()
    assert c.get(EXPORT, {**QUERY, **bad}).status_code == 400


def test_a_filter_error_names_the_control_as_labelled(client, org):
    c = client_for(client, org, Role.DEVELOPER)
    page = c.get(PAGE, {"tz": "Mars/Olympus"}).content.decode()
    assert "Time zone: " in page and "tz: " not in page


@pytest.mark.parametrize("role", [Role.DEVELOPER, Role.BILLING, Role.ADMIN])
def test_allowed_roles_see_page_partial_and_export(client, org, usage, role):
    c = client_for(client, org, role)
    page = c.get(PAGE, QUERY)
    assert page.status_code == 200
    body = page.content.decode()
    assert "<html" in body and 'id="cost-view"' in body
    # 1M Sonnet input at $3 + 2,000 output at $15/M + 500k Haiku cache reads at $0.10/M
    # + 3 searches at $10/1,000 = 3 + 0.03 + 0.05 + 0.03
    assert 'data-testid="total" title="$3.11"' in body
    assert "mystery-model-1" in body and "Unpriced" in body

    partial = c.get(PAGE, QUERY, HTTP_HX_REQUEST="true")
    assert partial.status_code == 200
    assert "<html" not in partial.content.decode()
    assert 'id="cost-view"' in partial.content.decode()

    export = c.get(EXPORT, QUERY)
    assert export.status_code == 200
    assert export["Content-Type"].startswith("text/csv")
    assert 'filename="cost_acme_2026-05_by-model_UTC.csv"' in export["Content-Disposition"]


def test_workspace_is_named_by_its_external_id_as_on_the_usage_page(client, org, usage):
    research = usage["research"]
    c = client_for(client, org, Role.DEVELOPER)
    body = c.get(PAGE, {**QUERY, "workspace": research.external_id}).content.decode()
    # Only Research's usage: 500k Haiku 4.5 cache reads at $0.10/M + 3 searches at $10/1,000.
    assert 'data-testid="total" title="$0.08"' in body
    assert f'<option value="{research.external_id}" selected>Research</option>' in body
    assert '<option value="default">' in body
    export = f"workspace={research.external_id}"
    assert export in body.split('data-testid="export"')[0].rsplit("href=", 1)[1]
    # The Usage page takes the same value for the same workspace.
    usage_page = c.get(reverse("usage:page"), {**QUERY, "workspace": research.external_id})
    assert usage_page.status_code == 200
    default = c.get(PAGE, {**QUERY, "workspace": "default"}).content.decode()
    assert '<option value="default" selected>' in default
    # 1M Sonnet input at $3 + 2,000 output at $15/M; the mystery model is unpriced.
    assert 'data-testid="total" title="$3.03"' in default
    download = c.get(EXPORT, {**QUERY, "workspace": research.external_id})
    assert f"workspace-{research.external_id}" in download["Content-Disposition"]
    # A pk is not a workspace id here (no such external id): 404, as on the Usage page.
    assert c.get(PAGE, {**QUERY, "workspace": str(research.pk)}).status_code == 404


def test_model_names_cannot_break_out_of_the_chart_data(client, org):
    series = series_for(org, model="x</script><script>alert(1)</script>")
    store_and_roll_up(org, [raw(series, utc(2026, 5, 2), web_search_requests=1)])
    body = client_for(client, org, Role.ADMIN).get(PAGE, QUERY).content.decode()
    assert "<script>alert(1)" not in body
    # Escaped for Plotly (&lt;), whose & the JSON script escapes in turn (\u0026).
    assert "\\u0026lt;/script\\u0026gt;" in body


def test_export_sums_to_the_page_total_and_escapes_formulas(client, org):
    evil = factories.make_workspace(org, '=HYPERLINK("http://x")')
    series = series_for(org, workspace=evil, model="claude-3-haiku-20240307")
    store_and_roll_up(
        org,
        [raw(series, utc(2026, 5, d, 12), uncached_input_tokens=333_333 * d) for d in (1, 9, 31)],
    )
    c = client_for(client, org, Role.BILLING)
    query = {**QUERY, "group_by": "workspace"}
    body = b"".join(c.get(EXPORT, query).streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert {r["workspace"] for r in rows} == {'\'=HYPERLINK("http://x")'}
    assert len(rows) == 3
    total = sum(Decimal(r["amount_usd"]) for r in rows)
    # independent: 333,333 x (1 + 9 + 31) tokens at $0.25 per million
    assert total == Decimal(333_333 * 41) * Decimal("0.25") / 1_000_000
    page = c.get(PAGE, query).content.decode()
    assert f'data-testid="total" title="${total.normalize():f}"' in page


def test_page_query_count_is_pinned_and_does_not_grow_with_rows(
    client, org, django_assert_num_queries
):
    c = client_for(client, org, Role.DEVELOPER)
    keys = [factories.make_api_key(org, name=f"k{i}") for i in range(6)]

    def add_usage(models):
        store_and_roll_up(
            org,
            [
                raw(
                    series_for(org, api_key=k, model=m),
                    utc(2026, month, d, h),
                    output_tokens=d * h + 1,
                    code_execution_ms=h,
                )
                for k in keys
                for m in models
                for month, d in ((4, 20), (5, 1), (5, 15), (5, 28))
                for h in (0, 13)
            ],
        )

    add_usage(["claude-sonnet-4-5-20250929"])
    # session, user, memberships (middleware; the nav reuses them), workspaces, models and
    # accounts (the filter bar's lists), prices x2, daily code execution, then for this
    # month and the previous one together: the buckets (one query, whatever levels a
    # +05:30 zone needs, after one that turns JIT and parallel workers off for it on
    # PostgreSQL) and the models.
    count = 12 if connection.vendor == "postgresql" else 11
    for tz in ("Asia/Kolkata", "UTC"):
        with django_assert_num_queries(count):
            assert c.get(PAGE, {**QUERY, "tz": tz}).status_code == 200
    add_usage(["claude-haiku-4-5-20251001", "claude-opus-4-5-20251101"])
    for tz in ("Asia/Kolkata", "UTC"):
        with django_assert_num_queries(count):
            assert c.get(PAGE, {**QUERY, "tz": tz}).status_code == 200


# The Prices page ---------------------------------------------------------------------


def price_post(**changes):
    data = {
        "model_pattern": "claude-sonnet-4-5*",
        "service_tier": "standard",
        "context_window": "0-200k",
        "effective_from": "2026-05-15",
        "input_per_mtok": "2",
        "output_per_mtok": "10",
        "cache_write_5m_per_mtok": "2.5",
        "cache_write_1h_per_mtok": "4",
        "cache_read_per_mtok": "0.2",
        "source": "Contract 2026",
        "also_batch": "on",
    }
    data.update(changes)
    return data


def test_developer_sees_prices_read_only(client, org):
    c = client_for(client, org, Role.DEVELOPER)
    body = c.get(reverse("costs:prices")).content.decode()
    assert "claude-sonnet-4-5*" in body and "Only Admin and Billing" in body
    assert 'data-testid="model-price-form"' not in body
    response = c.post(reverse("costs:add_model_price"), price_post())
    assert response.status_code == 403
    assert not ModelPrice.objects.filter(org=org).exists()


@pytest.mark.parametrize("role", [Role.ADMIN, Role.BILLING])
def test_editors_add_a_price_from_a_date_with_audit_and_immediate_effect(client, org, role):
    sonnet = series_for(org)
    store_and_roll_up(
        org,
        [
            raw(sonnet, utc(2026, 5, 14, 23, 59), uncached_input_tokens=1_000_000),
            raw(sonnet, utc(2026, 5, 15, 0, 0), uncached_input_tokens=1_000_000),
            raw(sonnet, utc(2026, 4, 30, 12), uncached_input_tokens=1_000_000),
        ],
    )
    c = client_for(client, org, role)
    assert 'data-testid="total" title="$6.00"' in c.get(PAGE, QUERY).content.decode()

    response = c.post(reverse("costs:add_model_price"), price_post())
    assert response.status_code == 302
    assert ModelPrice.objects.filter(org=org).count() == 2  # standard and its batch half
    batch = ModelPrice.objects.get(org=org, service_tier="batch")
    assert batch.input_per_mtok == Decimal("1") and batch.cache_read_per_mtok == Decimal("0.1")
    entries = AuditEntry.objects.filter(org=org, action="price.add")
    assert entries.count() == 2
    assert entries.filter(after__input_per_mtok="2").exists()

    # 14 May keeps $3; from 15 May $2: the month is 3 + 2; April is untouched.
    assert 'data-testid="total" title="$5.00"' in c.get(PAGE, QUERY).content.decode()
    april = c.get(PAGE, {**QUERY, "month": "2026-04"}).content.decode()
    assert 'data-testid="total" title="$3.00"' in april


def test_price_form_errors_are_400_and_not_saved(client, org):
    c = client_for(client, org, Role.BILLING)
    response = c.post(reverse("costs:add_model_price"), price_post(input_per_mtok="-1"))
    assert response.status_code == 400
    response = c.post(reverse("costs:add_model_price"), price_post(model_pattern="claude*x*"))
    assert response.status_code == 400
    assert not ModelPrice.objects.filter(org=org).exists()
    tool = c.post(
        reverse("costs:add_tool_price"),
        {
            "kind": "web_search",
            "effective_from": "2026-01-01",
            "unit_price": "8",
            "free_hours_per_month": "5",
        },
    )
    assert tool.status_code == 400


def test_add_tool_price(client, org):
    c = client_for(client, org, Role.ADMIN)
    response = c.post(
        reverse("costs:add_tool_price"),
        {
            "kind": "code_execution",
            "effective_from": "2026-06-01",
            "unit_price": "0.04",
            "free_hours_per_month": "100",
            "source": "quote",
        },
    )
    assert response.status_code == 302
    assert AuditEntry.objects.filter(org=org, action="price.add").count() == 1


def test_prices_are_per_organisation(client, org, other_org):
    c = client_for(client, other_org, Role.ADMIN)
    c.post(reverse("costs:add_model_price"), price_post(model_pattern="claude-secret-1"))
    mine = client_for(Client(), org, Role.ADMIN).get(reverse("costs:prices")).content.decode()
    assert "claude-secret-1" not in mine


def test_month_control_shows_the_current_month_when_none_is_given(client, db):
    import datetime as dt

    from accounts.models import Role
    from tests import factories

    org = factories.make_org("shown", "Shown")
    client.force_login(factories.make_member(org, Role.BILLING))

    html = client.get("/cost/").content.decode()

    assert f'id="f-month" name="month" value="{dt.datetime.now(dt.UTC):%Y-%m}"' in html


def _chart_colors(response) -> dict:
    import json
    import re

    data = re.search(
        r'<script id="cost-chart-data" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    ).group(1)
    return {t["name"]: t["marker"]["color"] for t in json.loads(data)["data"]}


def test_a_model_keeps_its_chart_colour_from_month_to_day(client, org):
    c = client_for(client, org, Role.BILLING)
    # Haiku costs more in the month (so it is stacked first); on the 2nd only Sonnet is used.
    store_and_roll_up(
        org,
        [
            raw(series_for(org, model="claude-haiku-4-5-20251001"), utc(2026, 5, 1, 10),
                output_tokens=9_000_000),
            raw(series_for(org, model="claude-sonnet-4-5-20250929"), utc(2026, 5, 2, 10),
                output_tokens=1_000),
        ],
    )  # fmt: skip

    month = _chart_colors(c.get(PAGE, QUERY))
    day = _chart_colors(c.get(PAGE, {**QUERY, "day": "2026-05-02"}))

    assert len(month) == 2 and len(set(month.values())) == 2
    assert list(day) == ["Claude Sonnet 4.5"]
    assert day["Claude Sonnet 4.5"] == month["Claude Sonnet 4.5"]


def test_the_two_price_forms_have_distinct_field_ids(client, org):
    import re

    c = client_for(client, org, Role.ADMIN)
    page = c.get(reverse("costs:prices")).content.decode()
    ids = re.findall(r'\bid="(id_[^"]+|tool_[^"]+)"', page)
    assert ids and len(ids) == len(set(ids))
    assert 'for="tool_effective_from"' in page


def test_htmx_updates_push_the_canonical_url_without_empty_fields(client, org):
    c = client_for(client, org, Role.DEVELOPER)
    response = c.get(
        PAGE, {"workspace": "", "model": "", "day": "", **QUERY}, HTTP_HX_REQUEST="true"
    )
    assert response["HX-Push-Url"] == f"{PAGE}?month=2026-05&group_by=model&tz=UTC"
