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
    assert "Research" in page.get_by_test_id("cost-breakdown").inner_text()

    # Click the tallest bar (12 May) to see that day by hour.
    page.get_by_test_id("cost-chart").scroll_into_view_if_needed()
    bars = page.locator("#cost-chart g.point path")
    boxes = [bars.nth(i).bounding_box() for i in range(bars.count())]
    tallest = max((b for b in boxes if b), key=lambda b: b["height"])
    page.mouse.click(tallest["x"] + tallest["width"] / 2, tallest["y"] + tallest["height"] / 2)
    page.wait_for_url("**day=2026-05-12**")
    # The same head as the Usage page's: the breadcrumb to the day, then what the view shows.
    assert page.get_by_test_id("breadcrumb").inner_text().split() == ["2026-05", "2026-05-12"]
    assert (
        page.get_by_test_id("view-title")
        .inner_text()
        .startswith("By hour, UTC, grouped by workspace.")
    )
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


def test_breakdown_rows_open_to_their_lines_and_sort_by_a_heading(page, login, shipped_prices):
    org = factories.make_org("acme", "Acme")
    billing = factories.make_member(org, Role.BILLING, "billing@acme.test")
    research = factories.make_workspace(org, "Research")
    store_and_roll_up(
        org,
        [
            raw(series_for(org, service_tier=tier), utc(2026, 5, 3), output_tokens=900_000)
            for tier in ("standard", "batch")
        ]
        + [
            raw(series_for(org, workspace=research), utc(2026, 5, 4), uncached_input_tokens=10**7),
        ],
    )
    login(billing)
    page.goto("/cost/?month=2026-05&tz=UTC&group_by=workspace")
    table = page.get_by_test_id("cost-breakdown")
    groups = table.locator("tr.group-row th")
    assert [t.split()[0] for t in groups.all_inner_texts()] == ["Research", "Default"]
    lines = table.locator("tr.line")
    assert lines.count() == 3 and not any(lines.nth(i).is_visible() for i in range(3))
    # Opening a row shows its lines (a <details> and CSS alone, no script).
    table.locator("summary", has_text="Default").click()
    default_lines = table.locator("tbody", has_text="Default").locator("tr.line")
    expect(default_lines.first).to_be_visible()
    names = [text.split("\t")[0] for text in default_lines.all_inner_texts()]
    assert sorted(names) == [f"Claude Sonnet 4.5 · {t} · 0-200k" for t in ("Batch", "Standard")]
    # A heading sorts, through the URL (so Back and a shared link keep the order).
    table.get_by_role("link", name="Output").click()
    page.wait_for_url("**sort=-output**")
    expect(groups.first).to_contain_text("Default")
    page.go_back()
    page.wait_for_url(lambda url: "sort=" not in url)
    expect(page.get_by_test_id("cost-breakdown").locator("tr.group-row th").first).to_contain_text(
        "Research"
    )


def test_dark_mode_follows_the_system_and_a_stored_choice_and_charts_follow(
    browser, live_server, login, page, shipped_prices
):
    org = factories.make_org("acme", "Acme")
    billing = factories.make_member(org, Role.BILLING, "billing@acme.test")
    store_and_roll_up(org, [raw(series_for(org), utc(2026, 5, 3), output_tokens=900_000)])
    login(billing)
    state = page.context.storage_state()
    dark = browser.new_context(base_url=live_server.url, storage_state=state, color_scheme="dark")
    themed = dark.new_page()
    themed.goto("/cost/?month=2026-05&tz=UTC")
    themed.wait_for_selector("#cost-chart[data-ready]")

    def colours():
        return themed.evaluate(
            """() => ({
                bg: getComputedStyle(document.body).backgroundColor,
                ink: getComputedStyle(document.documentElement).getPropertyValue("--ink").trim(),
                chart: document.getElementById("cost-chart")._fullLayout.font.color,
            })"""
        )

    system = colours()
    assert system["bg"] == "rgb(25, 24, 23)" and system["chart"] == system["ink"]
    # The control overrides the system's choice, is kept across pages, and charts follow.
    theme = themed.get_by_role("group", name="Theme")
    theme.get_by_label("Light").check()
    expect(themed.locator("html")).to_have_attribute("data-theme", "light")
    themed.wait_for_function(
        "document.getElementById('cost-chart')._fullLayout.font.color === '#1f1e1d'"
    )
    themed.reload()
    themed.wait_for_selector("#cost-chart[data-ready]")
    light = colours()
    assert light["bg"] == "rgb(250, 249, 247)" and light["chart"] == light["ink"] == "#1f1e1d"
    assert theme.get_by_label("Light").is_checked()
    theme.get_by_label("System").check()  # back to the system's (dark)
    expect(themed.locator("html")).not_to_have_attribute("data-theme", "light")
    assert colours()["bg"] == "rgb(25, 24, 23)"
    dark.close()
