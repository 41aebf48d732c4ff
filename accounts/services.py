"""Writes on people and memberships."""

from django.db import transaction

from accounts.models import Membership, Role, User
from console.models import Organization
from console.services import create_organization


@transaction.atomic
def create_org_with_admin(*, slug: str, name: str, admin_email: str) -> tuple[Organization, User]:
    """Create an organisation, its Default workspace and its first Admin (no password yet)."""
    org = create_organization(slug=slug, name=name)
    user = User.objects.filter(email__iexact=admin_email).first()
    if user is None:
        user = User.objects.create_user(admin_email)  # unusable password until reset
    Membership.objects.create(user=user, org=org, role=Role.ADMIN)
    return org, user
