"""Names from ingest reach the charts as text: Plotly reads <b> and <a href> in legends and
hover labels, so a workspace named like HTML must show its characters, not a link."""

import pytest

from accounts.models import Role
from tests import factories
from tests.costs.builders import raw, series_for, store_and_roll_up, utc

LINK = '<a href="https://example.com">x</a>'
BOLD = "<b>x</b>"


@pytest.fixture
def html_named_usage(shipped_prices):
    org = factories.make_org("acme", "Acme")
    rows = []
    for name, tokens in ((LINK, 9_000_000), (BOLD, 4_000_000)):
        series = series_for(org, workspace=factories.make_workspace(org, name))
        rows += [raw(series, utc(2026, 5, 12, 9), output_tokens=tokens)]
    store_and_roll_up(org, rows)
    return factories.make_member(org, Role.BILLING, "billing@acme.test")


def assert_names_are_text(page, chart: str):
    page.locator(f"{chart} .legendtext").first.wait_for()
    legend = page.locator(f"{chart} .legendtext").all_text_contents()
    assert LINK in legend and BOLD in legend
    # Plotly draws <a href> as an SVG link and <b> as a bold tspan: neither may appear.
    assert page.locator(f"{chart} .legend a, {chart} .legendtext tspan").count() == 0

    page.locator(chart).scroll_into_view_if_needed()  # the mouse only hovers what is in view
    bars = page.locator(f"{chart} .trace.bars .point path")
    box = max((bars.nth(i).bounding_box() for i in range(bars.count())), key=lambda b: b["height"])
    assert box["height"] > 0
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    hover = page.locator(f"{chart} .hoverlayer .legend").first
    hover.wait_for()
    assert LINK in hover.text_content()
    assert hover.locator("a").count() == 0


def test_usage_chart_shows_html_in_workspace_names_as_text(page, login, html_named_usage):
    login(html_named_usage)
    page.goto("/usage/?month=2026-05&day=2026-05-12&tz=UTC&group_by=workspace")
    assert_names_are_text(page, "#usage-chart")


def test_cost_chart_shows_html_in_workspace_names_as_text(page, login, html_named_usage):
    login(html_named_usage)
    page.goto("/cost/?month=2026-05&day=2026-05-12&tz=UTC&group=workspace")
    assert_names_are_text(page, "#cost-chart")
