"""The settings pages; their role and organisation gates are in tests/accounts/test_access.py."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from console.models import Account, ApiKey, AuditEntry
from console.secret_keys import hash_secret
from tests import factories
from tests.usage.rawrows import raw, series_for, store_batch
from usage.models import IngestKey, RateLimit
from usage.rollups import rollup_pending


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin(org):
    return factories.make_member(org, Role.ADMIN, "boss@acme.test")


@pytest.fixture
def admin_client(client, admin):
    client.force_login(admin)
    return client


def _audit(org, action):
    return AuditEntry.objects.get(org=org, action=action)


def test_workspaces_page_shows_this_months_usage_and_links(admin_client, org):
    research = factories.make_workspace(org, "Research", "wrkspc_01research")
    key = factories.make_api_key(org, research, "prod")
    now = timezone.now()
    s = series_for(org, workspace=research, api_key=key)
    store_batch(
        org,
        [
            raw(s, now, uncached_input_tokens=1200, cache_read_tokens=3000, output_tokens=350),
            raw(s, now, uncached_input_tokens=10, cache_write_5m_tokens=500, output_tokens=1),
        ],
    )
    rollup_pending()
    body = admin_client.get(reverse("orgsettings:workspaces")).content.decode()
    row = body.split(f'data-testid="workspace-{research.pk}"')[1].split("</tr>")[0]
    assert ">2<" in row  # requests
    assert ">4,710<" in row  # 1200 + 3000 + 10 + 500 input tokens
    assert ">351<" in row
    assert "/usage/?workspace=wrkspc_01research" in row
    assert f"/settings/api-keys/?workspace={research.pk}" in row
    assert "/usage/?workspace=default" in body


def test_admin_renames_a_workspace_and_it_is_audited(admin_client, org):
    research = factories.make_workspace(org, "Research", "wrkspc_01research")
    url = reverse("orgsettings:rename_workspace", args=[research.pk])
    assert admin_client.post(url, {"name": "  Science  "}).status_code == 302
    research.refresh_from_db()
    assert research.name == "Science"
    entry = _audit(org, "workspace.rename")
    assert (entry.target, entry.before, entry.after) == (
        "wrkspc_01research",
        {"name": "Research"},
        {"name": "Science"},
    )


def test_the_default_workspace_keeps_its_name(admin_client, org):
    default = org.workspaces.get(is_default=True)
    response = admin_client.post(
        reverse("orgsettings:rename_workspace", args=[default.pk]), {"name": "Mine"}, follow=True
    )
    assert "The Default workspace keeps its name." in response.content.decode()
    default.refresh_from_db()
    assert default.name == "Default"
    assert not AuditEntry.objects.exists()


def test_an_empty_name_is_refused(admin_client, org):
    research = factories.make_workspace(org, "Research")
    admin_client.post(reverse("orgsettings:rename_workspace", args=[research.pk]), {"name": "  "})
    research.refresh_from_db()
    assert research.name == "Research"


@pytest.mark.parametrize("role", [Role.BILLING, Role.DEVELOPER])
def test_viewers_see_workspaces_and_keys_without_change_forms(client, org, role):
    factories.make_api_key(org, name="prod")
    client.force_login(factories.make_member(org, role))
    for name in ("orgsettings:workspaces", "orgsettings:api_keys"):
        body = client.get(reverse(name)).content.decode()
        assert "Rename" not in body and "Disable" not in body
        assert "Members" not in body  # the navigation shows only what they may open
    assert "prod" in client.get(reverse("orgsettings:api_keys")).content.decode()


def test_admin_sees_every_settings_page_in_the_navigation(admin_client):
    body = admin_client.get(reverse("orgsettings:workspaces")).content.decode()
    for label in ("Workspaces", "API keys", "Members", "Ingest keys", "Rate limits", "Audit log"):
        assert f">{label}</a>" in body


def test_api_keys_filtered_by_workspace(admin_client, org):
    research = factories.make_workspace(org, "Research")
    factories.make_api_key(org, research, "in-research")
    factories.make_api_key(org, name="in-default")
    body = admin_client.get(reverse("orgsettings:api_keys"), {"workspace": research.pk}).content
    assert b"in-research" in body and b"in-default" not in body


def test_keyless_usage_has_its_own_row(admin_client, org):
    s = series_for(org, api_key=None)
    store_batch(org, [raw(s, timezone.now(), uncached_input_tokens=5, output_tokens=6)])
    rollup_pending()
    body = admin_client.get(reverse("orgsettings:api_keys")).content.decode()
    row = body.split('data-testid="api-key-none"')[1].split("</tr>")[0]
    assert "No API key" in row and ">5<" in row and ">6<" in row
    assert "/usage/?api_key=none" in row


def test_admin_disables_enables_and_renames_a_key(admin_client, org):
    research = factories.make_workspace(org, "Research")
    key = factories.make_api_key(org, research, "prod", "apikey_01prod")
    status_url = reverse("orgsettings:set_api_key_status", args=[key.pk])
    response = admin_client.post(
        status_url, {"status": "disabled", "back_workspace": str(research.pk)}
    )
    assert response["Location"] == f"/settings/api-keys/?workspace={research.pk}"
    key.refresh_from_db()
    assert key.status == ApiKey.Status.DISABLED
    admin_client.post(status_url, {"status": "active", "back_workspace": "https://evil.test"})
    key.refresh_from_db()
    assert key.status == ApiKey.Status.ACTIVE
    admin_client.post(reverse("orgsettings:rename_api_key", args=[key.pk]), {"name": "production"})
    key.refresh_from_db()
    assert key.name == "production"
    actions = list(
        AuditEntry.objects.filter(org=org).order_by("id").values_list("action", "before", "after")
    )
    assert actions == [
        ("api_key.disable", {"status": "active"}, {"status": "disabled"}),
        ("api_key.enable", {"status": "disabled"}, {"status": "active"}),
        ("api_key.rename", {"name": "prod"}, {"name": "production"}),
    ]


def test_a_bad_key_status_changes_nothing(admin_client, org):
    key = factories.make_api_key(org)
    admin_client.post(reverse("orgsettings:set_api_key_status", args=[key.pk]), {"status": "gone"})
    key.refresh_from_db()
    assert key.status == ApiKey.Status.ACTIVE


def test_admin_sets_changes_and_clears_rate_limits(admin_client, org):
    model = series_for(org).model
    url = reverse("orgsettings:set_limit")
    data = {"model": model.model_id, "requests_per_minute": "50", "input_tokens_per_minute": ""}
    assert admin_client.post(url, data).status_code == 302
    limit = RateLimit.objects.get(org=org, model=model)
    assert (limit.requests_per_minute, limit.input_tokens_per_minute) == (50, None)
    admin_client.post(url, {**data, "output_tokens_per_minute": "8000"})
    admin_client.post(url, {"model": model.model_id})
    assert not RateLimit.objects.filter(org=org).exists()
    entries = list(AuditEntry.objects.filter(org=org).order_by("id"))
    assert [e.action for e in entries] == ["rate_limit.set"] * 3
    assert entries[0].before is None
    assert entries[1].after["output_tokens_per_minute"] == 8000
    assert entries[2].after is None
    page = admin_client.get(reverse("orgsettings:limits")).content.decode()
    assert model.model_id in page


@pytest.mark.parametrize(
    "data",
    [
        {"model": "claude-nonexistent", "requests_per_minute": "5"},
        {"model": "claude-sonnet-4-5-20250929", "requests_per_minute": "-5"},
        {"model": "claude-sonnet-4-5-20250929", "requests_per_minute": "lots"},
    ],
)
def test_bad_limits_are_a_400_with_the_reason(admin_client, org, data):
    series_for(org, model="claude-sonnet-4-5-20250929")
    response = admin_client.post(reverse("orgsettings:set_limit"), data)
    assert response.status_code == 400
    assert "errorlist" in response.content.decode()
    assert not RateLimit.objects.exists()


def _errors(response) -> list[str]:
    return re.findall(r'<ul class="errorlist[^"]*"[^>]*>.*?</ul>', response.content.decode())


def test_limits_offer_only_this_organisations_models(admin_client, org, other_org):
    # The model table is shared; another organisation's model must read like an unknown id.
    series_for(org, model="claude-ours-1")
    series_for(other_org, model="claude-theirs-1")
    page = admin_client.get(reverse("orgsettings:limits")).content.decode()
    assert "claude-ours-1" in page
    assert "claude-theirs-1" not in page
    url = reverse("orgsettings:set_limit")
    theirs = admin_client.post(url, {"model": "claude-theirs-1", "requests_per_minute": "5"})
    unknown = admin_client.post(url, {"model": "claude-nobody-1", "requests_per_minute": "5"})
    assert theirs.status_code == unknown.status_code == 400
    assert _errors(theirs) == _errors(unknown) != []
    assert "claude-theirs-1" not in theirs.content.decode()
    assert not RateLimit.objects.exists()


def test_limits_without_models_offer_no_form_but_still_explain_a_refusal(admin_client, org):
    page = admin_client.get(reverse("orgsettings:limits")).content.decode()
    assert "No models yet" in page and "<select" not in page
    response = admin_client.post(reverse("orgsettings:set_limit"), {"model": "claude-x-1"})
    assert response.status_code == 400 and _errors(response)


def test_ingest_key_secret_is_shown_once_and_stored_hashed(admin_client, org, admin):
    response = admin_client.post(reverse("orgsettings:create_ingest_key"), {"name": "gateway"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.content.decode()
    secret = body.split('<p class="secret" id="new-secret">')[1].split("</p>")[0]
    assert secret.startswith("mbi_") and len(secret) > 40
    key = IngestKey.objects.get(org=org)
    assert key.key_hash == hash_secret(secret)
    assert secret not in str(IngestKey.objects.values_list().get())
    assert (key.name, key.created_by, key.prefix) == ("gateway", admin, secret[:12])
    listing = admin_client.get(reverse("orgsettings:ingest_keys")).content.decode()
    assert "gateway" in listing and secret not in listing and key.prefix in listing
    entry = _audit(org, "ingest_key.create")
    assert secret not in str(entry.after) and entry.after["prefix"] == key.prefix


def test_ingest_key_needs_a_name(admin_client, org):
    response = admin_client.post(reverse("orgsettings:create_ingest_key"), {"name": ""})
    assert response.status_code == 400
    assert not IngestKey.objects.exists()


def test_revoking_an_ingest_key_is_audited_once(admin_client, org):
    response = admin_client.post(reverse("orgsettings:create_ingest_key"), {"name": "gateway"})
    assert response.status_code == 200
    key = IngestKey.objects.get(org=org)
    url = reverse("orgsettings:revoke_ingest_key", args=[key.pk])
    admin_client.post(url, {"confirm": "yes"})
    admin_client.post(url, {"confirm": "yes"})
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert AuditEntry.objects.filter(org=org, action="ingest_key.revoke").count() == 1
    assert "Revoked" in admin_client.get(reverse("orgsettings:ingest_keys")).content.decode()


# Accounts ------------------------------------------------------------------------------


def test_accounts_page_lists_usage_links_and_members_to_link(admin_client, org, other_org):
    ada = Account.objects.create(org=org, external_id="u_ada", name="Ada", email="ada@acme.test")
    Account.objects.create(org=other_org, external_id="u_theirs", name="Theirs")
    factories.make_member(other_org, Role.USER, "stranger@globex.test")
    now = timezone.now()
    store_batch(
        org,
        [raw(series_for(org, account=ada), now, uncached_input_tokens=40, output_tokens=2)] * 1,
    )
    rollup_pending()
    page = admin_client.get(reverse("orgsettings:accounts")).content.decode()
    row = re.search(rf'data-testid="account-{ada.pk}">(.*?)</tr>', page, re.S).group(1)
    assert "ada@acme.test" in row and '<td data-label="Input tokens" class="num">40</td>' in row
    assert 'href="/usage/?account=u_ada"' in row
    assert '<option value="">By email</option>' in row
    assert "boss@acme.test" in row  # an Admin can link any member of the organisation
    assert "Theirs" not in page and "stranger@globex.test" not in page


def test_linking_an_account_is_audited_and_shows_on_my_usage(admin_client, org):
    account = Account.objects.create(org=org, external_id="svc", name="ETL service")
    carol = factories.make_member(org, Role.USER, "carol@acme.test")
    url = reverse("orgsettings:link_account", args=[account.pk])
    assert admin_client.post(url, {"member": carol.pk}).status_code == 302
    account.refresh_from_db()
    assert account.member == carol
    entry = _audit(org, "account.link")
    assert (entry.target, entry.before, entry.after) == (
        "svc",
        {"member": None},
        {"member": "carol@acme.test"},
    )
    admin_client.force_login(carol)
    assert "ETL service" in admin_client.get("/me/usage/").content.decode()


def test_an_account_cannot_be_linked_to_another_organisations_member(admin_client, org, other_org):
    account = Account.objects.create(org=org, external_id="svc", name="ETL service")
    stranger = factories.make_member(other_org, Role.ADMIN, "stranger@globex.test")
    url = reverse("orgsettings:link_account", args=[account.pk])
    response = admin_client.post(url, {"member": stranger.pk}, follow=True)
    assert "Choose a member of this organisation" in response.content.decode()
    account.refresh_from_db()
    assert account.member is None
    assert not AuditEntry.objects.filter(action="account.link").exists()


def test_a_developer_sees_the_accounts_but_no_member_select(client, org):
    Account.objects.create(org=org, external_id="u_ada", name="Ada")
    client.force_login(factories.make_member(org, Role.DEVELOPER))
    page = client.get(reverse("orgsettings:accounts")).content.decode()
    assert "u_ada" in page and "<select" not in page


def test_the_accounts_page_goes_by_pages_of_100(admin_client, org):
    Account.objects.bulk_create(
        Account(org=org, external_id=f"u_{i:03d}", name=f"User {i:03d}") for i in range(130)
    )
    first = admin_client.get(reverse("orgsettings:accounts")).content.decode()
    second = admin_client.get(reverse("orgsettings:accounts"), {"page": 2}).content.decode()
    assert "u_099" in first and "u_100" not in first
    assert "u_100" in second and "u_129" in second and "Page 2 of 2" in second
    assert admin_client.get(reverse("orgsettings:accounts"), {"page": "x"}).status_code == 400
