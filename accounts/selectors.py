"""Reads on people, memberships, invitations and the audit log, always within one organisation."""

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Invitation, Membership, Role, hash_token
from console.models import AuditEntry, Organization


def members(org: Organization) -> QuerySet[Membership]:
    """The organisation's memberships with their users, by email."""
    return Membership.objects.filter(org=org).select_related("user").order_by("user__email")


def member(org: Organization, pk: int) -> Membership | None:
    """One membership of the organisation, or None (also when it belongs to another one)."""
    return Membership.objects.filter(org=org, pk=pk).select_related("user", "org").first()


def admin_count(org: Organization) -> int:
    """How many Admins the organisation has."""
    return Membership.objects.filter(org=org, role=Role.ADMIN).count()


def pending_invitations(org: Organization) -> QuerySet[Invitation]:
    """Invitations of the organisation that can still be accepted, newest first."""
    return Invitation.objects.filter(
        org=org,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).select_related("invited_by")


def invitation(org: Organization, pk: int) -> Invitation | None:
    """One invitation of the organisation, or None (also when it belongs to another one)."""
    return Invitation.objects.filter(org=org, pk=pk).select_related("org").first()


def invitation_by_token(token: str) -> Invitation | None:
    """The invitation a secret token belongs to, whatever its state, or None."""
    return (
        Invitation.objects.select_related("org", "invited_by")
        .filter(token_hash=hash_token(token))
        .first()
    )


def audit_entries(org: Organization, action: str = "") -> QuerySet[AuditEntry]:
    """The organisation's audit log, newest first, optionally of one action."""
    entries = AuditEntry.objects.filter(org=org).select_related("actor")
    return entries.filter(action=action) if action else entries


def audit_actions(org: Organization) -> list[str]:
    """The distinct actions that occur in the organisation's audit log, sorted."""
    return sorted(
        AuditEntry.objects.filter(org=org).values_list("action", flat=True).distinct().order_by()
    )


def last_removal(user) -> AuditEntry | None:
    """The newest removal of this person from an organisation they are no longer in (with the
    organisation), or None: what a person with no membership is told."""
    return (
        AuditEntry.objects.filter(action="member.remove", target__iexact=user.email)
        .exclude(org__memberships__user=user)
        .select_related("org", "actor")
        .first()
    )
