"""Every page works under the Content-Security-Policy: no violation is reported on any page,
view or htmx swap (inline script or style, eval, another origin)."""

import pytest

from accounts.models import Role
from tests import factories
from tests.costs.builders import raw, series_for, store_and_roll_up, utc
from usage.models import RateLimit

# Runs before the page's own scripts (injected by the browser, outside the policy): every
# violation event is written to the console, where the test collects it with Chrome's own
# "Refused to ..." reports.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + e.blockedURI +
                " at " + e.sourceFile + ":" + e.lineNumber + ":" + e.columnNumber);
});
"""


@pytest.fixture
def violations(page):
    page.context.add_init_script(REPORT_VIOLATIONS)
    seen: list[str] = []

    def collect(message):
        text = message.text
        if "Content Security Policy" in text or "CSP violation" in text:
            seen.append(f"{page.url}: {text}")

    page.on("console", collect)
    return seen


@pytest.fixture
def admin(shipped_prices):
    org = factories.make_org("acme", "Acme")
    research = factories.make_workspace(org, "Research", "wrkspc_research")
    key = factories.make_api_key(org, research, "prod", "apikey_prod")
    rows = [
        raw(
            series_for(org, workspace=research, api_key=key),
            utc(2026, 5, day, hour, 7),
            uncached_input_tokens=1000 * day,
            output_tokens=100 * hour,
            status_code=429 if hour == 9 else 200,
            rate_limit_type="requests" if hour == 9 else "",
        )
        for day in (3, 12)
        for hour in (2, 9, 17)
    ]
    store_and_roll_up(org, rows)
    # A limit, so the rate limit use chart (a share of it) is drawn too.
    RateLimit.objects.create(org=org, model=rows[0].series.model, requests_per_minute=50)
    return factories.make_member(org, Role.ADMIN, "admin@acme.test")


PAGES = [
    "/",
    "/usage/?month=2026-05&tz=UTC",
    "/usage/?month=2026-05&tz=UTC&group_by=workspace",
    "/usage/?month=2026-05&day=2026-05-12&tz=UTC",
    "/usage/?month=2026-05&day=2026-05-12&hour=09&tz=UTC",
    "/cost/?month=2026-05&tz=UTC",
    "/cost/?month=2026-05&day=2026-05-12&tz=UTC&group=workspace",
    "/cost/prices/",
    "/accounts/members/",
    "/accounts/audit/",
    "/accounts/password_change/",
    "/settings/workspaces/",
    "/settings/api-keys/",
    "/settings/ingest-keys/",
    "/settings/limits/",
]


def test_no_page_breaks_the_content_security_policy(page, login, admin, violations):
    response = page.goto("/accounts/login/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    login(admin)
    for url in PAGES:
        page.goto(url)
        page.wait_for_load_state("networkidle")
    # The charts' partials (rate limit use, rate-limited requests) and a drill-down swap.
    page.goto("/usage/?month=2026-05&day=2026-05-12&tz=UTC")
    page.locator("#usage-chart[data-ready='true']").wait_for()
    page.locator("#limits").scroll_into_view_if_needed()  # loads when revealed
    page.locator("#limits-chart[data-ready='true']").wait_for()
    page.locator("#rate-limited-chart[data-ready='true']").wait_for()
    page.get_by_label("Group by", exact=True).select_option("api_key")
    page.wait_for_url("**group_by=api_key**")
    page.locator("#usage-chart[data-ready='true']").wait_for()
    page.locator("#usage-chart").scroll_into_view_if_needed()
    bars = page.locator("#usage-chart .trace.bars .point path")
    box = max((bars.nth(i).bounding_box() for i in range(bars.count())), key=lambda b: b["height"])
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.locator("#usage-chart .hoverlayer .legend").first.wait_for()  # x unified
    page.go_back()
    page.wait_for_url(lambda url: "group_by" not in url)
    page.locator("#usage-chart[data-ready='true']").wait_for()
    page.context.clear_cookies()
    page.goto("/accounts/login/")
    page.wait_for_load_state("networkidle")
    assert violations == []


def test_a_violation_is_caught(page, login, admin, violations):
    """The listener above hears violations: an inline script is refused and reported."""
    login(admin)
    page.goto("/")
    page.goto("/cost/prices/")
    page.get_by_role("heading", name="Prices", exact=True).wait_for()
    with page.expect_console_message(lambda m: "CSP violation" in m.text):
        page.locator("body").evaluate(
            "body => { const s = document.createElement('script');"
            " s.textContent = 'document.title = 1'; body.append(s); }"
        )
    assert any("script-src" in v for v in violations)
