"""Registration on first sight and API key claims (usage/ingest/registry.py)."""

import pytest

from console.models import ApiKey, LlmModel, Workspace
from tests import factories
from tests.usage.ingest.records import rec, run
from usage.models import Series

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("nudges")]


# --- registration -------------------------------------------------------------------------


def test_workspaces_keys_and_models_are_registered_on_first_sight(org):
    result = run(
        org,
        rec(workspace_id="w1", workspace_name="Research", api_key_id="k1", api_key_name="backend"),
        rec(workspace_id="w1", workspace_name="Renamed?", api_key_id="k1", api_key_name="nope"),
        rec(workspace_id="w2", api_key_id="k2", model="claude-opus-4-1-20250805"),
    )
    assert result.accepted == 3
    w1 = Workspace.objects.get(org=org, external_id="w1")
    assert (w1.name, w1.is_default) == ("Research", False)
    assert Workspace.objects.get(org=org, external_id="w2").name == "w2"  # no name given
    k1 = ApiKey.objects.get(org=org, external_id="k1")
    assert (k1.name, k1.workspace, k1.status) == ("backend", w1, ApiKey.Status.ACTIVE)
    assert ApiKey.objects.get(org=org, external_id="k2").workspace.external_id == "w2"
    opus = LlmModel.objects.get(model_id="claude-opus-4-1-20250805")
    assert (opus.display_name, opus.family) == ("Claude Opus 4.1", "opus")
    assert Series.objects.filter(org=org).count() == 2


def test_names_are_never_overwritten_after_an_admin_rename(org):
    run(org, rec(workspace_id="w1", workspace_name="First", api_key_id="k1", api_key_name="key"))
    Workspace.objects.filter(external_id="w1").update(name="Admin's name")
    ApiKey.objects.filter(external_id="k1").update(name="Admin's key")
    run(org, rec(workspace_id="w1", workspace_name="Gateway", api_key_id="k1", api_key_name="x"))
    assert Workspace.objects.get(org=org, external_id="w1").name == "Admin's name"
    assert ApiKey.objects.get(org=org, external_id="k1").name == "Admin's key"


def test_long_names_are_cut_and_cleaned(org):
    run(org, rec(workspace_id="w1", workspace_name="  " + "n" * 300 + "  "))
    assert Workspace.objects.get(external_id="w1").name == "n" * 200


def test_registration_is_per_organisation(org, other_org):
    run(org, rec(workspace_id="w1", api_key_id="k1"))
    run(other_org, rec(workspace_id="w9", api_key_id="k1"))  # same key id, another org: fine
    assert ApiKey.objects.get(org=other_org, external_id="k1").workspace.external_id == "w9"


def test_an_api_key_claimed_by_another_workspace_is_rejected(org):
    factories.make_api_key(org, factories.make_workspace(org, "Prod", "w-prod"), "k", "k-prod")
    first = rec(workspace_id="w-prod", api_key_id="k-prod")
    wrong = rec(workspace_id="w-other", api_key_id="k-prod")
    default = rec(api_key_id="k-prod")  # no workspace_id: the Default workspace
    result = run(org, first, wrong, default)
    assert (result.accepted, result.rejected) == (1, 2)
    assert [(r.position, r.field, r.request_id) for r in result.rejections] == [
        (1, "api_key_id", wrong["request_id"]),
        (2, "api_key_id", default["request_id"]),
    ]
    assert result.rejections[0].message == "k-prod belongs to workspace w-prod, not w-other"
    assert result.rejections[1].message == "k-prod belongs to workspace w-prod, not Default"
    assert not Workspace.objects.filter(external_id="w-other").exists()


def test_a_new_api_key_belongs_to_the_first_workspace_it_is_seen_with(org):
    result = run(
        org,
        rec(api_key_id="k-new"),  # Default workspace claims it
        rec(workspace_id="w1", api_key_id="k-new"),
    )
    assert (result.accepted, result.rejected) == (1, 1)
    assert result.rejections[0].message == "k-new belongs to workspace Default, not w1"
    assert ApiKey.objects.get(org=org, external_id="k-new").workspace.is_default
