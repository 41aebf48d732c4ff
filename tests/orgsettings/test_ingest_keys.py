"""The Ingest keys page (Admin only): list, create with the secret shown once, revoke."""

import re

import pytest
from django.urls import reverse

from accounts.models import Role
from tests import factories
from usage.ingest.keys import authenticate, create_ingest_key
from usage.models import IngestKey

pytestmark = pytest.mark.django_db

LIST = "/settings/ingest-keys/"


def login(client, org, role):
    user = factories.make_member(org, role)
    client.force_login(user)
    return user


def test_urls():
    assert reverse("orgsettings:ingest_keys") == LIST
    assert reverse("orgsettings:create_ingest_key") == LIST + "create/"
    assert reverse("orgsettings:revoke_ingest_key", args=[5]) == LIST + "5/revoke/"


def test_anonymous_goes_to_login(client, org):
    key, _ = create_ingest_key(org, "gateway")
    revoke = reverse("orgsettings:revoke_ingest_key", args=[key.pk])
    for method, url in [
        ("get", LIST),
        ("post", LIST + "create/"),
        ("get", revoke),
        ("post", revoke),
    ]:
        response = getattr(client, method)(url, {"confirm": "yes"} if url == revoke else {})
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))
    assert IngestKey.objects.get(pk=key.pk).revoked_at is None


@pytest.mark.parametrize("role", [Role.BILLING, Role.DEVELOPER, Role.USER, Role.CLAUDE_CODE_USER])
def test_other_roles_get_403(client, org, role):
    key, _ = create_ingest_key(org, "gateway")
    login(client, org, role)
    assert client.get(LIST).status_code == 403
    assert client.post(LIST + "create/", {"name": "x"}).status_code == 403
    revoke = reverse("orgsettings:revoke_ingest_key", args=[key.pk])
    assert client.get(revoke).status_code == 403
    assert client.post(revoke, {"confirm": "yes"}).status_code == 403
    assert IngestKey.objects.filter(org=org).count() == 1
    assert IngestKey.objects.get(pk=key.pk).revoked_at is None


def test_admin_lists_keys_without_secrets_or_hashes(client, org, other_org):
    mine, secret = create_ingest_key(org, "our gateway")
    theirs, _ = create_ingest_key(other_org, "their gateway")
    login(client, org, Role.ADMIN)
    response = client.get(LIST)
    assert response.status_code == 200
    page = response.content.decode()
    assert "our gateway" in page and mine.prefix in page
    assert "their gateway" not in page
    assert secret not in page and mine.key_hash not in page


def test_admin_creates_a_key_and_sees_the_secret_only_once(client, org):
    admin = login(client, org, Role.ADMIN)
    response = client.post(LIST + "create/", {"name": "edge proxy"})
    assert response.status_code == 200
    key = IngestKey.objects.get(org=org, name="edge proxy")
    assert key.created_by == admin
    page = response.content.decode()
    secrets_shown = re.findall(r"mbi_[A-Za-z0-9_-]{43}", page)
    assert len(secrets_shown) == 1
    secret = secrets_shown[0]
    assert secret.startswith(key.prefix)
    assert authenticate(secret) == key  # the secret on the page works
    assert response["Cache-Control"] == "no-store"
    assert secret not in client.get(LIST).content.decode()


def test_blank_name_is_400(client, org):
    login(client, org, Role.ADMIN)
    assert client.post(LIST + "create/", {"name": "  "}).status_code == 400
    assert not IngestKey.objects.exists()


def test_admin_revokes_and_the_key_stops_working(client, org):
    key, secret = create_ingest_key(org, "gateway")
    login(client, org, Role.ADMIN)
    url = reverse("orgsettings:revoke_ingest_key", args=[key.pk])
    assert f'href="{url}"' in client.get(LIST).content.decode()  # a link to the question
    # The link and a one-click POST ask first; they revoke nothing.
    for response in (client.get(url), client.post(url), client.post(url, {"confirm": "no"})):
        assert response.status_code == 200
        body = response.content.decode()
        assert 'data-testid="confirm"' in body and "Revoke the ingest key gateway?" in body
        assert 'name="csrfmiddlewaretoken"' in body and f'action="{url}"' in body
    assert IngestKey.objects.get(pk=key.pk).revoked_at is None
    assert authenticate(secret) == key
    response = client.post(url, {"confirm": "yes"})
    assert response.status_code == 302 and response["Location"] == LIST
    assert IngestKey.objects.get(pk=key.pk).revoked_at is not None
    assert authenticate(secret) is None
    assert client.put(url).status_code == 405


@pytest.mark.parametrize("role", [Role.ADMIN, Role.DEVELOPER])
def test_another_organisations_key_is_404(client, org, other_org, role):
    theirs, secret = create_ingest_key(other_org, "their gateway")
    login(client, org, role)
    url = reverse("orgsettings:revoke_ingest_key", args=[theirs.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"confirm": "yes"}).status_code == 404
    missing = reverse("orgsettings:revoke_ingest_key", args=[999_999])
    assert client.post(missing, {"confirm": "yes"}).status_code == 404
    assert authenticate(secret) == theirs
