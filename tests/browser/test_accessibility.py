"""axe-core on every page of every role, in the light and the dark theme, at 1280 and 390 px:
no serious or critical violation (WCAG 2.2 AA and axe's best practices); and in the same walk,
no sideways scroll and no element holding more than its box.

Decision: axe-core is vendored for the tests only, in tests/browser/vendor/axe-core/ (the
npm package's ``axe.min.js`` with its MPL-2.0 licence; its README says which release and how
to update it), rather than installed when the tests run: CI and a developer's machine then
test offline, always against the same rules, and a new axe release (which adds rules) comes
in as a commit that fixes what it finds.

It is evaluated through the DevTools protocol (``page.evaluate``), which the page's
Content-Security-Policy does not govern. ``page.add_script_tag`` would insert an inline
``<script>``, which the CSP (``script-src 'self'``) rightly refuses, and axe would never load.
Every ``<details>`` is opened first, so the folded parts are checked too: the phone's menu
and filters, a breakdown's lines, the tables of the charts.
"""

from pathlib import Path

import pytest

from accounts import services as account_services
from accounts.models import Role
from tests.browser.every_page import ROLES, make_world, pages_of
from tests.browser.test_phone import OVERFLOWS

AXE_SOURCE = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text()
SIZES = [(1280, 900), (390, 844)]
THEMES = ["light", "dark"]
BLOCKING = ("serious", "critical")

# Each serious or critical violation as one line: rule, impact, and its first elements.
RUN = """async (blocking) => {
  document.querySelectorAll("details").forEach((d) => { d.open = true; });
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.filter((v) => blocking.includes(v.impact)).map((v) =>
    `${v.id} (${v.impact}): ` + v.nodes.slice(0, 3).map((n) =>
      n.target.join(" ") + " — " + (n.failureSummary || "").replace(/\\s+/g, " ").slice(0, 160)
    ).join("; ")
  );
}"""


def violations(page, where: str) -> list[str]:
    """The page's serious and critical axe violations, each prefixed with ``where``."""
    page.wait_for_load_state("networkidle")
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE_SOURCE)
    return [f"{where}: {v}" for v in page.evaluate(RUN, list(BLOCKING))]


@pytest.fixture
def world(transactional_db, shipped_prices):
    return make_world()


def fit(page, width: int, where: str) -> list[str]:
    """No sideways scroll and no element holding more than its box (as test_phone checks at
    390 px in the light theme), at this width in this theme."""
    problems = []
    scroll = page.evaluate("document.scrollingElement.scrollWidth")
    if scroll > width:
        problems.append(f"{where}: the page is {scroll} px wide")
    return problems + [f"{where}: {p}" for p in page.evaluate(OVERFLOWS)]


def every_way(page, url: str) -> list[str]:
    """The violations of the page at ``url`` at each width in each theme, and whether it fits:
    loaded once, then resized and switched the way a person would (the layout and the theme
    follow CSS media queries, and the charts redraw on a theme change), which keeps the walk
    to a minute."""
    page.goto(url)
    problems = []
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        for theme in THEMES:
            page.emulate_media(color_scheme=theme)
            where = f"{theme} {width} px {url}"
            problems += violations(page, where)
            problems += fit(page, width, where)
    return problems


@pytest.mark.parametrize("role", ROLES)
def test_every_page_has_no_serious_violation(page, login, world, role):
    login(world["people"][role])
    problems = []
    for url in pages_of(role, world):
        problems += every_way(page, url)
    assert not problems, "\n".join(problems)


def test_pages_without_a_session_have_no_serious_violation(page, world):
    _invitation, token = account_services.invite(
        world["org"],
        email="someone.else.entirely@partner-company.test",
        role=Role.USER,
        actor=world["people"][Role.ADMIN],
    )
    problems = []
    for url in ("/accounts/login/", "/accounts/password/reset/", f"/accounts/invitations/{token}/"):
        problems += every_way(page, url)
    assert not problems, "\n".join(problems)


def test_axe_finds_what_it_must(page, login, world):
    """The check can fail: a control without a label and text without contrast are found."""
    login(world["people"][Role.ADMIN])
    page.goto("/usage/")
    # Built through the DOM (the CSP refuses style attributes in markup, not CSSOM styles).
    page.evaluate(
        """() => {
          const main = document.getElementById("main");
          const select = document.createElement("select");
          select.id = "unlabelled";
          select.add(new Option("x"));
          const faint = document.createElement("p");
          faint.id = "faint";
          faint.textContent = "faint words";
          faint.style.color = "#ddd";
          faint.style.background = "#fff";
          main.append(select, faint);
        }"""
    )
    found = "\n".join(violations(page, "planted"))
    assert "select-name (critical)" in found and "#unlabelled" in found
    assert "color-contrast (serious)" in found and "#faint" in found


# The element that has focus, and whether a focus ring shows around it.
FOCUSED = """() => {
  const el = document.activeElement;
  if (el === document.body) return null;  // Tab went past the last stop, out of the page
  const style = getComputedStyle(el);
  const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    ` "${(el.textContent || el.value || "").trim().slice(0, 30)}"`;
  return { name, ring: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2 };
}"""


@pytest.mark.parametrize("theme", THEMES)
def test_the_keyboard_focus_is_always_visible(page, login, world, theme):
    """axe cannot see focus: Tab through both reports and every stop shows its ring."""
    page.emulate_media(color_scheme=theme)
    page.set_viewport_size({"width": 1280, "height": 900})
    login(world["people"][Role.ADMIN])
    unringed = []
    for url in ("/usage/?group_by=model", "/cost/"):
        page.goto(url)
        page.wait_for_load_state("networkidle")
        seen = set()
        for _ in range(60):
            page.keyboard.press("Tab")
            focused = page.evaluate(FOCUSED)
            if focused is None or focused["name"] in seen:
                continue
            seen.add(focused["name"])
            if not focused["ring"]:
                unringed.append(f"{theme} {url}: {focused['name']}")
        assert len(seen) > 20  # the walk went through the menu, the bar and the report
    assert not unringed, "\n".join(unringed)
