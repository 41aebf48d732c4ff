"""Registration on first sight and API key claims (usage/ingest/registry.py)."""

import pytest

from console.models import Account, ApiKey, LlmModel, Workspace
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


def test_accounts_are_registered_on_first_sight_with_the_first_name(org):
    run(
        org,
        rec(account_id="user_1", account_name="Ada Lovelace"),
        rec(account_id="user_1", account_name="Someone else"),
        rec(account_id="user_2"),
        rec(),  # no account
    )
    run(org, rec(account_id="user_2", account_name="Late name"))
    accounts = {a.external_id: (a.name, a.email) for a in Account.objects.filter(org=org)}
    assert accounts == {"user_1": ("Ada Lovelace", ""), "user_2": ("user_2", "")}
    assert sorted(
        Series.objects.filter(org=org).values_list("account__external_id", flat=True),
        key=str,
    ) == [None, "user_1", "user_2"]


def test_an_account_series_gets_its_base_first_even_within_one_chunk(org):
    """The minute, hour and day buckets count an account series under its base (the same
    dimensions without the account), created with it; a series without one is its own."""
    run(
        org,
        rec(account_id="user_1", api_key_id="k1"),
        rec(account_id="user_2", api_key_id="k1"),
        rec(account_id="user_1", model="claude-opus-4-1-20250805"),
    )
    run(org, rec(account_id="user_3", api_key_id="k1"), rec(api_key_id="k1"))
    by_account = Series.objects.filter(org=org, account__isnull=False).select_related("base")
    assert by_account.count() == 4
    for s in by_account:
        assert s.base.account_id is None and s.base.base_id is None
        dims = ("workspace_id", "api_key_id", "model_id", "service_tier", "context_window")
        assert [getattr(s.base, d) for d in dims] == [getattr(s, d) for d in dims]
    # One base per distinct account-free dimensions, shared; the plain record used it.
    assert Series.objects.filter(org=org, account__isnull=True).count() == 2


def test_an_accounts_email_comes_from_its_name_or_else_its_id(org):
    run(
        org,
        rec(account_id="user_1", account_name=" Ada@Example.com "),
        rec(account_id="Grace@Example.org", account_name="Grace Hopper"),
        rec(account_id="svc", account_name="not@an address"),
    )
    emails = dict(Account.objects.filter(org=org).values_list("external_id", "email"))
    assert emails == {
        "user_1": "ada@example.com",
        "Grace@Example.org": "grace@example.org",
        "svc": "",
    }


def test_one_account_in_two_organisations_is_two_accounts(org, other_org):
    run(org, rec(account_id="user_1", account_name="Ada"))
    run(other_org, rec(account_id="user_1", account_name="Not Ada"))
    assert Account.objects.get(org=org, external_id="user_1").name == "Ada"
    assert Account.objects.get(org=other_org, external_id="user_1").name == "Not Ada"


def test_a_long_account_id_without_a_name_is_cut_for_the_name(org):
    long_id = "u" * 255
    run(org, rec(account_id=long_id))
    account = Account.objects.get(org=org)
    assert (account.external_id, account.name) == (long_id, "u" * 200)


def test_the_account_is_part_of_the_series(org):
    """Same workspace, key, model, tier and window, another account: another series."""
    run(org, rec(api_key_id="k1", account_id="a"), rec(api_key_id="k1", account_id="b"))
    run(org, rec(api_key_id="k1", account_id="a"), rec(api_key_id="k1"))
    assert Series.objects.filter(org=org).count() == 3


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
