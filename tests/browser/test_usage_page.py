"""The Usage page in Chromium: filters through htmx, drill-down by clicking bars, breadcrumb,
Back button, and a CSV whose sums equal the totals on the page."""

import csv
import datetime as dt
import io
import re

from accounts.models import Role
from tests import factories
from tests.usage.rawrows import raw, series_for, store_batch
from usage.rollups import rollup_pending

UTC = dt.UTC


def seed(org):
    research = factories.make_workspace(org, "Research", "wrkspc_research")
    prod = factories.make_api_key(org, research, "prod", "apikey_prod")
    factories.make_api_key(org, name="ci", external_id="apikey_ci")
    series = [
        series_for(org, workspace=research, api_key=prod),
        series_for(org, workspace=research, api_key=prod, model="claude-haiku-4-5-20251001"),
        series_for(org),
    ]
    rows = []
    for month in (10, 11):
        for day in range(1, 29):
            for hour in (3, 12, 21):
                for i, s in enumerate(series):
                    rows.append(
                        raw(
                            s,
                            dt.datetime(2026, month, day, hour, 5 + i * 10, tzinfo=UTC),
                            uncached_input_tokens=1000 + day * 10 + i,
                            cache_write_5m_tokens=200 * i,
                            cache_read_tokens=500 + hour,
                            output_tokens=300 + hour * 3 + i,
                            web_search_requests=i,
                            status_code=429 if hour == 21 and i == 2 else 200,
                            rate_limit_type="requests" if hour == 21 and i == 2 else "",
                        )
                    )
    store_batch(org, rows)
    rollup_pending()
    return rows


def total(page, name: str) -> int:
    return int(
        page.locator(f'[data-testid="totals"] [data-total="{name}"]').inner_text().replace(",", "")
    )


def settled(page, url):
    """Wait for the URL htmx pushes, then for htmx to finish every request it started."""
    page.wait_for_url(url)
    # A selector, not a JS predicate: the Content-Security-Policy forbids eval in the page.
    page.wait_for_selector(".htmx-request", state="detached")


def wait_chart(page):
    page.locator('#usage-chart[data-ready="true"]').wait_for()


def click_bar(page, index: int):
    """Click the index-th bar of the first trace where Plotly draws it (its drag layer)."""
    bar = page.locator("#usage-chart .trace.bars").first.locator(".point path").nth(index)
    box = bar.bounding_box()
    assert box and box["height"] > 0
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def test_developer_filters_drills_goes_back_and_exports(page, login, transactional_db):
    org = factories.make_org("acme", "Acme")
    developer = factories.make_member(org, Role.DEVELOPER, "dev@acme.test")
    rows = seed(org)
    login(developer)

    page.goto("/usage/?month=2026-11")
    wait_chart(page)
    all_requests = total(page, "requests")
    assert all_requests == sum(1 for r in rows if r.timestamp.month == 11)

    # Each filter updates the page through htmx and lands in the URL.
    page.get_by_label("Workspace", exact=True).select_option("wrkspc_research")
    settled(page, re.compile(r"workspace=wrkspc_research"))
    wait_chart(page)
    assert total(page, "requests") == all_requests * 2 // 3
    keys = page.get_by_label("API key", exact=True).locator("option").all_inner_texts()
    assert any("prod" in k for k in keys) and not any("ci (" in k for k in keys)
    page.get_by_label("API key", exact=True).select_option("apikey_prod")
    settled(page, re.compile(r"api_key=apikey_prod"))
    page.get_by_label("Model", exact=True).select_option("claude-haiku-4-5-20251001")
    settled(page, re.compile(r"model=claude-haiku"))
    wait_chart(page)
    assert total(page, "requests") == all_requests // 3
    page.get_by_label("Group by", exact=True).select_option("model")
    settled(page, re.compile(r"group_by=model"))
    assert page.get_by_test_id("breakdown").is_visible()
    page.get_by_label("Time zone", exact=True).select_option("Asia/Kolkata")
    settled(page, re.compile(r"tz=Asia%2FKolkata"))
    page.get_by_label("Month", exact=True).fill("2026-10")
    settled(page, re.compile(r"month=2026-10"))
    page.get_by_label("Day", exact=True).select_option("2026-10-05")
    settled(page, re.compile(r"day=2026-10-05"))
    wait_chart(page)
    assert page.get_by_test_id("view-title").inner_text().startswith("By hour")

    # Back to the whole organisation in UTC, by URL: every view is bookmarkable.
    page.goto("/usage/?month=2026-11&tz=UTC")
    wait_chart(page)
    assert total(page, "requests") == all_requests

    # Click the 4th day's bar: that day by hour.
    click_bar(page, 3)
    settled(page, re.compile(r"day=2026-11-04"))
    wait_chart(page)
    day_requests = total(page, "requests")
    assert day_requests == sum(1 for r in rows if r.timestamp.date() == dt.date(2026, 11, 4))
    # Click the 12:00 bar: that hour by minute.
    click_bar(page, 12)
    settled(page, re.compile(r"hour=12"))
    wait_chart(page)
    assert total(page, "requests") == 3
    crumbs = page.get_by_test_id("breadcrumb")
    assert crumbs.locator("li").all_inner_texts() == ["2026-11", "2026-11-04", "12:00"]

    # The breadcrumb goes up a level; Back returns to the hour.
    crumbs.get_by_role("link", name="2026-11-04").click()
    settled(page, re.compile(r"day=2026-11-04&tz=UTC$"))
    wait_chart(page)
    assert total(page, "requests") == day_requests
    page.go_back()
    settled(page, re.compile(r"hour=12"))
    wait_chart(page)
    assert total(page, "requests") == 3
    page.go_back()
    settled(page, re.compile(r"day=2026-11-04&tz=UTC$"))
    page.go_back()
    settled(page, re.compile(r"month=2026-11&tz=UTC$"))
    wait_chart(page)
    assert total(page, "requests") == all_requests

    # The CSV holds exactly what the page shows.
    with page.expect_download() as info:
        page.get_by_test_id("export").click()
    download = info.value
    assert download.suggested_filename == "usage_acme_2026-11_by-day_UTC.csv"
    with open(download.path(), encoding="utf-8") as f:
        lines = list(csv.DictReader(io.StringIO(f.read())))
    assert len(lines) == 30
    for column in [
        "input_tokens",
        "uncached_input_tokens",
        "cache_read_tokens",
        "output_tokens",
        "requests",
        "rate_limited_requests",
        "web_search_requests",
    ]:
        assert sum(int(line[column]) for line in lines) == total(page, column), column
