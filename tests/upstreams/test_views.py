"""The Upstreams settings page (Admin only): list, add, edit, pause, pull now, delete with
confirmation; every change audited; the key stored encrypted, never shown."""

import datetime as dt

import pytest
from django.urls import reverse

from accounts.models import Role
from console.models import AuditEntry
from tests import factories
from upstreams import crypto, services
from upstreams.models import Upstream

pytestmark = pytest.mark.django_db

LIST = "/settings/upstreams/"
SECRET = "mbadm_0123456789abcdefSECRETPART"


def login(client, org, role):
    user = factories.make_member(org, role)
    client.force_login(user)
    return user


def make(org, name="Anthropic"):
    return services.create_upstream(
        org,
        name=name,
        base_url="https://api.anthropic.com",
        key=SECRET,
        start=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        actor=None,
    )


def urls(upstream):
    return [
        ("get", LIST, {}),
        ("post", LIST + "add/", {"name": "x"}),
        ("get", reverse("upstreams:edit", args=[upstream.pk]), {}),
        ("post", reverse("upstreams:pause", args=[upstream.pk]), {"paused": "yes"}),
        ("post", reverse("upstreams:pull", args=[upstream.pk]), {}),
        ("post", reverse("upstreams:delete", args=[upstream.pk]), {"confirm": "yes"}),
    ]


def test_anonymous_goes_to_login(client, org):
    upstream = make(org)
    for method, url, data in urls(upstream):
        response = getattr(client, method)(url, data)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("accounts:login"))
    assert Upstream.objects.get(pk=upstream.pk).paused is False


@pytest.mark.parametrize("role", [Role.BILLING, Role.DEVELOPER, Role.USER])
def test_other_roles_get_403(client, org, role):
    upstream = make(org)
    login(client, org, role)
    for method, url, data in urls(upstream):
        assert getattr(client, method)(url, data).status_code == 403, url
    assert Upstream.objects.filter(pk=upstream.pk, paused=False).exists()


def test_another_organisations_upstream_is_a_404(client, org, other_org):
    theirs = make(other_org)
    login(client, org, Role.ADMIN)
    for method, url, data in urls(theirs)[2:]:
        assert getattr(client, method)(url, data).status_code == 404, url
    assert Upstream.objects.filter(pk=theirs.pk, paused=False).exists()


def test_admin_adds_an_upstream_with_its_key_encrypted(client, org):
    login(client, org, Role.ADMIN)
    response = client.post(
        LIST + "add/",
        {
            "name": "Anthropic",
            "base_url": "https://api.anthropic.com/",
            "key": SECRET,
            "start": "2026-11-01",
        },
    )
    assert response.status_code == 302
    upstream = Upstream.objects.get(org=org)
    assert upstream.base_url == "https://api.anthropic.com"
    assert upstream.position == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    assert SECRET not in upstream.key_ciphertext
    assert crypto.decrypt(upstream.key_ciphertext) == SECRET
    page = client.get(LIST).content.decode()
    assert "Anthropic" in page and "…PART" in page and SECRET not in page
    entry = AuditEntry.objects.get(org=org, action="upstream.create")
    assert SECRET not in str(entry.after)


def test_bad_input_is_a_400_naming_the_field(client, org):
    login(client, org, Role.ADMIN)
    response = client.post(
        LIST + "add/", {"name": "", "base_url": "ftp://x", "key": "", "start": "2999-01-01"}
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert set(form.errors) == {"name", "base_url", "key", "start"}
    assert not Upstream.objects.exists()


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        ("http://127.0.0.1:8000", "private or loopback"),
        ("http://100.64.0.1", "private or loopback"),  # shared address space, not public
        ("https://no-such-host.invalid", "does not resolve"),
    ],
)
def test_an_upstream_on_a_private_address_is_refused_unless_allowed(
    client, org, settings, base_url, message
):
    settings.UPSTREAM_ALLOW_PRIVATE = False
    login(client, org, Role.ADMIN)
    data = {"name": "Inside", "base_url": base_url, "key": "k-1", "start": "2026-11-01"}
    response = client.post(LIST + "add/", data)
    assert response.status_code == 400
    (error,) = response.context["form"].errors["base_url"]
    assert message in error
    if message != "does not resolve":
        assert "UPSTREAM_ALLOW_PRIVATE=true" in error
    assert not Upstream.objects.exists()


def test_edit_keeps_the_key_unless_a_new_one_is_given(client, org):
    upstream = make(org)
    login(client, org, Role.ADMIN)
    url = reverse("upstreams:edit", args=[upstream.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"name": "Renamed", "base_url": "https://example.com"})
    assert response.status_code == 302
    upstream.refresh_from_db()
    assert (upstream.name, crypto.decrypt(upstream.key_ciphertext)) == ("Renamed", SECRET)
    client.post(url, {"name": "Renamed", "base_url": "https://example.com", "key": "new-key-9"})
    upstream.refresh_from_db()
    assert crypto.decrypt(upstream.key_ciphertext) == "new-key-9"
    assert AuditEntry.objects.filter(org=org, action="upstream.update").count() == 2


def test_pause_resume_and_delete_after_confirmation(client, org):
    upstream = make(org)
    login(client, org, Role.ADMIN)
    client.post(reverse("upstreams:pause", args=[upstream.pk]), {"paused": "yes"})
    assert Upstream.objects.get(pk=upstream.pk).paused
    client.post(reverse("upstreams:pause", args=[upstream.pk]), {"paused": "no"})
    assert not Upstream.objects.get(pk=upstream.pk).paused

    delete = reverse("upstreams:delete", args=[upstream.pk])
    confirm = client.get(delete)
    assert confirm.status_code == 200
    assert b'name="confirm" value="yes"' in confirm.content
    assert client.post(delete).status_code == 200  # an unconfirmed POST only asks
    assert Upstream.objects.filter(pk=upstream.pk).exists()
    assert client.post(delete, {"confirm": "yes"}).status_code == 302
    assert not Upstream.objects.filter(pk=upstream.pk).exists()
    actions = list(AuditEntry.objects.filter(org=org).values_list("action", flat=True))
    assert {"upstream.pause", "upstream.resume", "upstream.delete"} <= set(actions)


def test_the_page_shows_the_last_error(client, org):
    upstream = make(org)
    Upstream.objects.filter(pk=upstream.pk).update(
        last_error="GET /v1/organizations/usage_report/messages answered 401: bad key",
        last_error_at=dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC),
    )
    login(client, org, Role.ADMIN)
    page = client.get(LIST).content.decode()
    assert "answered 401: bad key" in page and "2026-12-01 10:00 UTC" in page
