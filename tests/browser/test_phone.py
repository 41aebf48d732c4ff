"""Every page of every role at 390 px (a phone): no sideways scroll, nothing wider than its
box, the menu folded away and a report's figures on the first screen.

Decision: a report's wide number tables (the Usage and Cost breakdowns, the Usage table of
the chart, the rate-limit tables) may scroll sideways inside their own frame, marked
``data-scroll-x`` (a focusable region, its first column kept in view); the page never does,
and every other element fits its box. Settings tables become one card per row instead.
"""

import pytest

from accounts import services as account_services
from accounts.models import Role
from tests.browser.every_page import ROLES, make_world, pages_of

WIDTH = 390

# Every visible HTML element: its box inside the window (unless inside a sideways-scroll
# region), and its content inside its box (unless it is such a region).
OVERFLOWS = """() => {
  const width = document.documentElement.clientWidth;
  const found = [];
  const reported = new Set();  // one line for an element, none for its descendants
  const under = (el) => { for (let p = el.parentElement; p; p = p.parentElement) {
    if (reported.has(p)) return true; } return false; };
  const clipped = (el) => {
    for (let p = el; p && p !== document.body; p = p.parentElement) {
      if (getComputedStyle(p).clip.startsWith("rect(0")) return true;
    }
    return false;
  };
  const name = (el) => {
    const cls = typeof el.className === "string" && el.className.trim()
      ? "." + el.className.trim().split(/\\s+/).join(".") : "";
    const text = (el.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 50);
    return `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${cls} "${text}"`;
  };
  for (const el of document.body.querySelectorAll("*")) {
    if (!(el instanceof HTMLElement)) continue;  // SVG: Plotly sizes it to its frame
    if (el.closest(".visually-hidden, .skip-link, script, template, [hidden]")) continue;
    if (clipped(el)) continue;  // shown to screen readers only (a stacked table's header row)
    const style = getComputedStyle(el);
    if (style.display === "none" || style.visibility === "hidden") continue;
    const box = el.getBoundingClientRect();
    if (!box.width && !box.height) continue;
    if (under(el)) continue;
    const inRegion = el.parentElement && el.parentElement.closest("[data-scroll-x]");
    if (!inRegion && (box.right > width + 1 || box.left < -1)) {
      found.push(`${name(el)} spans ${Math.round(box.left)}..${Math.round(box.right)}`);
      reported.add(el);
      continue;
    }
    if (style.display === "inline" || el.matches("[data-scroll-x]") || inRegion) continue;
    // A text field scrolls its own text; a select shows its choice cut: both by design.
    if (el.matches("input, textarea, select")) continue;
    if (el.scrollWidth > el.clientWidth + 1) {
      found.push(`${name(el)} holds ${el.scrollWidth} px in ${el.clientWidth} px`);
      reported.add(el);
    }
  }
  return found;
}"""


@pytest.fixture
def world(transactional_db, shipped_prices):
    return make_world()


def _check(page, url: str) -> list[str]:
    problems = []
    width = page.evaluate("document.scrollingElement.scrollWidth")
    if width > WIDTH:
        problems.append(f"{url}: the page is {width} px wide")
    problems += [f"{url}: {p}" for p in page.evaluate(OVERFLOWS)]
    # Open every fold (the menu, the filters, expandable rows): open, it must fit too.
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    width = page.evaluate("document.scrollingElement.scrollWidth")
    if width > WIDTH:
        problems.append(f"{url} (all open): the page is {width} px wide")
    problems += [f"{url} (all open): {p}" for p in page.evaluate(OVERFLOWS)]
    return problems


@pytest.mark.parametrize("role", ROLES)
def test_every_page_fits_a_phone(page, login, world, role):
    page.set_viewport_size({"width": WIDTH, "height": 844})
    login(world["people"][role])
    problems = []
    for url in pages_of(role, world):
        page.goto(url)
        page.wait_for_load_state("networkidle")
        problems += _check(page, url)
    assert not problems, "\n".join(problems)


def test_pages_without_a_session_fit_a_phone(page, world):
    page.set_viewport_size({"width": WIDTH, "height": 844})
    _invitation, token = account_services.invite(
        world["org"],
        email="someone.else.entirely@partner-company.test",
        role=Role.USER,
        actor=world["people"][Role.ADMIN],
    )
    problems = []
    for url in ("/accounts/login/", "/accounts/password/reset/", f"/accounts/invitations/{token}/"):
        page.goto(url)
        problems += _check(page, url)
    assert not problems, "\n".join(problems)


def test_the_menu_folds_away_and_the_figures_come_first(page, login, world):
    page.set_viewport_size({"width": WIDTH, "height": 844})
    login(world["people"][Role.ADMIN])
    page.goto("/usage/")
    nav = page.get_by_role("navigation", name="Main")
    assert not nav.get_by_role("link", name="Members").is_visible()  # folded
    menu = nav.locator("summary")
    assert "Usage" in menu.inner_text()  # where one is, beside the fold
    # The figures are on the first screen; the filters are one line above them.
    totals = page.get_by_test_id("totals").bounding_box()
    assert totals["y"] < 844 / 2
    assert not page.get_by_label("Workspace").is_visible()
    menu.click()
    assert nav.get_by_role("link", name="Members").is_visible()
    nav.get_by_role("link", name="Members").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", name="Members of", exact=False).is_visible()
    # Without JavaScript the menu works the same (a <details>).
    context = page.context.browser.new_context(
        base_url=page.url.split("/accounts/")[0], java_script_enabled=False
    )
    context.add_cookies(page.context.cookies())
    bare = context.new_page()
    bare.set_viewport_size({"width": WIDTH, "height": 844})
    bare.goto("/cost/")
    bare_nav = bare.get_by_role("navigation", name="Main")
    assert not bare_nav.get_by_role("link", name="Prices").is_visible()
    bare_nav.locator("summary").click()
    assert bare_nav.get_by_role("link", name="Prices").is_visible()
    context.close()


def test_the_menu_and_filters_stay_open_at_1280_px(page, login, world):
    page.set_viewport_size({"width": 1280, "height": 900})
    login(world["people"][Role.ADMIN])
    page.goto("/usage/")
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Members").is_visible()
    assert not nav.locator("summary").is_visible()
    assert page.get_by_label("Workspace").is_visible()
    assert not page.locator("details.filters-fold > summary").is_visible()
