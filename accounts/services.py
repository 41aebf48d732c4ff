"""Writes on people, memberships and invitations; every change an Admin makes is audited."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from accounts.models import Invitation, Membership, Role, User, hash_token
from console.models import Organization
from console.services import create_organization, record_audit

INVITATION_TTL = timedelta(days=getattr(settings, "INVITATION_TTL_DAYS", 7))


class LastAdminError(ValidationError):
    """The change would leave the organisation without an Admin."""

    def __init__(self):
        super().__init__(
            "An organisation needs at least one Admin: make someone else an Admin first.",
            code="last_admin",
        )


class InvitationError(ValidationError):
    """The invitation cannot be used (expired, used, revoked, or for someone else)."""


@transaction.atomic
def create_org_with_admin(*, slug: str, name: str, admin_email: str) -> tuple[Organization, User]:
    """Create an organisation, its Default workspace and its first Admin (no password yet)."""
    org = create_organization(slug=slug, name=name)
    user = User.objects.filter(email__iexact=admin_email).first()
    if user is None:
        user = User.objects.create_user(admin_email)  # unusable password until reset
    Membership.objects.create(user=user, org=org, role=Role.ADMIN)
    return org, user


def _lock_admins(org: Organization) -> int:
    """Lock the organisation's Admin memberships for this transaction and count them.

    Two Admins demoting each other at once would otherwise both see "one other Admin left".
    """
    return len(
        list(
            Membership.objects.select_for_update()
            .filter(org=org, role=Role.ADMIN)
            .values_list("pk", flat=True)
        )
    )


@transaction.atomic
def change_role(membership: Membership, role: str, *, actor: User) -> Membership:
    """Give a member another role; the last Admin cannot be demoted."""
    if role not in Role.values:
        raise ValidationError(f"{role!r} is not a role.", code="invalid_role")
    admins = _lock_admins(membership.org)
    membership = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
    before = membership.role
    if before == role:
        return membership
    if before == Role.ADMIN and admins <= 1:
        raise LastAdminError()
    membership.role = role
    membership.save(update_fields=["role"])
    record_audit(
        membership.org,
        actor,
        "member.role_change",
        target=membership.user.email,
        before={"role": before},
        after={"role": role},
    )
    return membership


@transaction.atomic
def remove_member(membership: Membership, *, actor: User) -> None:
    """Take a person out of the organisation; the last Admin cannot be removed."""
    admins = _lock_admins(membership.org)
    membership = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
    if membership.role == Role.ADMIN and admins <= 1:
        raise LastAdminError()
    record_audit(
        membership.org,
        actor,
        "member.remove",
        target=membership.user.email,
        before={"role": membership.role},
        after=None,
    )
    membership.delete()


@transaction.atomic
def pending_invitations(org: Organization, email: str, now=None):
    """The invitations of this address to this organisation whose link still works."""
    return Invitation.objects.filter(
        org=org,
        email__iexact=User.objects.normalize_email(email).lower(),
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=now or timezone.now(),
    )


def invite(org: Organization, *, email: str, role: str, actor: User) -> tuple[Invitation, str]:
    """Create a single-use invitation and return it with its secret token (shown only once).

    A newer invitation for the same address replaces any that is still pending.
    """
    email = User.objects.normalize_email(email).lower()
    if Membership.objects.filter(org=org, user__email__iexact=email).exists():
        raise ValidationError(f"{email} is already a member of {org.name}.", code="member")
    now = timezone.now()
    replaced = pending_invitations(org, email, now).update(revoked_at=now)
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        org=org,
        email=email,
        role=role,
        token_hash=hash_token(token),
        invited_by=actor,
        expires_at=now + INVITATION_TTL,
    )
    record_audit(
        org,
        actor,
        "invitation.create",
        target=email,
        before={"pending_invitations_replaced": replaced} if replaced else None,
        after={"role": role, "expires_at": invitation.expires_at.isoformat()},
    )
    return invitation, token


def send_invitation_email(invitation: Invitation, link: str) -> None:
    """Email the invitation link (the console backend prints it in development)."""
    inviter = invitation.invited_by.email if invitation.invited_by else "An Admin"
    send_mail(
        subject=f"You are invited to {invitation.org.name} on Meterboard",
        message=(
            f"{inviter} invited you to join {invitation.org.name} on Meterboard as "
            f"{invitation.get_role_display()}.\n\n"
            f"Accept the invitation here (the link works once and expires on "
            f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC):\n{link}\n"
        ),
        from_email=None,
        recipient_list=[invitation.email],
    )


@transaction.atomic
def revoke_invitation(invitation: Invitation, *, actor: User) -> None:
    """Withdraw a pending invitation so its link no longer works."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_pending:
        raise ValidationError("This invitation is no longer pending.", code="not_pending")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    record_audit(
        invitation.org,
        actor,
        "invitation.revoke",
        target=invitation.email,
        before={"role": invitation.role},
        after=None,
    )


@transaction.atomic
def accept_invitation(
    invitation: Invitation, *, user: User | None = None, name: str = "", password: str = ""
) -> Membership:
    """Use an invitation once: create the account if needed and add the membership.

    Pass ``user`` when the invitee is signed in (it must be the invited address); otherwise a
    new account is created with ``name`` and ``password``.
    """
    invitation = Invitation.objects.select_for_update().select_related("org").get(pk=invitation.pk)
    problem = invitation.problem()
    if problem:
        raise InvitationError(problem, code="unusable")
    if user is None:
        if User.objects.filter(email__iexact=invitation.email).exists():
            raise InvitationError(
                "An account with this address exists: sign in to accept.", code="exists"
            )
        user = User.objects.create_user(invitation.email, password, name=name)
    elif user.email.lower() != invitation.email.lower():
        raise InvitationError(
            f"This invitation is for {invitation.email}, not {user.email}.", code="wrong_user"
        )
    membership, created = Membership.objects.get_or_create(
        user=user, org=invitation.org, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    record_audit(
        invitation.org,
        user,
        "invitation.accept",
        target=invitation.email,
        before=None,
        after={"role": membership.role, "new_membership": created},
    )
    return membership
