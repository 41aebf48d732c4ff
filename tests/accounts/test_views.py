import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.middleware import SESSION_KEY
from accounts.models import Invitation, Membership, Role, User
from console.models import AuditEntry
from tests import factories

NEW_PASSWORD = "a-fresh-long-passphrase-7"


@pytest.fixture
def admin(org):
    return factories.make_member(org, Role.ADMIN, "boss@acme.test")


@pytest.fixture
def admin_client(client, admin):
    client.force_login(admin)
    return client


def _link_token(text: str) -> str:
    return re.search(r"/accounts/invitations/([\w-]+)/", text).group(1)


def test_members_page_lists_members_with_role_and_last_login(admin_client, org, admin):
    dev = factories.make_member(org, Role.DEVELOPER, "dev@acme.test")
    factories.make_member(org, Role.USER, "idle@acme.test")
    seen = timezone.now() - timedelta(days=2)
    User.objects.filter(pk=dev.pk).update(last_login=seen)
    body = admin_client.get(reverse("accounts:members")).content.decode()
    assert "dev@acme.test" in body and "boss@acme.test" in body
    assert f"{seen:%Y-%m-%d %H:%M} UTC" in body
    assert "never" in body  # idle@ has not signed in yet
    assert 'value="developer" selected' in body
    assert "last Admin" in body  # no Remove button for the only Admin


def test_invite_sends_a_link_that_creates_the_account(client, admin_client, org, mailoutbox):
    response = admin_client.post(
        reverse("accounts:invite"), {"email": "new@acme.test", "role": Role.BILLING}
    )
    assert response.status_code == 302
    (mail,) = mailoutbox
    token = _link_token(mail.body)
    assert "http://testserver/accounts/invitations/" in mail.body
    page = admin_client.get(reverse("accounts:members")).content.decode()
    assert "new@acme.test" in page and "Pending invitations" in page

    client.logout()
    url = reverse("accounts:accept_invitation", args=[token])
    assert "Create account and join" in client.get(url).content.decode()
    response = client.post(
        url, {"name": "New", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert response.status_code == 302
    user = User.objects.get(email="new@acme.test")
    assert Membership.objects.get(user=user, org=org).role == Role.BILLING
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.session[SESSION_KEY] == org.pk
    # Single use: the same link now says so, for anyone.
    client.logout()
    again = client.get(url)
    assert again.status_code == 410
    assert "already been used" in again.content.decode()


def test_invite_form_errors_are_a_400_with_the_reason(admin_client, org):
    response = admin_client.post(reverse("accounts:invite"), {"email": "nope", "role": "owner"})
    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()
    response = admin_client.post(
        reverse("accounts:invite"), {"email": "boss@acme.test", "role": "billing"}
    )
    assert response.status_code == 400
    assert "already a member" in response.content.decode()


def test_accept_form_refuses_mismatched_or_weak_passwords(client, org, admin):
    invitation, token = services.invite(org, email="n@x.test", role="billing", actor=admin)
    url = reverse("accounts:accept_invitation", args=[token])
    response = client.post(url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD + "x"})
    assert response.status_code == 400
    assert "The two passwords differ." in response.content.decode()
    response = client.post(url, {"password1": "123", "password2": "123"})
    assert response.status_code == 400
    assert not User.objects.filter(email="n@x.test").exists()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None


def test_expired_revoked_and_unknown_links(client, org, admin):
    expired, expired_token = services.invite(org, email="e@x.test", role="billing", actor=admin)
    Invitation.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(1))
    response = client.get(reverse("accounts:accept_invitation", args=[expired_token]))
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    response = client.post(
        reverse("accounts:accept_invitation", args=[expired_token]),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 410
    assert not User.objects.filter(email="e@x.test").exists()

    revoked, revoked_token = services.invite(org, email="r@x.test", role="billing", actor=admin)
    services.revoke_invitation(revoked, actor=admin)
    response = client.get(reverse("accounts:accept_invitation", args=[revoked_token]))
    assert response.status_code == 410
    assert "withdrawn" in response.content.decode()

    assert client.get(reverse("accounts:accept_invitation", args=["madeup"])).status_code == 404


def test_an_existing_account_signs_in_then_accepts(client, org, other_org, admin):
    person = factories.make_member(other_org, Role.DEVELOPER, "p@x.test")
    _, token = services.invite(org, email="p@x.test", role="billing", actor=admin)
    url = reverse("accounts:accept_invitation", args=[token])
    body = client.get(url).content.decode()
    assert "Log in as p@x.test" in body and "next=" in body
    client.force_login(person)
    assert "Accept and join" in client.get(url).content.decode()
    assert client.post(url).status_code == 302
    assert Membership.objects.get(user=person, org=org).role == Role.BILLING
    assert client.session[SESSION_KEY] == org.pk


def test_someone_else_signed_in_cannot_take_the_invitation(client, org, admin):
    _, token = services.invite(org, email="p@x.test", role="admin", actor=admin)
    intruder = factories.make_user("intruder@x.test")
    client.force_login(intruder)
    url = reverse("accounts:accept_invitation", args=[token])
    assert client.get(url).status_code == 403
    assert client.post(url).status_code == 403
    assert not Membership.objects.filter(user=intruder).exists()


def test_invitation_of_another_organisation_cannot_be_revoked(client, org, other_org, admin):
    other_admin = factories.make_member(other_org, Role.ADMIN)
    theirs, _ = services.invite(other_org, email="t@x.test", role="user", actor=other_admin)
    client.force_login(admin)
    response = client.post(
        reverse("accounts:revoke_invitation", args=[theirs.pk]), {"confirm": "yes"}
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_change_role_refuses_to_demote_the_last_admin_with_a_message(admin_client, org, admin):
    me = Membership.objects.get(user=admin, org=org)
    response = admin_client.post(
        reverse("accounts:change_role", args=[me.pk]), {"role": Role.USER}, follow=True
    )
    assert "at least one Admin" in response.content.decode()
    me.refresh_from_db()
    assert me.role == Role.ADMIN


def test_change_role_with_an_unknown_role_is_400(admin_client, org):
    dev = factories.make_member(org, Role.DEVELOPER)
    membership = Membership.objects.get(user=dev)
    response = admin_client.post(reverse("accounts:change_role", args=[membership.pk]), {})
    assert response.status_code == 400
    membership.refresh_from_db()
    assert membership.role == Role.DEVELOPER


def test_an_admin_who_removes_themselves_loses_access(admin_client, org, admin):
    factories.make_member(org, Role.ADMIN, "second@acme.test")
    me = Membership.objects.get(user=admin, org=org)
    response = admin_client.post(
        reverse("accounts:remove_member", args=[me.pk]), {"confirm": "yes"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("console:home")
    assert admin_client.get(reverse("accounts:members")).status_code == 403


def test_audit_log_shows_who_when_and_before_after(admin_client, org, admin):
    dev = factories.make_member(org, Role.DEVELOPER, "dev@acme.test")
    services.change_role(Membership.objects.get(user=dev), Role.BILLING, actor=admin)
    services.invite(org, email="n@x.test", role="user", actor=admin)
    body = admin_client.get(reverse("accounts:audit_log")).content.decode()
    assert "member.role_change" in body and "invitation.create" in body
    row = body.split("member.role_change</td>")[1].split("</tr>")[0]
    before, after = row.split("</td>")[1:3]
    assert '<span class="muted">role:</span> developer' in before
    assert '<span class="muted">role:</span> billing' in after
    filtered = admin_client.get(reverse("accounts:audit_log"), {"action": "invitation.create"})
    assert "member.role_change</td>" not in filtered.content.decode()
    assert "n@x.test" in filtered.content.decode()


def test_audit_log_bad_page_is_400_and_past_the_end_404(admin_client, org, admin):
    url = reverse("accounts:audit_log")
    assert admin_client.get(url, {"page": "abc"}).status_code == 400
    assert admin_client.get(url, {"page": "0"}).status_code == 400
    assert admin_client.get(url, {"page": "2"}).status_code == 404


def test_audit_log_paginates(admin_client, org, admin):
    AuditEntry.objects.bulk_create(
        AuditEntry(org=org, actor=admin, action="api_key.rename", target=f"k{i}") for i in range(55)
    )
    first = admin_client.get(reverse("accounts:audit_log")).content.decode()
    assert "Page 1 of 2" in first
    second = admin_client.get(reverse("accounts:audit_log"), {"page": 2}).content.decode()
    assert second.count("api_key.rename</td>") == 5


def test_switching_organisation_scopes_the_pages(client, org, other_org):
    person = factories.make_member(org, Role.ADMIN, "both@x.test")
    Membership.objects.create(user=person, org=other_org, role=Role.USER)
    factories.make_member(org, Role.DEVELOPER, "acme-dev@x.test")
    client.force_login(person)
    assert "acme-dev@x.test" in client.get(reverse("accounts:members")).content.decode()
    client.post(reverse("accounts:switch_org"), {"org": "globex"})
    assert client.get(reverse("accounts:members")).status_code == 403
    assert client.get(reverse("usage:page")).status_code == 403


def test_password_reset_sends_a_working_link(client, org, mailoutbox):
    user = factories.make_member(org, Role.DEVELOPER, "forgot@acme.test")
    response = client.post(reverse("accounts:password_reset"), {"email": "forgot@acme.test"})
    assert response.status_code == 302
    (mail,) = mailoutbox
    link = re.search(r"http://testserver(/accounts/password/reset/\S+/)", mail.body).group(1)
    form_url = client.get(link)["Location"]  # Django swaps the token into the session
    response = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_password_change(client, org):
    user = factories.make_member(org, Role.USER)
    client.force_login(user)
    response = client.post(
        reverse("accounts:password_change"),
        {
            "old_password": factories.PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert response["Location"] == reverse("accounts:password_change_done")
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_the_nav_marks_only_the_page_you_are_on(admin_client):
    page = admin_client.get(reverse("costs:prices")).content.decode()
    current = re.findall(r'<a href="([^"]+)" aria-current="page">', page)
    assert current == [reverse("costs:prices")]  # not Cost (/cost/) as well


def test_inviting_an_address_again_says_the_earlier_link_stops_working(admin_client, org):
    url = reverse("accounts:invite")
    first = admin_client.post(url, {"email": "twice@acme.test", "role": Role.BILLING}, follow=True)
    assert "replaces the invitation" not in first.content.decode()
    again = admin_client.post(url, {"email": "Twice@acme.test", "role": Role.USER}, follow=True)
    assert "It replaces the invitation sent earlier" in again.content.decode()
    assert Invitation.objects.filter(email="twice@acme.test", revoked_at__isnull=True).count() == 1


def test_remove_member_asks_first_and_acts_only_on_the_confirmation(admin_client, org, admin):
    dev = factories.make_member(org, Role.DEVELOPER, "dev@acme.test")
    membership = Membership.objects.get(user=dev, org=org)
    url = reverse("accounts:remove_member", args=[membership.pk])
    members_page = admin_client.get(reverse("accounts:members")).content.decode()
    assert f'href="{url}"' in members_page  # the table's Remove leads to the question

    for response in (admin_client.get(url), admin_client.post(url)):  # a click, a stale form
        assert response.status_code == 200
        body = response.content.decode()
        assert "Remove dev@acme.test (Developer) from Acme?" in body
        assert 'name="confirm" value="yes"' in body
        assert Membership.objects.filter(pk=membership.pk).exists()

    response = admin_client.post(url, {"confirm": "yes"})
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert AuditEntry.objects.filter(action="member.remove", target="dev@acme.test").count() == 1


def test_withdraw_invitation_asks_first_and_acts_only_on_the_confirmation(admin_client, org, admin):
    invitation, _ = services.invite(org, email="n@x.test", role=Role.USER, actor=admin)
    url = reverse("accounts:revoke_invitation", args=[invitation.pk])
    assert f'href="{url}"' in admin_client.get(reverse("accounts:members")).content.decode()

    for response in (admin_client.get(url), admin_client.post(url)):
        assert response.status_code == 200
        assert "Withdraw the invitation for n@x.test to join Acme as User?" in (
            response.content.decode()
        )
        invitation.refresh_from_db()
        assert invitation.revoked_at is None

    assert admin_client.post(url, {"confirm": "yes"}).status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None


def test_new_invitation_link_is_shown_once_with_a_copy_button(admin_client, org, mailoutbox):
    response = admin_client.post(
        reverse("accounts:invite"), {"email": "new@acme.test", "role": Role.BILLING}, follow=True
    )
    body = response.content.decode()
    (mail,) = mailoutbox
    assert mail.to == ["new@acme.test"]
    link = re.search(r"http://testserver/accounts/invitations/[\w-]+/", mail.body).group(0)
    assert "the link was emailed to them" in body
    box = body.split('data-testid="new-invitation"')[1].split("</section>")[0]
    assert f'id="invite-link" type="text" class="secret" value="{link}" readonly' in box
    assert 'data-copy="#invite-link"' in box
    messages = body.split('<ul class="messages">')[1].split("</ul>")[0]
    assert link not in messages  # the link is in its box, not inside a sentence
    assert 'src="/static/console/copy.js"' in body
    again = admin_client.get(reverse("accounts:members")).content.decode()
    assert link not in again  # shown once


def test_invitation_link_is_shown_when_the_mail_cannot_be_sent(admin_client, org, settings):
    from tests.spend.receivers import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens
    settings.EMAIL_USE_TLS, settings.EMAIL_TIMEOUT = False, 2
    response = admin_client.post(
        reverse("accounts:invite"), {"email": "new@acme.test", "role": Role.USER}, follow=True
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "the email could not be sent" in body
    assert re.search(r'value="http://testserver/accounts/invitations/[\w-]+/"', body)
    assert Invitation.objects.filter(email="new@acme.test", revoked_at__isnull=True).exists()


def test_invitation_is_mailed_through_a_real_smtp_server(admin_client, org, settings):
    from tests.spend.receivers import Smtp

    with Smtp() as smtp:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
        settings.EMAIL_USE_TLS = False
        body = admin_client.post(
            reverse("accounts:invite"), {"email": "new@acme.test", "role": Role.USER}, follow=True
        ).content.decode()
    ((to, message),) = smtp.messages
    assert to == ["new@acme.test"]
    assert message["Subject"] == "You are invited to Acme on Meterboard"
    link = re.search(r'value="(http://testserver/accounts/invitations/[\w-]+/)"', body).group(1)
    assert link in message.get_payload(decode=True).decode()


SETTINGS_PAGES = [
    "orgsettings:workspaces",
    "orgsettings:api_keys",
    "orgsettings:accounts",
    "orgsettings:limits",
    "orgsettings:ingest_keys",
    "orgsettings:admin_keys",
    "accounts:members",
    "accounts:audit_log",
    "costs:prices",
]


@pytest.mark.parametrize("name", SETTINGS_PAGES)
def test_settings_pages_have_one_navigation_that_reaches_every_page(admin_client, name):
    page = admin_client.get(reverse(name)).content.decode()
    assert page.count("<nav") == 1  # no tab bar repeating the main navigation
    nav = page.split("<nav")[1].split("</nav>")[0]
    for other in SETTINGS_PAGES:
        assert f'href="{reverse(other)}"' in nav, other
    current = re.findall(r'<a href="([^"]+)" aria-current="page">', nav)
    assert current == [reverse(name)]


@pytest.mark.parametrize("role", [Role.BILLING, Role.ADMIN])
def test_prices_sit_under_billing_beside_spend_limits(client, org, role):
    client.force_login(factories.make_member(org, role))
    page = client.get(reverse("costs:prices")).content.decode()
    billing = page.split('<h2 class="nav-heading">Billing</h2>')[1].split("</ul>")[0]
    assert f'href="{reverse("costs:prices")}"' in billing
    assert f'href="{reverse("spend:page")}"' in billing


def test_a_removed_member_is_told_where_they_were_removed_from(client, admin_client, org, admin):
    dev = factories.make_member(org, Role.DEVELOPER, "dev@acme.test")
    membership = Membership.objects.get(user=dev, org=org)
    admin_client.post(reverse("accounts:remove_member", args=[membership.pk]), {"confirm": "yes"})

    client = Client()  # theirs, not the Admin's session
    client.force_login(dev)
    home = client.get(reverse("console:home")).content.decode()
    assert "You were removed from <strong>Acme</strong>" in home
    assert "by boss@acme.test" in home
    assert "not a member of any organisation yet" not in home
    refused = client.get(reverse("usage:page"))
    assert refused.status_code == 403
    assert "You were removed from <strong>Acme</strong>" in refused.content.decode()


def test_someone_never_in_an_organisation_is_told_so(client, org, other_org, admin):
    loner = factories.make_user("loner@x.test")
    client.force_login(loner)
    home = client.get(reverse("console:home")).content.decode()
    assert "You are not a member of any organisation." in home
    assert "removed" not in home


def test_the_newest_removal_is_named_once_no_organisation_is_left(
    client, admin_client, org, other_org, admin
):
    both = factories.make_member(org, Role.DEVELOPER, "both@x.test")
    Membership.objects.create(user=both, org=other_org, role=Role.USER)
    membership = Membership.objects.get(user=both, org=org)
    admin_client.post(reverse("accounts:remove_member", args=[membership.pk]), {"confirm": "yes"})
    client = Client()  # theirs, not the Admin's session
    client.force_login(both)
    assert client.get(reverse("console:home")).status_code == 302  # still in Globex
    globex_admin = factories.make_member(other_org, Role.ADMIN, "boss@globex.test")
    services.remove_member(Membership.objects.get(user=both, org=other_org), actor=globex_admin)
    home = client.get(reverse("console:home")).content.decode()
    assert "You were removed from <strong>Globex</strong>" in home
    assert "Acme" not in home
