"""Writes on the shared organisation data."""

from django.db import transaction

from console.models import AuditEntry, Organization, Workspace

DEFAULT_WORKSPACE_NAME = "Default"


@transaction.atomic
def create_organization(*, slug: str, name: str) -> Organization:
    """Create an organisation together with its Default workspace."""
    org = Organization.objects.create(slug=slug, name=name)
    Workspace.objects.create(org=org, name=DEFAULT_WORKSPACE_NAME, is_default=True)
    return org


def record_audit(org, actor, action: str, target: str = "", before=None, after=None) -> AuditEntry:
    """Append one entry to the organisation's audit log."""
    return AuditEntry.objects.create(
        org=org, actor=actor, action=action, target=target, before=before, after=after
    )
