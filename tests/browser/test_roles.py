"""An Admin invites someone as Billing, then demotes them to User; their access follows."""

import re

from accounts.models import Membership, Role
from tests import factories

INVITEE = "new.billing@acme.test"
INVITEE_PASSWORD = "billing-person-long-passphrase"


def test_invite_accept_and_role_change_follow_through(
    browser, page, login, live_server, mailoutbox, transactional_db
):
    org = factories.make_org("acme", "Acme")
    admin = factories.make_member(org, Role.ADMIN, "boss@acme.test")

    # The Admin invites someone as Billing.
    login(admin)
    page.goto("/accounts/members/")
    page.get_by_label("Email").fill(INVITEE)
    page.get_by_label("Role", exact=True).select_option(label="Billing")
    page.get_by_role("button", name="Send invitation").click()
    assert page.get_by_text(f"Invitation sent to {INVITEE} as Billing").is_visible()
    (mail,) = mailoutbox
    link = re.search(r"https?://\S+/accounts/invitations/[\w-]+/", mail.body).group(0)

    # The invitee accepts in a browser of their own and lands on the reports.
    invitee_context = browser.new_context(base_url=live_server.url)
    invitee = invitee_context.new_page()
    invitee.set_default_timeout(15_000)
    invitee.goto(link)
    assert invitee.get_by_text("as Billing").first.is_visible()
    invitee.get_by_label("Your name").fill("Bea Billing")
    invitee.get_by_label("Password", exact=True).fill(INVITEE_PASSWORD)
    invitee.get_by_label("Password again").fill(INVITEE_PASSWORD)
    invitee.get_by_role("button", name="Create account and join").click()
    invitee.wait_for_load_state("networkidle")
    nav = invitee.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Usage", exact=True).is_visible()
    assert nav.get_by_role("link", name="Cost").is_visible()
    assert nav.get_by_role("link", name="Members").count() == 0
    assert invitee.get_by_test_id("current-org").inner_text() == "Acme"
    # Billing may look at workspaces and prices; the one navigation leaves out Members.
    assert invitee.goto("/settings/workspaces/").status == 200
    assert invitee.get_by_role("navigation").count() == 1  # no second, settings-only one
    nav = invitee.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Workspaces").is_visible()
    assert nav.get_by_role("link", name="Prices").is_visible()
    assert nav.get_by_role("link", name="Members").count() == 0
    response = invitee.goto("/accounts/members/")
    assert response.status == 403
    assert "Admin" in invitee.content()
    assert invitee.goto("/usage/").status == 200

    # The Admin demotes them to User.
    page.goto("/accounts/members/")
    row = page.get_by_test_id(f"member-{INVITEE}")
    row.get_by_label(f"Role of {INVITEE}").select_option(label="User")
    row.get_by_role("button", name="Change role").click()
    assert page.get_by_text(f"{INVITEE} is now User.").is_visible()
    assert Membership.objects.get(user__email=INVITEE).role == Role.USER

    # The invitee's navigation and access change on their next page.
    invitee.goto("/")
    nav = invitee.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Usage", exact=True).count() == 0
    assert nav.get_by_role("link", name="Cost").count() == 0
    assert "does not include the usage and cost reports" in invitee.content()
    for path in ("/usage/", "/cost/", "/settings/workspaces/"):
        response = invitee.goto(path)
        assert response.status == 403, path
        assert "Admin, Billing, Developer" in invitee.content()
    invitee_context.close()
