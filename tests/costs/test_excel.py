"""The Cost page's Excel workbook: a sheet per grouping, each adding up to the page's total
to the cent, exact micro-dollars, the header frozen; and who may download it."""

import datetime as dt
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from django.urls import reverse

from accounts.models import Role
from console.models import Account
from costs.selectors import GROUPS, cost_report
from tests import factories
from tests.costs.builders import raw, series_for, store_and_roll_up, utc

ZONE = ZoneInfo("Asia/Kathmandu")  # +05:45
QUERY = {"month": "2026-11", "tz": "Asia/Kathmandu"}
CENT = Decimal("0.01")


@pytest.fixture
def usage(org):
    research = factories.make_workspace(org, "Research", "wrkspc_r")
    ada = Account.objects.create(org=org, external_id="u_ada", name="Ada")
    rows = [
        raw(series_for(org), utc(2026, 10, 31, 18, 14), output_tokens=1_000_000),  # October
        raw(series_for(org), utc(2026, 10, 31, 18, 15), output_tokens=333_333),  # 1 Nov, local
        raw(series_for(org, workspace=research, model="claude-opus-4-1-20250805", account=ada),
            utc(2026, 11, 15, 3), uncached_input_tokens=777_777, web_search_requests=7),
        raw(series_for(org, service_tier="batch"), utc(2026, 11, 20), output_tokens=123_457),
    ]  # fmt: skip
    store_and_roll_up(org, rows)


def _book(client, **query):
    response = client.get(reverse("costs:excel"), {**QUERY, **query})
    assert response.status_code == 200
    return response, openpyxl.load_workbook(io.BytesIO(response.content))


def test_a_sheet_per_view_each_adding_up_to_the_page(client, org, usage):
    client.force_login(factories.make_member(org, Role.BILLING))
    response, book = _book(client)
    assert response["Content-Disposition"].endswith('.xlsx"')
    assert book.sheetnames == list(GROUPS.values())
    for group, name in GROUPS.items():
        sheet = book[name]
        assert sheet.freeze_panes == "B2"
        rows = list(sheet.values)
        header, body, totals = rows[0], rows[1:-1], rows[-1]
        assert header[0] == "Day" and header[-1] == "Total" and totals[0] == "Total"
        assert len(body) == 30  # the days of November
        page = cost_report(org, zone=ZONE, year=2026, month=11, group=group)
        assert list(header[1:-1]) == page.groups
        total = Decimal(str(totals[-1]))
        assert total.quantize(CENT) == page.totals.total.quantize(CENT)
        # Columns and rows add up to the totals, to the micro-dollar.
        micro = [[round(Decimal(str(v)) * 1_000_000) for v in row[1:]] for row in rows[1:]]
        assert [sum(col[:-1]) for col in zip(*micro, strict=True)] == micro[-1]
        assert all(sum(row[:-1]) == row[-1] for row in micro)
        formats = {c.number_format for row in sheet.iter_rows(min_row=2, min_col=2) for c in row}
        assert formats == {"#,##0.000000"}


def test_amounts_against_the_raw_rows(client, org, usage):
    """November in Kathmandu, priced here from the raw rows at the shipped rates."""
    client.force_login(factories.make_member(org, Role.DEVELOPER))
    _response, book = _book(client)
    rows = {row[0]: row for row in book["Token type"].values}
    header = rows["Day"]
    totals = dict(zip(header, rows["Total"], strict=True))
    # Each day's cell is rounded to the micro-dollar (half to even), then added: 1 November's
    # 333,333 x $15 per million, and 20 November's 123,457 batch tokens at half price,
    # 0.9259275, which rounds to 0.925928.
    micro = Decimal("0.000001")
    first = (Decimal(333_333 * 15) / 1_000_000).quantize(micro)
    batch = (Decimal(123_457) * Decimal("7.5") / 1_000_000).quantize(micro)
    assert batch == Decimal("0.925928")
    assert Decimal(str(totals["Output Tokens"])) == first + batch
    assert Decimal(str(totals["Input Tokens"])) == Decimal(777_777 * 15) / 1_000_000
    assert Decimal(str(totals["Web search"])) == Decimal("0.07")


def test_a_day_by_hour_with_filters(client, org, usage):
    client.force_login(factories.make_member(org, Role.ADMIN))
    _response, book = _book(client, day="2026-11-15", workspace="wrkspc_r")
    rows = list(book["Model"].values)
    assert rows[0][0] == "Hour" and len(rows) == 1 + 24 + 1
    assert rows[0][1:] == ("Claude Opus 4.1", "Total")
    page = cost_report(
        org, zone=ZONE, year=2026, month=11, day=dt.date(2026, 11, 15),
        workspace=org.workspaces.get(external_id="wrkspc_r"),
    )  # fmt: skip
    assert Decimal(str(rows[-1][-1])) == page.totals.total.quantize(Decimal("0.000001"))


def test_the_page_links_to_the_workbook(client, org, usage):
    client.force_login(factories.make_member(org, Role.DEVELOPER))
    response = client.get(reverse("costs:page"), {**QUERY, "group_by": "workspace"})
    assert response.context["excel_url"].startswith(reverse("costs:excel") + "?month=2026-11")
    assert 'data-testid="export-excel"' in response.content.decode()


def test_who_may_download_it(client, org, other_org, usage):
    url = reverse("costs:excel")
    assert client.get(url, QUERY).status_code == 302
    client.force_login(factories.make_member(org, Role.USER))
    assert client.get(url, QUERY).status_code == 403
    client.force_login(factories.make_member(other_org, Role.BILLING))
    assert client.get(url, {**QUERY, "workspace": "wrkspc_r"}).status_code == 404
    assert client.get(url, {**QUERY, "month": "2026-13"}).status_code == 400
