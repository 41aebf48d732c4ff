"""Pages fit the windows people use: actions in view on a laptop, no sideways scroll on a phone."""

from accounts.models import Role
from tests import factories


def _right_edges(page, selector: str) -> list[float]:
    return page.eval_on_selector_all(
        selector, "els => els.map(e => e.getBoundingClientRect().right)"
    )


def test_api_key_actions_are_in_view_at_1280_px(page, login, transactional_db):
    org = factories.make_org("acme", "Acme")
    admin = factories.make_member(org, Role.ADMIN, "admin@acme.test")
    workspace = factories.make_workspace(org, name="Customer Support Platform")
    for i in range(3):
        factories.make_api_key(
            org,
            workspace,
            name=f"prod-backend-canary-{i}",
            external_id=f"apikey_01JQMMZCgK8Hf33ut7PR2cn{i}",
        )
    page.set_viewport_size({"width": 1280, "height": 900})
    login(admin)

    page.goto("/settings/api-keys/")

    edges = _right_edges(page, "table button")
    assert edges and max(edges) <= 1280


def test_usage_page_does_not_scroll_sideways_at_390_px(page, login, transactional_db):
    org = factories.make_org("acme", "Acme")
    developer = factories.make_member(org, Role.DEVELOPER, "dev@acme.test")
    factories.make_api_key(org, name="a-rather-long-api-key-name-for-a-phone", external_id="k" * 40)
    page.set_viewport_size({"width": 390, "height": 900})
    login(developer)

    page.goto("/usage/")

    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_cost_line_amounts_are_in_view_at_1280_px(page, login, shipped_prices):
    from tests.costs.builders import raw, series_for, store_and_roll_up, utc

    org = factories.make_org("acme", "Acme")
    billing = factories.make_member(org, Role.BILLING, "billing@acme.test")
    store_and_roll_up(
        org,
        [
            raw(series_for(org, service_tier=tier), utc(2026, 5, 12, 9), uncached_input_tokens=9,
                cache_write_5m_tokens=9, cache_write_1h_tokens=9, cache_read_tokens=9,
                output_tokens=9)
            for tier in ("standard", "batch")
        ],
    )  # fmt: skip
    page.set_viewport_size({"width": 1280, "height": 900})
    login(billing)

    page.goto("/cost/?month=2026-05&tz=UTC&group=workspace")

    edges = _right_edges(page, "[data-testid=cost-breakdown] td.num")
    assert edges and max(edges) <= 1280
