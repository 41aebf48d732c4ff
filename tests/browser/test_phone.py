"""Every page of every role at 390 px (a phone): no sideways scroll, nothing wider than its
box, the menu folded away and a report's figures on the first screen.

Decision: a report's wide number tables (the Usage and Cost breakdowns, the Usage table of
the chart, the rate-limit tables) may scroll sideways inside their own frame, marked
``data-scroll-x`` (a focusable region, its first column kept in view); the page never does,
and every other element fits its box. Settings tables become one card per row instead.
"""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.context_processors import NAV_ITEMS
from accounts.models import REPORT_ROLES, Membership, Role
from adminapi.services import create_admin_key
from console.models import Account
from spend.models import Limit
from tests import factories
from tests.costs.builders import raw, series_for, store_and_roll_up
from usage.ingest.keys import create_ingest_key
from usage.models import RateLimit

WIDTH = 390
LONG_MODEL = "claude-3-5-sonnet-v2@20241022-vertex-europe-west4-provisioned"
SPEND_ROLES = {Role.ADMIN, Role.BILLING}

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
    """One organisation with long names everywhere a phone could be pushed sideways."""
    org = factories.make_org("acme", "Acme Research and Development International")
    people = {
        role: factories.make_member(org, role, f"{role}.with-a-rather-long-address@acme-corp.test")
        for role in (Role.ADMIN, Role.BILLING, Role.DEVELOPER, Role.USER)
    }
    second_admin = factories.make_member(org, Role.ADMIN, "second.admin@acme-corp.test")
    workspace = factories.make_workspace(
        org, "Customer Support Platform Europe", "wrkspc_01JQMMZCgK8Hf33ut7PR2cnXeuw"
    )
    key = factories.make_api_key(
        org,
        workspace,
        name="prod-backend-canary-eu-west-1",
        external_id="apikey_01JQMMZCgK8Hf33ut7PR2cnX0000",
    )
    account = Account.objects.create(
        org=org,
        external_id="user_01JQMMZCgK8Hf33ut7PR2cnXaccount",
        name="Ada Lovelace-Byron",
        email=people[Role.USER].email,
    )
    now = timezone.now()
    rows = []
    for model in ("claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", LONG_MODEL):
        series = series_for(org, workspace=workspace, api_key=key, model=model, account=account)
        for hours in (1, 30, 60):
            rows.append(
                raw(
                    series,
                    now - dt.timedelta(hours=hours),
                    uncached_input_tokens=123_456_789,
                    cache_write_5m_tokens=12_345_678,
                    cache_read_tokens=98_765_432,
                    output_tokens=9_876_543,
                    web_search_requests=12,
                )
            )
    store_and_roll_up(org, rows)
    RateLimit.objects.create(
        org=org,
        model=series.model,
        requests_per_minute=4000,
        input_tokens_per_minute=2_000_000,
        output_tokens_per_minute=400_000,
    )
    invitation, _ = account_services.invite(
        org,
        email="a.new.person.with.a.long.address@partner-company.test",
        role=Role.BILLING,
        actor=people[Role.ADMIN],
    )
    create_ingest_key(org, "gateway-production-eu-west-1", actor=people[Role.ADMIN])
    create_admin_key(org, "grafana-dashboards-production", actor=people[Role.ADMIN])
    Limit.objects.create(
        org=org, name="Monthly budget for support", unit="usd", amount=5000, period="month"
    )
    return {
        "org": org,
        "people": people,
        "member": Membership.objects.get(user=second_admin, org=org),
        "invitation": invitation,
        "model": LONG_MODEL,
    }


def _pages(role, world) -> list[str]:
    pages = [reverse(name) for _s, _l, name, roles in NAV_ITEMS if role in roles]
    if role in REPORT_ROLES:
        month = timezone.now().strftime("%Y-%m")
        day = timezone.now().strftime("%Y-%m-%d")
        pages += [
            f"/usage/?group_by=model&model={world['model']}",
            f"/usage/?month={month}&day={day}&group_by=api_key",
            f"/usage/?month={month}&day={day}&part=limits",
            "/cost/?group_by=workspace",
            f"/cost/?month={month}&day={day}&group_by=model",
            "/usage/?workspace=wrkspc_gone",  # the not-found page
        ]
    if role == Role.ADMIN:
        pages += [
            reverse("accounts:remove_member", args=[world["member"].pk]),
            reverse("accounts:revoke_invitation", args=[world["invitation"].pk]),
        ]
    if role in SPEND_ROLES:
        pages.append(reverse("spend:chargeback"))
    return [*pages, reverse("accounts:password_change"), "/"]


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


@pytest.mark.parametrize("role", [Role.ADMIN, Role.BILLING, Role.DEVELOPER, Role.USER])
def test_every_page_fits_a_phone(page, login, world, role):
    page.set_viewport_size({"width": WIDTH, "height": 844})
    login(world["people"][role])
    problems = []
    for url in _pages(role, world):
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
