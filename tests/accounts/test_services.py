import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts import services
from accounts.models import Invitation, Membership, Role, User, hash_token
from console.models import AuditEntry
from tests import factories


def _membership(user, org):
    return Membership.objects.get(user=user, org=org)


def test_the_last_admin_cannot_be_demoted(org):
    admin = factories.make_member(org, Role.ADMIN)
    with pytest.raises(services.LastAdminError):
        services.change_role(_membership(admin, org), Role.BILLING, actor=admin)
    assert _membership(admin, org).role == Role.ADMIN
    assert not AuditEntry.objects.filter(org=org).exists()


def test_the_last_admin_cannot_be_removed(org):
    admin = factories.make_member(org, Role.ADMIN)
    with pytest.raises(services.LastAdminError):
        services.remove_member(_membership(admin, org), actor=admin)
    assert Membership.objects.filter(org=org, user=admin).exists()


def test_an_admin_with_another_admin_can_step_down_but_the_second_cannot(org):
    first = factories.make_member(org, Role.ADMIN)
    second = factories.make_member(org, Role.ADMIN)
    services.change_role(_membership(first, org), Role.DEVELOPER, actor=first)
    with pytest.raises(services.LastAdminError):
        services.change_role(_membership(second, org), Role.USER, actor=second)
    with pytest.raises(services.LastAdminError):
        services.remove_member(_membership(second, org), actor=second)


def test_admins_of_another_organisation_do_not_count(org, other_org):
    admin = factories.make_member(org, Role.ADMIN)
    elsewhere = factories.make_member(other_org, Role.ADMIN)
    Membership.objects.create(user=elsewhere, org=org, role=Role.USER)
    with pytest.raises(services.LastAdminError):
        services.change_role(_membership(admin, org), Role.USER, actor=admin)


def test_role_change_is_audited_with_before_and_after(org):
    admin = factories.make_member(org, Role.ADMIN)
    dev = factories.make_member(org, Role.DEVELOPER, "dev@acme.test")
    services.change_role(_membership(dev, org), Role.BILLING, actor=admin)
    entry = AuditEntry.objects.get(org=org)
    assert (entry.actor, entry.action, entry.target) == (admin, "member.role_change", dev.email)
    assert (entry.before, entry.after) == ({"role": "developer"}, {"role": "billing"})


def test_setting_the_same_role_again_changes_and_audits_nothing(org):
    admin = factories.make_member(org, Role.ADMIN)
    dev = factories.make_member(org, Role.DEVELOPER)
    services.change_role(_membership(dev, org), Role.DEVELOPER, actor=admin)
    assert not AuditEntry.objects.exists()


def test_an_unknown_role_is_refused(org):
    admin = factories.make_member(org, Role.ADMIN)
    dev = factories.make_member(org, Role.DEVELOPER)
    with pytest.raises(ValidationError):
        services.change_role(_membership(dev, org), "owner", actor=admin)


def test_removal_is_audited(org):
    admin = factories.make_member(org, Role.ADMIN)
    dev = factories.make_member(org, Role.DEVELOPER, "dev@acme.test")
    services.remove_member(_membership(dev, org), actor=admin)
    assert not Membership.objects.filter(user=dev).exists()
    assert User.objects.filter(pk=dev.pk).exists()  # the person keeps other memberships
    entry = AuditEntry.objects.get(org=org)
    assert (entry.action, entry.target, entry.before, entry.after) == (
        "member.remove",
        dev.email,
        {"role": "developer"},
        None,
    )


def test_invitation_stores_only_a_hash_of_its_token(org):
    admin = factories.make_member(org, Role.ADMIN)
    invitation, token = services.invite(org, email="New@Example.test", role="billing", actor=admin)
    assert invitation.email == "new@example.test"
    assert invitation.token_hash == hash_token(token) != token
    assert token not in str(Invitation.objects.values_list().get(pk=invitation.pk))
    assert invitation.expires_at - timezone.now() == pytest.approx(
        services.INVITATION_TTL, abs=timedelta(seconds=5)
    )
    entry = AuditEntry.objects.get(org=org)
    assert (entry.action, entry.target, entry.after["role"]) == (
        "invitation.create",
        "new@example.test",
        "billing",
    )


def test_inviting_a_member_again_is_refused(org):
    admin = factories.make_member(org, Role.ADMIN, "boss@acme.test")
    with pytest.raises(ValidationError, match="already a member"):
        services.invite(org, email="BOSS@acme.test", role="billing", actor=admin)


def test_a_new_invitation_replaces_the_pending_one(org):
    admin = factories.make_member(org, Role.ADMIN)
    first, first_token = services.invite(org, email="a@x.test", role="billing", actor=admin)
    services.invite(org, email="a@x.test", role="developer", actor=admin)
    first.refresh_from_db()
    assert first.revoked_at is not None
    with pytest.raises(services.InvitationError, match="withdrawn"):
        services.accept_invitation(first, name="A", password="long-enough-passphrase-1")


def test_accepting_creates_the_account_and_membership_once(org):
    admin = factories.make_member(org, Role.ADMIN)
    invitation, _ = services.invite(org, email="new@x.test", role="billing", actor=admin)
    membership = services.accept_invitation(invitation, name="New", password="pass-phrase-9x")
    assert (membership.user.email, membership.org, membership.role) == (
        "new@x.test",
        org,
        "billing",
    )
    assert membership.user.check_password("pass-phrase-9x")
    with pytest.raises(services.InvitationError, match="already been used"):
        services.accept_invitation(invitation, name="Again", password="pass-phrase-9x")
    assert Membership.objects.filter(org=org, user__email="new@x.test").count() == 1
    accepted = AuditEntry.objects.get(org=org, action="invitation.accept")
    assert accepted.actor == membership.user
    assert accepted.after == {"role": "billing", "new_membership": True}


def test_an_expired_invitation_cannot_be_accepted(org):
    admin = factories.make_member(org, Role.ADMIN)
    invitation, _ = services.invite(org, email="late@x.test", role="billing", actor=admin)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now())
    with pytest.raises(services.InvitationError, match="expired"):
        services.accept_invitation(invitation, name="Late", password="pass-phrase-9x")
    assert not User.objects.filter(email="late@x.test").exists()


def test_an_existing_person_joins_a_second_organisation(org, other_org):
    person = factories.make_member(other_org, Role.ADMIN, "both@x.test")
    admin = factories.make_member(org, Role.ADMIN)
    invitation, _ = services.invite(org, email="both@x.test", role="developer", actor=admin)
    with pytest.raises(services.InvitationError, match="sign in"):
        services.accept_invitation(invitation, name="", password="whatever-long-9")
    services.accept_invitation(invitation, user=person)
    assert set(person.memberships.values_list("org__slug", "role")) == {
        ("acme", "developer"),
        ("globex", "admin"),
    }


def test_someone_else_cannot_use_an_invitation(org):
    admin = factories.make_member(org, Role.ADMIN)
    stranger = factories.make_user("stranger@x.test")
    invitation, _ = services.invite(org, email="invitee@x.test", role="admin", actor=admin)
    with pytest.raises(services.InvitationError, match="not stranger@x.test"):
        services.accept_invitation(invitation, user=stranger)
    assert not Membership.objects.filter(user=stranger).exists()


def test_revoking_is_audited_and_only_once(org):
    admin = factories.make_member(org, Role.ADMIN)
    invitation, _ = services.invite(org, email="a@x.test", role="billing", actor=admin)
    services.revoke_invitation(invitation, actor=admin)
    with pytest.raises(ValidationError, match="no longer pending"):
        services.revoke_invitation(invitation, actor=admin)
    assert AuditEntry.objects.filter(org=org, action="invitation.revoke").count() == 1


def test_invitation_email_carries_the_link(org, mailoutbox):
    admin = factories.make_member(org, Role.ADMIN, "boss@acme.test")
    invitation, token = services.invite(org, email="a@x.test", role="billing", actor=admin)
    services.send_invitation_email(invitation, f"https://mb.test/accounts/invitations/{token}/")
    (mail,) = mailoutbox
    assert mail.to == ["a@x.test"]
    assert "Acme" in mail.subject
    assert f"https://mb.test/accounts/invitations/{token}/" in mail.body
    assert "Billing" in mail.body and "boss@acme.test" in mail.body


@pytest.mark.postgres
@pytest.mark.skipif(not settings.USING_POSTGRES, reason="row locks need PostgreSQL")
def test_two_admins_demoting_each_other_at_once_leave_one_admin(transactional_db):
    org = factories.make_org("race", "Race")
    first = factories.make_member(org, Role.ADMIN)
    second = factories.make_member(org, Role.ADMIN)
    first_locked = threading.Event()
    outcome = {}

    def demote_first():
        try:
            with transaction.atomic():
                services.change_role(_membership(first, org), Role.USER, actor=first)
                first_locked.set()
                time.sleep(0.5)  # hold the Admin row locks while the other demotion starts
        finally:
            connection.close()

    def demote_second():
        first_locked.wait(5)
        try:
            services.change_role(_membership(second, org), Role.USER, actor=second)
            outcome["second"] = "demoted"
        except services.LastAdminError:
            outcome["second"] = "refused"
        finally:
            connection.close()

    threads = [threading.Thread(target=demote_first), threading.Thread(target=demote_second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert outcome == {"second": "refused"}
    assert list(
        Membership.objects.filter(org=org, role=Role.ADMIN).values_list("user", flat=True)
    ) == [second.pk]
