"""Admin API keys: stored hashed, our own prefix, accepted as x-api-key or Bearer, one
organisation each, revocable, last use noted, rate-limited, audited; the page and command."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.models import Role
from adminapi.models import AdminKey
from adminapi.services import create_admin_key, revoke_admin_key
from console.models import AuditEntry
from console.secret_keys import hash_secret
from tests import factories

URL = "/v1/organizations/workspaces"


def test_a_key_is_our_own_prefix_stored_only_as_its_hash(org):
    key, secret = create_admin_key(org, "grafana")
    assert secret.startswith("mba_")
    assert not secret.startswith("sk-ant")
    assert len(secret) > 40
    assert key.key_hash == hash_secret(secret)
    assert secret not in {key.prefix, key.key_hash, key.name}
    assert secret.startswith(key.prefix)
    entry = AuditEntry.objects.get(org=org, action="admin_key.create")
    assert entry.after == {"name": "grafana", "prefix": key.prefix}
    assert secret not in str(entry.after)


@pytest.mark.parametrize("how", ["x-api-key", "bearer"])
def test_the_key_is_accepted_in_either_header_and_last_use_is_noted(client, org, how):
    key, secret = create_admin_key(org, "poller")
    headers = {"x-api-key": secret} if how == "x-api-key" else {"Authorization": f"Bearer {secret}"}
    response = client.get(URL, headers=headers)
    assert response.status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-api-key": "mba_wrong"},
        {"x-api-key": "sk-ant-admin01-whatever"},
        {"Authorization": "Basic bWJhXzp4"},
        {"x-api-key": "mba_" + "x" * 500},
    ],
)
def test_a_missing_or_wrong_key_is_401_in_anthropics_shape(client, org, headers):
    response = client.get(URL, headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "authentication_error"
    assert response["request-id"] == body["request_id"]


def test_a_revoked_key_stops_working_and_revoking_is_audited_once(client, org):
    key, secret = create_admin_key(org, "poller")
    assert client.get(URL, headers={"x-api-key": secret}).status_code == 200
    revoke_admin_key(key, actor=None)
    revoke_admin_key(key, actor=None)
    assert client.get(URL, headers={"x-api-key": secret}).status_code == 401
    assert AuditEntry.objects.filter(org=org, action="admin_key.revoke").count() == 1


def test_a_key_reads_only_its_own_organisation(client, org, other_org):
    factories.make_workspace(org, "Ours", "wrkspc_ours")
    factories.make_workspace(other_org, "Theirs", "wrkspc_theirs")
    _key, secret = create_admin_key(other_org, "theirs")
    ids = [w["id"] for w in client.get(URL, headers={"x-api-key": secret}).json()["data"]]
    assert ids == ["wrkspc_theirs"]
    response = client.get(f"{URL}/wrkspc_ours", headers={"x-api-key": secret})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


def test_beyond_the_rate_limit_a_429_with_retry_after(client, org, settings):
    settings.ADMINAPI_RATE_LIMIT_PER_MINUTE = 3
    _key, secret = create_admin_key(org, "poller")
    _other, other_secret = create_admin_key(org, "another")
    statuses = [client.get(URL, headers={"x-api-key": secret}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = client.get(URL, headers={"x-api-key": secret})
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert 1 <= int(refused["retry-after"]) <= 61
    # The limit is per key.
    assert client.get(URL, headers={"x-api-key": other_secret}).status_code == 200


def test_the_default_limit_allows_polling_with_paging_bursts(client, org):
    _key, secret = create_admin_key(org, "poller")
    statuses = {client.get(URL, headers={"x-api-key": secret}).status_code for _ in range(60)}
    assert statuses == {200}


def test_only_get_is_allowed(client, org):
    _key, secret = create_admin_key(org, "poller")
    response = client.post(URL, {}, headers={"x-api-key": secret})
    assert response.status_code == 405
    assert response.json()["type"] == "error"


def test_an_unknown_path_is_anthropics_404(client, org):
    _key, secret = create_admin_key(org, "poller")
    response = client.get("/v1/organizations/nothing_here", headers={"x-api-key": secret})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


def test_the_command_prints_the_key_once_and_it_works(client, org):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "create_admin_key", "--org", org.slug, "--name", "cookbook", stdout=out, stderr=err
    )
    secret = out.getvalue().strip()
    assert secret.startswith("mba_")
    assert secret not in err.getvalue()
    assert AdminKey.objects.get(org=org).name == "cookbook"
    assert client.get(URL, headers={"x-api-key": secret}).status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--org", "nope", "--name", "x"], "No organisation"),
        (["--org", "acme", "--name", " "], "blank"),
    ],
)
def test_the_command_refuses_bad_arguments(org, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_admin_key", *args)


@pytest.fixture
def admin_client(client, org):
    client.force_login(factories.make_member(org, Role.ADMIN, "boss@acme.test"))
    return client


def test_the_page_creates_shows_the_key_once_and_revokes(admin_client, org):
    response = admin_client.post(reverse("orgsettings:create_admin_key"), {"name": "grafana"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    key = AdminKey.objects.get(org=org)
    secret = response.context["created"]["secret"]
    assert secret in response.content.decode()
    assert key.key_hash == hash_secret(secret)
    listing = admin_client.get(reverse("orgsettings:admin_keys")).content.decode()
    assert "grafana" in listing
    assert secret not in listing
    assert "never" in listing  # last used
    url = reverse("orgsettings:revoke_admin_key", args=[key.pk])
    asked = admin_client.post(url)  # one click: the question, nothing revoked
    assert 'name="confirm" value="yes"' in asked.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None
    revoked = admin_client.post(url, {"confirm": "yes"})
    assert revoked.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    entry = AuditEntry.objects.get(org=org, action="admin_key.revoke")
    assert entry.actor.email == "boss@acme.test"


def test_the_page_needs_a_name(admin_client, org):
    response = admin_client.post(reverse("orgsettings:create_admin_key"), {"name": ""})
    assert response.status_code == 400
    assert not AdminKey.objects.exists()


def test_another_organisations_key_cannot_be_revoked(admin_client, other_org):
    key, _secret = create_admin_key(other_org, "theirs")
    assert (
        admin_client.post(
            reverse("orgsettings:revoke_admin_key", args=[key.pk]), {"confirm": "yes"}
        ).status_code
        == 404
    )
    key.refresh_from_db()
    assert key.revoked_at is None
