"""The Usage and Cost pages look and behave the same at 1280 px: one filter bar on one row
(the same controls in the same order; Cost alone has no API key), one head, one card style
whose figures fit their cards, one chart frame."""

import pytest

from accounts.models import Role
from tests import factories
from tests.browser.every_page import make_world
from tests.costs.builders import raw, series_for, store_and_roll_up, utc

# The filter bar's cells that show: label text, bottom and right edge, and the form's right.
BAR = """(id) => {
  const form = document.getElementById(id);
  const cells = [...form.children].filter((c) => !c.hidden && c.getClientRects().length);
  return {
    right: form.getBoundingClientRect().right,
    cells: cells.map((c) => ({
      label: (c.querySelector("label") || c).textContent.trim(),
      bottom: Math.round(c.getBoundingClientRect().bottom),
      right: c.getBoundingClientRect().right,
    })),
  };
}"""
# Every card figure or part whose content is wider than its box.
CUT = """() => [...document.querySelectorAll(".stat .value, .stat .exact, .stat li")]
  .filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent.trim())"""


@pytest.fixture
def world(transactional_db, shipped_prices):
    return make_world()


def test_one_filter_bar_on_one_row_on_both_reports(page, login, world):
    page.set_viewport_size({"width": 1280, "height": 900})
    login(world["people"][Role.ADMIN])
    labels = {}
    for url, bar in (("/usage/?group_by=model", "usage-filters"), ("/cost/", "cost-filters")):
        page.goto(url)
        page.wait_for_load_state("networkidle")
        found = page.evaluate(BAR, bar)
        rows = {cell["bottom"] for cell in found["cells"]}  # one row: one baseline
        assert len(rows) == 1, f"{url}: the bar takes {len(rows)} rows: {found['cells']}"
        assert all(cell["right"] <= found["right"] + 1 for cell in found["cells"])
        labels[url] = [cell["label"] for cell in found["cells"]]
        # The head under the bar: where the view is, then what it shows.
        assert page.get_by_test_id("breadcrumb").is_visible()
        assert page.get_by_test_id("view-title").inner_text().startswith("By day, ")
        # One chart frame holding the chart and its heading.
        assert page.locator(".chart-frame [data-figure]").first.is_visible()
        assert not page.evaluate(CUT), f"{url}: figures cut: {page.evaluate(CUT)}"
    usage, cost = labels.values()
    assert usage == [
        "Workspace", "API key", "Model", "User", "Month", "Day", "Time zone", "Group by",
        "Export CSV",
    ]  # fmt: skip
    assert cost == [label for label in usage if label != "API key"]


def test_large_counts_read_short_with_the_exact_count_under_them(page, login, transactional_db):
    org = factories.make_org("acme", "Acme")
    admin = factories.make_member(org, Role.ADMIN, "admin@acme.test")
    series = series_for(org)
    rows = [
        raw(series, utc(2026, 5, 12, hour), uncached_input_tokens=14_902_142_428 + hour)
        for hour in range(3)
    ]
    store_and_roll_up(org, rows)
    exact = sum(row.uncached_input_tokens for row in rows)  # 44,706,427,287
    page.set_viewport_size({"width": 1280, "height": 900})
    login(admin)
    page.goto("/usage/?month=2026-05&tz=UTC")
    card = page.get_by_test_id("totals").locator(".card").first
    assert card.locator("[data-total=input_tokens]").inner_text() == f"{exact:,}"
    assert card.locator(".value").inner_text() == "44.7B"
    assert not page.evaluate(CUT)


def test_without_script_the_bar_has_its_apply_button(page, login, world):
    login(world["people"][Role.ADMIN])
    origin = page.evaluate("location.origin")
    context = page.context.browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    context.add_cookies(page.context.cookies())
    bare = context.new_page()
    for path in ("/usage/", "/cost/"):
        bare.goto(origin + path)
        assert bare.get_by_role("button", name="Apply").is_visible()
        assert bare.get_by_test_id("export").is_visible()
    context.close()
    # With script, every change is sent at once: no Apply button.
    page.goto("/usage/")
    page.wait_for_load_state("networkidle")
    assert not page.get_by_role("button", name="Apply").is_visible()
