import pytest
from django.db import IntegrityError

from console.models import LlmModel, Workspace, describe_model
from tests import factories


@pytest.mark.parametrize(
    ("model_id", "name", "family"),
    [
        ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "sonnet"),
        ("claude-opus-4-1-20250805", "Claude Opus 4.1", "opus"),
        ("claude-3-5-haiku-20241022", "Claude Haiku 3.5", "haiku"),
        ("claude-haiku-4-5", "Claude Haiku 4.5", "haiku"),
        ("gpt-4o", "gpt-4o", ""),
    ],
)
def test_describe_model(model_id, name, family):
    assert describe_model(model_id) == (name, family)


def test_model_fills_display_name(db):
    model = LlmModel.objects.create(model_id="claude-opus-4-5-20251101")
    assert (model.display_name, model.family) == ("Claude Opus 4.5", "opus")


def test_organization_gets_one_default_workspace(org):
    default = org.workspaces.get()
    assert default.is_default and default.external_id is None and default.name == "Default"
    with pytest.raises(IntegrityError):
        Workspace.objects.create(org=org, name="Another default", is_default=True)


def test_workspace_ids_are_unique_per_organisation(org, other_org):
    factories.make_workspace(org, external_id="wrkspc_same")
    factories.make_workspace(other_org, external_id="wrkspc_same")
    with pytest.raises(IntegrityError):
        factories.make_workspace(org, external_id="wrkspc_same")


def test_non_default_workspace_needs_an_external_id(org):
    with pytest.raises(IntegrityError):
        Workspace.objects.create(org=org, name="No id")
