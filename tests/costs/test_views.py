import csv
import io
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import Role
from console.models import AuditEntry
from costs.models import ModelPrice
from costs.pricing import from_pico
from costs.templatetags.money import percent, usd, usd_exact
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


@pytest.fixture
def mixed_usage(org):
    """Every cost type, two tiers, two workspaces, an unpriced model and code execution past
    the free allowance, over several days."""
    research = factories.make_workspace(org, "Research")
    sonnet = series_for(org)
    batch = series_for(org, service_tier="batch")
    haiku = series_for(org, workspace=research, model="claude-haiku-4-5-20251001")
    rows = []
    for d in (1, 2, 17, 31):
        rows += [
            raw(
                sonnet,
                utc(2026, 5, d, 9, d),
                uncached_input_tokens=123_457 * d,
                cache_write_5m_tokens=33_333 * d,
                cache_write_1h_tokens=7_777 * d,
                cache_read_tokens=999_999,
                output_tokens=4_321 * d,
                web_search_requests=d,
                code_execution_ms=500 * 3_600_000 + 1_234 * d,
            ),
            raw(batch, utc(2026, 5, d, 23, 59), uncached_input_tokens=55_555, output_tokens=d),
            raw(haiku, utc(2026, 5, d, 0, 1), cache_read_tokens=12_345 * d, web_search_requests=1),
            raw(series_for(org, model="mystery-model-1"), utc(2026, 5, d), output_tokens=77),
        ]
    store_and_roll_up(org, rows)


def _csv_group(row: dict, group: str, names: dict) -> str:
    """The breakdown row a CSV line belongs to, from the CSV's own columns."""
    from costs.pricing import COST_TYPES, TOKEN_TYPE_LABELS
    from usage.models import ServiceTier

    if group == "model":
        return names[row["model"]]
    if group == "workspace":
        return row["workspace"]
    if group == "cost_type":
        return COST_TYPES[row["cost_type"]]
    if group == "token_type":
        return TOKEN_TYPE_LABELS.get(row["token_type"]) or COST_TYPES[row["cost_type"]]
    return dict(ServiceTier.choices)[row["service_tier"]]


@pytest.mark.parametrize("group", ["model", "workspace", "cost_type", "token_type", "service_tier"])
@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata"])
def test_breakdown_totals_equal_the_csv_and_the_cards(client, org, mixed_usage, group, tz):
    from console.models import LlmModel

    c = client_for(client, org, Role.BILLING)
    query = {**QUERY, "group_by": group, "tz": tz}
    response = c.get(PAGE, query)
    table, card_total = response.context["breakdown"], response.context["report"].totals.total
    body = b"".join(c.get(EXPORT, query).streaming_content).decode()
    lines = [r for r in csv.DictReader(io.StringIO(body)) if r["priced"] == "yes"]
    csv_total = sum(Decimal(r["amount_usd"]) for r in lines)
    names = dict(LlmModel.objects.values_list("model_id", "display_name"))
    by_group: dict[str, Decimal] = {}
    for r in lines:
        name = _csv_group(r, group, names)
        by_group[name] = by_group.get(name, Decimal(0)) + Decimal(r["amount_usd"])

    assert csv_total > 0 and table.totals.total == card_total == csv_total
    assert sum(row.total for row in table.rows) == csv_total
    assert {row.name: row.total for row in table.rows if row.total} == {
        name: amount for name, amount in by_group.items() if amount
    }
    for row in table.rows:  # a row is the subtotal of its lines, column by column
        columns = zip(*(line.pico for line in row.lines), strict=True)
        assert row.pico == [sum(column) for column in columns]
    shown = table.totals.amounts(table.shown)
    for i, amount in zip(table.shown, shown, strict=True):
        assert sum(from_pico(row.pico[i]) for row in table.rows) == amount
    assert sum(shown) == card_total
    # What the page shows, to the cent: the total row's cell is the card's.
    page = response.content.decode()
    foot = page.split('data-testid="breakdown-total"')[1].split("</tfoot>")[0]
    assert f'title="{usd_exact(card_total)}">{usd(card_total)}</td></tr>' in foot
    assert 'data-testid="total" title="' + usd_exact(csv_total) + '"' in page


@pytest.mark.parametrize("group", ["model", "workspace"])
@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata"])
def test_the_table_of_the_chart_is_the_csv_day_by_day(client, org, mixed_usage, group, tz):
    c = client_for(client, org, Role.BILLING)
    query = {**QUERY, "group_by": group, "tz": tz}
    page = c.get(PAGE, query).content.decode()
    body = b"".join(c.get(EXPORT, query).streaming_content).decode()
    csv_by_day: dict[str, Decimal] = {}
    for r in csv.DictReader(io.StringIO(body)):
        if r["priced"] == "yes":  # period_start is local: its date is the table's day
            day = r["period_start"][:10]
            csv_by_day[day] = csv_by_day.get(day, Decimal(0)) + Decimal(r["amount_usd"])
    table = page.split('data-testid="periods"')[1].split("</table>")[0]
    rows = re.findall(r"<tr><td>(?:<a [^>]*>)?([^<]+)(?:</a>)?</td>(.*?)</tr>", table)
    assert len(rows) == 31
    shown = {
        day: Decimal(re.search(r'class="num total" title="\$([\d.]+)"', cells).group(1))
        for day, cells in rows
    }
    assert sum(csv_by_day.values()) > 0
    assert {d: a for d, a in shown.items() if a} == {d: a for d, a in csv_by_day.items() if a}


def test_breakdown_rows_are_groups_in_words_sorted_by_the_url(client, org, mixed_usage):
    c = client_for(client, org, Role.DEVELOPER)
    page = c.get(PAGE, {**QUERY, "group_by": "workspace"})
    rows = [row.name for row in page.context["breakdown"].rows]
    assert rows == ["Default", "Research"]  # largest total first
    body = page.content.decode()
    for heading in ("Input", "5m cache write", "1h cache write", "Cache read", "Output"):
        assert f">{heading}</a>" in body
    assert "Web search" in body and "Code execution" in body
    assert "cache_creation.ephemeral_5m_input_tokens" not in body
    by_name = c.get(PAGE, {**QUERY, "group_by": "workspace", "sort": "-group"})
    assert [row.name for row in by_name.context["breakdown"].rows] == ["Research", "Default"]
    assert 'aria-sort="descending"' in by_name.content.decode()
    by_input = c.get(PAGE, {**QUERY, "group_by": "workspace", "sort": "input"})
    assert [row.name for row in by_input.context["breakdown"].rows] == ["Research", "Default"]
    assert c.get(PAGE, {**QUERY, "sort": "colour"}).status_code == 400


def test_early_in_the_month_compares_with_the_same_span_of_the_last(client, org, monkeypatch):
    from django.utils import timezone

    now = utc(2026, 12, 2, 5, 16, 30)
    sonnet = series_for(org)
    rows = [
        raw(sonnet, utc(2026, 11, 1, 10), uncached_input_tokens=1_000_000),
        raw(sonnet, utc(2026, 11, 2, 5, 15), uncached_input_tokens=1_000_001),
        raw(sonnet, utc(2026, 11, 2, 5, 16), uncached_input_tokens=5_000_000),  # after
        raw(sonnet, utc(2026, 11, 20), uncached_input_tokens=50_000_000),
        raw(sonnet, utc(2026, 12, 1, 12), uncached_input_tokens=2_000_000),
        raw(sonnet, utc(2026, 12, 2, 1), uncached_input_tokens=1_000_003),
    ]
    store_and_roll_up(org, rows)
    price = Decimal(3) / 1_000_000  # Sonnet 4.5 input, USD per token

    def cost(start, end):
        return sum(r.uncached_input_tokens for r in rows if start <= r.timestamp < end) * price

    monkeypatch.setattr(timezone, "now", lambda: now)
    c = client_for(client, org, Role.BILLING)
    response = c.get(PAGE, {"tz": "UTC"})
    report = response.context["report"]
    current, previous = cost(utc(2026, 12, 1), now), cost(utc(2026, 11, 1), utc(2026, 11, 2, 5, 16))
    assert report.totals.total == current and report.previous_total == previous
    assert report.change == (current - previous) / previous
    change = response.content.decode().split('data-testid="change">')[1].split("</div>")[0]
    assert change.strip() == f"{percent(report.change)} vs Nov 1–2, to 05:16 ({usd(previous)})"
    figure = response.context["chart_figure"]
    assert all(y is None for trace in figure["data"] for y in trace["y"][2:])
    assert figure["drills"][2:] == [None] * 29
    assert figure["layout"]["annotations"][0]["text"] == "Still to come"
    # A whole past month compares with the whole month before it.
    november = c.get(PAGE, {"tz": "UTC", "month": "2026-11"}).context["report"]
    assert november.previous_total == cost(utc(2026, 10, 1), utc(2026, 11, 1)) == 0
    assert november.comparison.label == "Oct 1–31" and not any(november.future)
    assert "Nothing in Oct 1–31 to compare" in c.get(PAGE, {"month": "2026-11"}).content.decode()


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
    # PostgreSQL) and the models; for a month that is over, the report's cache key first
    # (its days' bucket versions, workspace and model names), here a miss each time: a new
    # zone, then new usage.
    count = 15 if connection.vendor == "postgresql" else 14
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


def test_prices_are_grouped_by_model_family_newest_first(client, org):
    import re

    from costs.models import ModelPrice

    c = client_for(client, org, Role.ADMIN)
    c.post(reverse("costs:add_model_price"), price_post(model_pattern="gpt-4o*"))
    page = c.get(reverse("costs:prices")).content.decode()
    table = page.split('data-testid="model-prices"')[1].split("</table>")[0]
    families = re.findall(r'<tr class="family"><th scope="colgroup" colspan="10">([^<]+)<', table)
    assert families == ["Claude Opus", "Claude Sonnet", "Claude Haiku", "Other models"]
    bodies = table.split('<tbody data-testid="family">')[1:]
    opus = re.findall(r'<code class="model-id">([^<]+)</code>', bodies[0])
    assert opus[0] == "claude-opus-4-7*" and opus[-1] == "claude-3-opus*"
    assert "gpt-4o*" in bodies[3] and "sonnet" not in bodies[3]
    # Every price is on the page once, in its family.
    shown = re.findall(r'<th scope="row"[^>]*><code class="model-id">([^<]+)</code>', table)
    owners = ModelPrice.objects.filter(org__isnull=True) | ModelPrice.objects.filter(org=org)
    assert sorted(shown) == sorted(owners.values_list("model_pattern", flat=True))
    assert all(("opus" in p) for p in re.findall(r'model-id">([^<]+)<', bodies[0]))


def test_the_price_form_is_labelled_with_help_and_no_blank_choice(client, org):
    c = client_for(client, org, Role.BILLING)
    page = c.get(reverse("costs:prices")).content.decode()
    form = page.split('data-testid="model-price-form"')[1].split("</form>")[0]
    assert "---------" not in page
    assert "Model pattern:" not in form
    assert '<label for="id_model_pattern">Model</label>' in form
    assert 'aria-describedby="id_model_pattern_helptext"' in form
    assert 'id="id_model_pattern_helptext">A model id (claude-sonnet-4-5-20250929)' in form
    assert "<legend>Rates, USD per million tokens</legend>" in form
    assert '<option value="standard" selected>Standard</option>' in form
    assert '<option value="0-200k" selected>0-200k</option>' in form
    tool = page.split('data-testid="tool-price-form"')[1].split("</form>")[0]
    assert '<label for="tool_kind">Tool</label>' in tool
    assert 'id="tool_unit_price_helptext"' in tool


def test_the_clients_own_estimate_is_shown_beside_ours(client, org, usage):
    c = client_for(client, org, Role.DEVELOPER)
    assert 'data-testid="client-estimate"' not in c.get(PAGE, QUERY).content.decode()
    # Two requests whose client (Claude Code, LiteLLM) said what they cost: $2.50 in all.
    sonnet = series_for(org)
    store_and_roll_up(
        org,
        [
            raw(sonnet, utc(2026, 5, 6, 9), output_tokens=10, client_cost_nanos=2_000_000_001),
            raw(sonnet, utc(2026, 5, 7, 9), output_tokens=10, client_cost_nanos=499_999_999),
            raw(sonnet, utc(2026, 6, 1, 9), output_tokens=10, client_cost_nanos=7 * 10**9),
        ],
    )
    body = c.get(PAGE, QUERY).content.decode()
    estimate = body[body.index('data-testid="client-estimate"') :]
    assert 'title="$2.50"' in estimate[:400]  # May only: June's request is another month
    # Ours: $3.11 as above plus 20 Sonnet output tokens ($0.0003) = $3.1103; 3.1103 / 2.5 - 1.
    assert "ours differs by +24.4%" in estimate[:400]


def test_grouped_by_user_the_chart_shows_the_top_people_and_everyone_else(client, org):
    """Thirteen people: the chart and its table draw the ten who cost most and "Everyone
    else (3 people)", whose amount each day is the exact sum of the other three; the
    breakdown ranks all thirteen, each a link to their own view, which shows their lines."""
    import json

    from console.models import Account

    c = client_for(client, org, Role.BILLING)
    people = [
        Account.objects.create(org=org, external_id=f"p{i:02d}", name=f"Person {i:02d}")
        for i in range(13)
    ]
    # Person i: (i + 1) million Sonnet 4.5 output tokens ($15 each) on the 3rd and the 9th.
    rows = [
        raw(series_for(org, account=person), utc(2026, 5, day, 12), output_tokens=10**6 * (i + 1))
        for i, person in enumerate(people)
        for day in (3, 9)
    ]
    store_and_roll_up(org, rows)
    response = c.get(PAGE, {**QUERY, "group_by": "account"})
    html = response.content.decode()
    data = re.search(
        r'<script id="cost-chart-data" type="application/json">(.*?)</script>', html, re.S
    ).group(1)
    traces = {t["name"]: t for t in json.loads(data)["data"]}
    top = [f"Person {i:02d} (p{i:02d})" for i in range(12, 2, -1)]
    assert list(traces) == [*top, "Everyone else (3 people)"]
    # The three left out cost (1 + 2 + 3) million tokens at $15 on each of the two days.
    # Everyone else in a neutral colour, so the palette's ten colours are the ten people's.
    from console.charts import REST_COLOR

    assert traces["Everyone else (3 people)"]["marker"]["color"] == REST_COLOR
    assert len({traces[name]["marker"]["color"] for name in top}) == 10
    others = traces["Everyone else (3 people)"]["y"]
    assert others[2] == others[8] == 90.0 and sum(others) == 180.0
    assert '<th scope="col" class="num">Everyone else (3 people)</th>' in html
    links = dict(
        (name, href.replace("&amp;", "&"))
        for href, name in re.findall(r'<th scope="row"><a href="([^"]+)">([^<]+)</a>', html)
    )
    assert set(links) == {f"Person {i:02d} (p{i:02d})" for i in range(13)}
    # The smallest person's own view: their lines, by model, and their total alone.
    own = c.get(links["Person 00 (p00)"]).content.decode()
    assert "account=p00" in links["Person 00 (p00)"]
    assert "Claude Sonnet 4.5" in own and usd(Decimal(30)) in own and usd(Decimal(60)) not in own
