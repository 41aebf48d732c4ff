"""The small things of issue 15 item 8, in a browser: ask before removing, copy an invitation
link, search the time zones as you type, and a stale id's page in place of an htmx part."""

from playwright.sync_api import expect

from accounts.models import Invitation, Membership, Role
from tests import factories


def test_remove_asks_first_then_removes(page, login, transactional_db):
    org = factories.make_org("acme", "Acme")
    admin = factories.make_member(org, Role.ADMIN, "boss@acme.test")
    factories.make_member(org, Role.DEVELOPER, "dev@acme.test")
    login(admin)
    page.goto("/accounts/members/")
    page.get_by_label("Remove dev@acme.test").click()
    assert page.get_by_role("heading", name="Remove dev@acme.test?").is_visible()
    assert Membership.objects.filter(user__email="dev@acme.test").exists()  # asked, not done
    page.get_by_role("link", name="Cancel").click()
    assert page.get_by_test_id("member-dev@acme.test").is_visible()
    page.get_by_label("Remove dev@acme.test").click()
    page.get_by_role("button", name="Remove dev@acme.test").click()
    assert page.get_by_text("dev@acme.test was removed from Acme.").is_visible()
    assert not Membership.objects.filter(user__email="dev@acme.test").exists()


def test_the_invitation_link_is_copied_with_one_click(page, login, mailoutbox, transactional_db):
    org = factories.make_org("acme", "Acme")
    admin = factories.make_member(org, Role.ADMIN, "boss@acme.test")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    login(admin)
    page.goto("/accounts/members/")
    page.get_by_label("Email").fill("new@acme.test")
    page.get_by_role("button", name="Send invitation").click()
    link = page.get_by_role("textbox", name="Invitation link").input_value()
    assert "/accounts/invitations/" in link
    (mail,) = mailoutbox
    assert link in mail.body
    page.get_by_role("button", name="Copy link").click()
    # The clipboard answers asynchronously: wait for the button to say so.
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == link
    assert Invitation.objects.filter(email="new@acme.test").count() == 1


def test_time_zones_are_searched_as_you_type(page, login, transactional_db):
    org = factories.make_org("acme", "Acme")
    login(factories.make_member(org, Role.DEVELOPER, "dev@acme.test"))
    page.goto("/usage/")
    search = page.get_by_label("Search time zones")
    search.fill("kolk")
    visible = page.eval_on_selector_all(
        "#f-tz option", "os => os.filter(o => !o.hidden).map(o => o.value)"
    )
    assert "Asia/Kolkata" in visible and "Europe/London" not in visible
    assert len(visible) <= 3  # Kolkata in both lists, and the chosen zone stays
    search.press("Enter")
    page.wait_for_url(lambda url: "tz=Asia%2FKolkata" in url)
    assert page.get_by_label("Time zone", exact=True).input_value() == "Asia/Kolkata"


def test_a_stale_id_sent_by_htmx_shows_the_not_found_page(page, login, transactional_db):
    org = factories.make_org("acme", "Acme")
    workspace = factories.make_workspace(org, "Research", "wrkspc_research")
    login(factories.make_member(org, Role.DEVELOPER, "dev@acme.test"))
    page.goto("/usage/")
    workspace.delete()  # deleted while the page was open: the list still offers it
    page.get_by_label("Workspace").select_option("wrkspc_research")
    not_found = page.get_by_test_id("not-found")
    not_found.wait_for()
    assert "There is no workspace “wrkspc_research”" in not_found.inner_text()
    page.get_by_test_id("back").click()
    page.get_by_test_id("totals").wait_for()
