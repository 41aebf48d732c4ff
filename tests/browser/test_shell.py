from accounts.models import Role
from tests import factories


def test_developer_logs_in_sees_nav_and_opens_usage(page, login, transactional_db):
    org = factories.make_org("acme", "Acme")
    developer = factories.make_member(org, Role.DEVELOPER, "dev@acme.test")

    login(developer)

    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Usage", exact=True).is_visible()
    assert nav.get_by_role("link", name="Cost").is_visible()
    assert page.get_by_test_id("current-org").inner_text() == "Acme"
    nav.get_by_role("link", name="Usage", exact=True).click()
    assert page.get_by_role("heading", name="Usage", exact=True).is_visible()
    assert page.url.endswith("/usage/")


def test_user_role_sees_no_reports(page, login, transactional_db):
    org = factories.make_org("acme", "Acme")
    user = factories.make_member(org, Role.USER, "user@acme.test")

    login(user)

    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Usage", exact=True).count() == 0
    assert nav.get_by_role("link", name="My usage").is_visible()  # their own figures only
    response = page.goto("/usage/")
    assert response.status == 403
    assert "Admin, Billing, Developer" in page.content()
