"""The chargeback report: a pandas pivot in integer micro-dollars that agrees with the Cost
page to the cent, and its CSV and Excel exports that agree with it."""

import csv
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from django.urls import reverse

from accounts.models import Role
from costs.selectors import cost_report
from spend.chargeback import chargeback
from tests import factories
from tests.costs.builders import raw, series_for, store_and_roll_up, utc

CENT = Decimal("0.01")
ZONE = ZoneInfo("Asia/Kathmandu")


@pytest.fixture
def usage(org):
    research = factories.make_workspace(org, "Research", "wrkspc_r")
    default = series_for(org)
    lab = series_for(org, workspace=research, model="claude-opus-4-1-20250805")
    rows = [
        raw(default, utc(2026, 10, 31, 18, 14), uncached_input_tokens=333_333, output_tokens=7),
        raw(default, utc(2026, 10, 31, 18, 15), output_tokens=123_457),  # 1 November, local
        raw(lab, utc(2026, 11, 15, 3, 3), cache_read_tokens=987_654, output_tokens=55_555),
        raw(lab, utc(2026, 12, 1, 9), uncached_input_tokens=1, web_search_requests=3),
        raw(default, utc(2026, 12, 31, 18, 14), output_tokens=999_999),  # 31 December, local
    ]
    store_and_roll_up(org, rows)
    return research


def test_each_month_adds_up_to_the_cost_page_to_the_cent(org, usage):
    pivot = chargeback(org, zone=ZONE, first=(2026, 10), last=(2026, 12), by="workspace")
    assert list(pivot.columns) == ["2026-10", "2026-11", "2026-12", "Total"]
    assert list(pivot.index) == ["Default", "Research", "Total"]
    assert all(str(t) == "int64" for t in pivot.dtypes)
    for month in (10, 11, 12):
        page = cost_report(org, zone=ZONE, year=2026, month=month, group="workspace")
        column = pivot[f"2026-{month:02d}"]
        total = Decimal(int(column["Total"])) / 1_000_000
        assert total.quantize(CENT) == page.totals.total.quantize(CENT)
        assert abs(total - page.totals.total) <= Decimal("0.000001")  # a micro-dollar per cell
        assert int(column.drop("Total").sum()) == int(column["Total"])
    assert pivot.loc["Total", "2026-10"] > 0  # 23:59 on 31 October, local
    assert int(pivot["Total"].drop("Total").sum()) == int(pivot.loc["Total", "Total"])


def test_by_model(org, usage):
    pivot = chargeback(org, zone=ZONE, first=(2026, 11), last=(2026, 11), by="model")
    assert list(pivot.index) == ["Claude Opus 4.1", "Claude Sonnet 4.5", "Total"]


def test_by_person_each_month_adds_up_to_the_cost_page(org, usage):
    from console.models import Account

    ada = Account.objects.create(org=org, external_id="u_ada", name="Ada")
    sonnet_ada = series_for(org, account=ada)
    store_and_roll_up(org, [raw(sonnet_ada, utc(2026, 11, 20, 9), output_tokens=200_000)])
    pivot = chargeback(org, zone=ZONE, first=(2026, 11), last=(2026, 11), by="account")
    assert list(pivot.index) == ["Ada (u_ada)", "No account", "Total"]
    page = cost_report(org, zone=ZONE, year=2026, month=11, group="account")
    total = Decimal(int(pivot.loc["Total", "2026-11"])) / 1_000_000
    assert total.quantize(CENT) == page.totals.total.quantize(CENT)
    # Ada's 200,000 Sonnet output tokens at $15 per million: $3.
    assert int(pivot.loc["Ada (u_ada)", "2026-11"]) == 3_000_000


def test_csv_and_excel_agree_with_the_pivot(client, org, usage):
    client.force_login(factories.make_member(org, Role.BILLING))
    query = {"start": "2026-10", "end": "2026-12", "tz": "Asia/Kathmandu"}
    pivot = chargeback(org, zone=ZONE, first=(2026, 10), last=(2026, 12))
    expected = {
        (label, column): Decimal(int(v)) / 1_000_000
        for label, row in pivot.iterrows()
        for column, v in row.items()
    }
    response = client.get(reverse("spend:chargeback"), {**query, "format": "csv"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["Workspace", "2026-10", "2026-11", "2026-12", "Total"]
    got = {(r[0], c): Decimal(v) for r in rows[1:] for c, v in zip(rows[0][1:], r[1:], strict=True)}
    assert got == expected

    response = client.get(reverse("spend:chargeback"), {**query, "format": "xlsx"})
    assert response["Content-Disposition"].endswith('.xlsx"')
    sheet = openpyxl.load_workbook(io.BytesIO(response.content))["Chargeback"]
    assert sheet.freeze_panes == "B2"
    values = list(sheet.values)
    header = values[0]
    got = {
        (r[0], c): Decimal(str(v)).quantize(Decimal("0.000001"))
        for r in values[1:]
        for c, v in zip(header[1:], r[1:], strict=True)
    }
    assert got == expected
    assert sheet["B2"].number_format == "#,##0.000000"

    page = client.get(reverse("spend:chargeback"), query)
    assert page.status_code == 200
    assert 'data-testid="chargeback"' in page.content.decode()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2026-13", "end": "2026-12"}, "start"),
        ({"start": "2026-11", "end": "2026-10"}, "end"),
        ({"start": "2024-01", "end": "2026-12"}, "end"),
        ({"start": "2026-11", "end": "2026-11", "by": "person"}, "by"),
        ({"start": "2026-11", "end": "2026-11", "tz": "Nowhere/Else"}, "tz"),
        ({"start": "2026-11", "end": "2026-11", "format": "pdf"}, "format"),
    ],
)
def test_bad_query_is_a_400_naming_the_field(client, org, params, field):
    client.force_login(factories.make_member(org, Role.ADMIN))
    response = client.get(reverse("spend:chargeback"), params)
    assert response.status_code == 400
    assert list(response.context["form"].errors) == [field]


def test_by_api_key_adds_up_to_the_cost_page_and_the_raw_rows(client, org):
    a = factories.make_api_key(org, name="backend", external_id="apikey_a")
    b = factories.make_api_key(org, name="batch", external_id="apikey_b")
    rows = [
        raw(series_for(org, api_key=a), utc(2026, 11, 3, 10), output_tokens=100_000),
        raw(series_for(org, api_key=b), utc(2026, 11, 20, 23), uncached_input_tokens=1_000_000),
        raw(series_for(org, api_key=b), utc(2026, 12, 1, 2), output_tokens=50_000),
        raw(series_for(org), utc(2026, 11, 30, 17), output_tokens=200_000),
    ]
    store_and_roll_up(org, rows)
    pivot = chargeback(org, zone=ZONE, first=(2026, 11), last=(2026, 12), by="api_key")
    # Sonnet 4.5 at $3 a million input and $15 a million output tokens, from the raw rows; in
    # Kathmandu (+05:45) 20 November 23:00 UTC is 21 November and 30 November 17:00 is still
    # November, but 1 December 02:00 UTC is December.
    assert pivot.to_dict() == {
        "2026-11": {
            "backend (apikey_a)": 1_500_000,
            "batch (apikey_b)": 3_000_000,
            "No API key": 3_000_000,
            "Total": 7_500_000,
        },
        "2026-12": {
            "backend (apikey_a)": 0,
            "batch (apikey_b)": 750_000,
            "No API key": 0,
            "Total": 750_000,
        },
        "Total": {
            "backend (apikey_a)": 1_500_000,
            "batch (apikey_b)": 3_750_000,
            "No API key": 3_000_000,
            "Total": 8_250_000,
        },
    }
    for month in (11, 12):
        page = cost_report(org, zone=ZONE, year=2026, month=month)  # the page's default view
        total = Decimal(int(pivot.loc["Total", f"2026-{month}"])) / 1_000_000
        assert total == page.totals.total.quantize(CENT)

    client.force_login(factories.make_member(org, Role.BILLING))
    query = {"start": "2026-11", "end": "2026-12", "tz": "Asia/Kathmandu", "by": "api_key"}
    response = client.get(reverse("spend:chargeback"), {**query, "format": "xlsx"})
    assert "by-api_key" in response["Content-Disposition"]
    values = list(openpyxl.load_workbook(io.BytesIO(response.content))["Chargeback"].values)
    assert values[0] == ("API key", "2026-11", "2026-12", "Total")
    assert [(r[0], Decimal(str(r[3]))) for r in values[1:]] == [
        ("No API key", Decimal("3")),
        ("backend (apikey_a)", Decimal("1.5")),
        ("batch (apikey_b)", Decimal("3.75")),
        ("Total", Decimal("8.25")),
    ]
    page = client.get(reverse("spend:chargeback"), query).content.decode()
    assert "batch (apikey_b)" in page and "$8.25" in page
