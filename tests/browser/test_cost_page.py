import csv
import io
from decimal import ROUND_HALF_UP, Decimal

from playwright.sync_api import expect

from accounts.models import Role
from tests import factories
from tests.costs.builders import raw, series_for, store_and_roll_up, utc


def shown_usd(text: str) -> Decimal:
    return Decimal(text.strip().lstrip("$").replace(",", ""))


def csv_sum(download) -> Decimal:
    with open(download.path(), newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(io.StringIO(handle.read())))
    total = sum(Decimal(r["amount_usd"]) for r in rows if r["amount_usd"])
    return total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_billing_filters_drills_into_a_day_and_exports_matching_csv(page, login, shipped_prices):
    org = factories.make_org("acme", "Acme")
    billing = factories.make_member(org, Role.BILLING, "billing@acme.test")
    research = factories.make_workspace(org, "Research")
    sonnet = series_for(org)
    haiku = series_for(org, workspace=research, model="claude-haiku-4-5-20251001")
    store_and_roll_up(
        org,
        [
            raw(sonnet, utc(2026, 5, 12, h), uncached_input_tokens=3_333_333, output_tokens=77_777)
            for h in (2, 9, 17)
        ]
        + [
            raw(haiku, utc(2026, 5, d, 6), cache_read_tokens=1_234_567, web_search_requests=7)
            for d in (3, 12, 20)
        ],
    )

    login(billing)
    page.goto("/cost/?month=2026-05&tz=UTC")
    total = page.get_by_test_id("total")
    assert shown_usd(total.inner_text()) > 0

    # Filter: group by workspace (htmx swap, URL pushed).
    page.get_by_label("Group by").select_option("workspace")
    page.wait_for_url("**group_by=workspace**")
    page.wait_for_selector("#cost-chart .main-svg")
    assert "Research" in page.get_by_test_id("cost-lines").inner_text()

    # Click the tallest bar (12 May) to see that day by hour.
    page.get_by_test_id("cost-chart").scroll_into_view_if_needed()
    bars = page.locator("#cost-chart g.point path")
    boxes = [bars.nth(i).bounding_box() for i in range(bars.count())]
    tallest = max((b for b in boxes if b), key=lambda b: b["height"])
    page.mouse.click(tallest["x"] + tallest["width"] / 2, tallest["y"] + tallest["height"] / 2)
    page.wait_for_url("**day=2026-05-12**")
    assert "2026-05-12 by hour" in page.get_by_role("navigation", name="Breadcrumb").inner_text()
    day_total = shown_usd(page.get_by_test_id("total").inner_text())

    with page.expect_download() as info:
        page.get_by_test_id("export").click()
    download = info.value
    assert download.suggested_filename == "cost_acme_2026-05-12_by-workspace_UTC.csv"
    assert csv_sum(download) == day_total

    # Breadcrumb back to the month; its export matches the month total too.
    page.get_by_test_id("crumb-month").click()
    page.wait_for_url(lambda url: "day=" not in url)
    month_total = shown_usd(page.get_by_test_id("total").inner_text())
    assert month_total > day_total
    with page.expect_download() as info:
        page.get_by_test_id("export").click()
    assert csv_sum(info.value) == month_total

    # Filter by model: only Haiku is left, and Back restores the unfiltered month.
    page.get_by_label("Model").select_option("claude-haiku-4-5-20251001")
    page.wait_for_url("**model=claude-haiku-4-5-20251001**")
    haiku_total = shown_usd(page.get_by_test_id("total").inner_text())
    assert Decimal(0) < haiku_total < month_total
    page.go_back()
    page.wait_for_url(lambda url: "model=" not in url)
    # The page reloads for the restored URL (no htmx history cache here): wait for it.
    expect(page.get_by_label("Model")).to_have_value("")
    assert shown_usd(page.get_by_test_id("total").inner_text()) == month_total
