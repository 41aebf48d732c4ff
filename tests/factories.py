"""Small builders for test data; each returns saved objects with sensible defaults."""

import itertools

from accounts.models import Membership, Role, User
from console.models import ApiKey, LlmModel, Organization, Workspace
from console.services import create_organization

PASSWORD = "correct-horse-battery-staple"
_seq = itertools.count(1)


def make_org(slug: str | None = None, name: str | None = None) -> Organization:
    n = next(_seq)
    return create_organization(slug=slug or f"org-{n}", name=name or f"Org {n}")


def make_user(email: str | None = None, password: str = PASSWORD, **extra) -> User:
    return User.objects.create_user(email or f"person{next(_seq)}@example.com", password, **extra)


def make_member(org: Organization, role: str = Role.DEVELOPER, email: str | None = None) -> User:
    user = make_user(email)
    Membership.objects.create(user=user, org=org, role=role)
    return user


def make_workspace(org: Organization, name: str = "Research", external_id: str | None = None):
    return Workspace.objects.create(
        org=org, name=name, external_id=external_id or f"wrkspc_{next(_seq):08d}"
    )


def make_api_key(
    org: Organization,
    workspace: Workspace | None = None,
    name: str = "backend",
    external_id: str | None = None,
) -> ApiKey:
    workspace = workspace or org.workspaces.get(is_default=True)
    return ApiKey.objects.create(
        org=org,
        workspace=workspace,
        name=name,
        external_id=external_id or f"apikey_{next(_seq):08d}",
    )


def make_model(model_id: str = "claude-sonnet-4-5-20250929") -> LlmModel:
    return LlmModel.objects.get_or_create(model_id=model_id)[0]
