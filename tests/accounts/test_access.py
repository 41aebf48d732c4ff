"""The access matrix: every console URL x each role x own versus another organisation.

Each row states independently of the views which roles may use a URL and what they get.
``test_every_console_url_is_in_the_matrix`` fails when a URL is added without a row here, so
no page, partial, export or POST can skip the gate unnoticed.
"""

import io
import zipfile
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from accounts.models import Invitation, Membership, Role
from adminapi.models import AdminKey
from console.models import Account, ApiKey
from spend.models import Limit, WebhookEndpoint
from tests import factories
from tests.usage.rawrows import series_for
from upstreams.models import Upstream
from usage.models import IngestKey

ALL = frozenset(Role.values)
REPORTS = frozenset({Role.ADMIN, Role.BILLING, Role.DEVELOPER})
ADMIN = frozenset({Role.ADMIN})
PRICE_EDITORS = frozenset({Role.ADMIN, Role.BILLING})
SPEND = frozenset({Role.ADMIN, Role.BILLING})


@dataclass
class World:
    """One organisation's objects that URLs can name."""

    org: object
    workspace: object
    api_key: object
    member: Membership
    invitation: Invitation
    ingest_key: IngestKey
    model: object
    account: Account


def build_world(slug: str) -> World:
    org = factories.make_org(slug, slug.title())
    workspace = factories.make_workspace(org, f"{slug} research")
    target = factories.make_member(org, Role.DEVELOPER, f"target@{slug}.test")
    return World(
        org=org,
        workspace=workspace,
        api_key=factories.make_api_key(org, workspace, f"{slug}-key"),
        member=Membership.objects.get(user=target, org=org),
        invitation=Invitation.objects.create(
            org=org,
            email=f"invitee@{slug}.test",
            role=Role.BILLING,
            token_hash=f"hash-{slug}",
            expires_at=timezone.now() + timedelta(days=7),
        ),
        ingest_key=IngestKey.objects.create(
            org=org, name=f"{slug} gateway", prefix="mbi_x", key_hash=f"h-{slug}"
        ),
        model=series_for(org).model,
        account=Account.objects.create(org=org, external_id=f"u_{slug}", name=f"{slug} user"),
    )


def _admin_key(org) -> AdminKey:
    return AdminKey.objects.get_or_create(
        org=org, name="poller", defaults={"prefix": "mba_x", "key_hash": f"ah-{org.slug}"}
    )[0]


def _upstream(org) -> Upstream:
    return Upstream.objects.get_or_create(
        org=org,
        name="upstream",
        defaults={
            "base_url": "http://127.0.0.1:9",
            "key_ciphertext": "not-a-token",  # a pull records "cannot be decrypted"
            "key_hint": "1234",
            "position": timezone.now(),
        },
    )[0]


def _spend_limit(org) -> Limit:
    return Limit.objects.get_or_create(
        org=org, name="Budget", defaults={"unit": "usd", "amount": 100, "period": "month"}
    )[0]


def _endpoint(org) -> WebhookEndpoint:
    return WebhookEndpoint.objects.get_or_create(
        org=org, name="ops", defaults={"url": "https://hooks.example.test/a", "secret": "whsec_x"}
    )[0]


@dataclass
class Case:
    name: str
    method: str
    roles: frozenset
    ok: int  # status for an allowed role
    args: object = None  # World -> URL args, for URLs that name an object
    data: object = field(default=lambda w: {})  # World -> POST data
    query: str = ""
    htmx: bool = False

    def __str__(self):
        return f"{self.method} {self.name}{' (htmx)' if self.htmx else ''}"

    def url(self, world: World) -> str:
        url = reverse(self.name, args=self.args(world) if self.args else [])
        return f"{url}?{self.query}" if self.query else url


CASES = [
    Case("console:home", "GET", ALL, ok=302),  # to the first page they may open, see below
    Case(
        "console:save_time_zone",
        "POST",
        ALL,
        ok=302,
        data=lambda w: {"tz": "Asia/Tokyo", "next": "/usage/"},
    ),
    Case("usage:page", "GET", REPORTS, ok=200),
    Case("usage:page", "GET", REPORTS, ok=200, htmx=True),
    Case("usage:export", "GET", REPORTS, ok=200),
    Case("costs:page", "GET", REPORTS, ok=200),
    Case("costs:page", "GET", REPORTS, ok=200, htmx=True),
    Case("costs:export", "GET", REPORTS, ok=200),
    Case("costs:excel", "GET", REPORTS, ok=200),
    Case("spend:focus", "GET", REPORTS, ok=200),
    Case("costs:prices", "GET", REPORTS, ok=200),
    Case(
        "costs:add_model_price",
        "POST",
        PRICE_EDITORS,
        ok=302,
        data=lambda w: {
            "model_pattern": "claude-sonnet-4-5*",
            "service_tier": "standard",
            "context_window": "0-200k",
            "effective_from": "2026-11-01",
            "input_per_mtok": "3",
            "output_per_mtok": "15",
            "cache_write_5m_per_mtok": "3.75",
            "cache_write_1h_per_mtok": "6",
            "cache_read_per_mtok": "0.30",
        },
    ),
    Case(
        "costs:add_tool_price",
        "POST",
        PRICE_EDITORS,
        ok=302,
        data=lambda w: {
            "kind": "web_search",
            "effective_from": "2026-11-01",
            "unit_price": "10",
            "free_hours_per_month": "0",
        },
    ),
    Case("accounts:password_change", "GET", ALL, ok=200),
    Case(
        "accounts:password_change",
        "POST",
        ALL,
        ok=302,
        data=lambda w: {
            "old_password": factories.PASSWORD,
            "new_password1": "another-long-passphrase-42",
            "new_password2": "another-long-passphrase-42",
        },
    ),
    Case("accounts:password_change_done", "GET", ALL, ok=200),
    Case("accounts:switch_org", "POST", ALL, ok=302, data=lambda w: {"org": w.org.slug}),
    Case("accounts:members", "GET", ADMIN, ok=200),
    Case(
        "accounts:invite",
        "POST",
        ADMIN,
        ok=302,
        data=lambda w: {"email": "new@example.test", "role": Role.BILLING},
    ),
    Case(
        "accounts:change_role",
        "POST",
        ADMIN,
        ok=302,
        args=lambda w: [w.member.pk],
        data=lambda w: {"role": Role.BILLING},
    ),
    Case("accounts:remove_member", "GET", ADMIN, ok=200, args=lambda w: [w.member.pk]),
    Case(
        "accounts:remove_member",
        "POST",
        ADMIN,
        ok=302,
        args=lambda w: [w.member.pk],
        data=lambda w: {"confirm": "yes"},
    ),
    Case("accounts:revoke_invitation", "GET", ADMIN, ok=200, args=lambda w: [w.invitation.pk]),
    Case(
        "accounts:revoke_invitation",
        "POST",
        ADMIN,
        ok=302,
        args=lambda w: [w.invitation.pk],
        data=lambda w: {"confirm": "yes"},
    ),
    Case("accounts:audit_log", "GET", ADMIN, ok=200),
    Case("orgsettings:workspaces", "GET", REPORTS, ok=200),
    Case(
        "orgsettings:rename_workspace",
        "POST",
        ADMIN,
        ok=302,
        args=lambda w: [w.workspace.pk],
        data=lambda w: {"name": "Renamed"},
    ),
    Case("orgsettings:api_keys", "GET", REPORTS, ok=200),
    Case(
        "orgsettings:rename_api_key",
        "POST",
        ADMIN,
        ok=302,
        args=lambda w: [w.api_key.pk],
        data=lambda w: {"name": "Renamed"},
    ),
    Case(
        "orgsettings:set_api_key_status",
        "POST",
        ADMIN,
        ok=302,
        args=lambda w: [w.api_key.pk],
        data=lambda w: {"status": ApiKey.Status.DISABLED},
    ),
    Case("orgsettings:accounts", "GET", REPORTS, ok=200),
    Case(
        "orgsettings:link_account",
        "POST",
        ADMIN,
        ok=302,
        args=lambda w: [w.account.pk],
        data=lambda w: {"member": w.member.user.pk},
    ),
    Case("me:usage", "GET", ALL, ok=200),
    Case("orgsettings:limits", "GET", ADMIN, ok=200),
    Case(
        "orgsettings:set_limit",
        "POST",
        ADMIN,
        ok=302,
        data=lambda w: {"model": w.model.model_id, "requests_per_minute": "50"},
    ),
    Case("orgsettings:ingest_keys", "GET", ADMIN, ok=200),
    Case(
        "orgsettings:create_ingest_key", "POST", ADMIN, ok=200, data=lambda w: {"name": "gateway"}
    ),
    Case("orgsettings:revoke_ingest_key", "GET", ADMIN, ok=200, args=lambda w: [w.ingest_key.pk]),
    Case(
        "orgsettings:revoke_ingest_key",
        "POST",
        ADMIN,
        ok=302,
        args=lambda w: [w.ingest_key.pk],
        data=lambda w: {"confirm": "yes"},
    ),
    Case("orgsettings:admin_keys", "GET", ADMIN, ok=200),
    Case("orgsettings:create_admin_key", "POST", ADMIN, ok=200, data=lambda w: {"name": "grafana"}),
    Case(
        "orgsettings:revoke_admin_key", "GET", ADMIN, ok=200, args=lambda w: [_admin_key(w.org).pk]
    ),
    Case(
        "orgsettings:revoke_admin_key",
        "POST",
        ADMIN,
        ok=302,
        args=lambda w: [_admin_key(w.org).pk],
        data=lambda w: {"confirm": "yes"},
    ),
    Case("upstreams:list", "GET", ADMIN, ok=200),
    Case(
        "upstreams:add",
        "POST",
        ADMIN,
        ok=302,
        data=lambda w: {
            "name": "Anthropic",
            "base_url": "https://api.anthropic.com",
            "key": "sk-ant-admin-x",
            "start": "2026-11-01",
        },
    ),
    Case("upstreams:edit", "GET", ADMIN, ok=200, args=lambda w: [_upstream(w.org).pk]),
    Case(
        "upstreams:edit",
        "POST",
        ADMIN,
        ok=302,
        args=lambda w: [_upstream(w.org).pk],
        data=lambda w: {"name": "renamed", "base_url": "https://example.com"},
    ),
    Case(
        "upstreams:pause",
        "POST",
        ADMIN,
        ok=302,
        args=lambda w: [_upstream(w.org).pk],
        data=lambda w: {"paused": "yes"},
    ),
    Case("upstreams:pull", "POST", ADMIN, ok=302, args=lambda w: [_upstream(w.org).pk]),
    Case("upstreams:delete", "GET", ADMIN, ok=200, args=lambda w: [_upstream(w.org).pk]),
    Case(
        "upstreams:delete",
        "POST",
        ADMIN,
        ok=302,
        args=lambda w: [_upstream(w.org).pk],
        data=lambda w: {"confirm": "yes"},
    ),
    Case("spend:page", "GET", SPEND, ok=200),
    Case("spend:focus_metadata", "GET", REPORTS, ok=200),
    Case("spend:chargeback", "GET", SPEND, ok=200),
    Case("spend:chargeback", "GET", SPEND, ok=200, query="start=2026-10&end=2026-12&format=csv"),
    Case(
        "spend:create",
        "POST",
        SPEND,
        ok=302,
        data=lambda w: {
            "name": "Budget",
            "scope": "org",
            "unit": "usd",
            "amount": "100",
            "period": "month",
            "time_zone": "UTC",
            "thresholds": "80, 100",
        },
    ),
    Case("spend:edit", "GET", SPEND, ok=200, args=lambda w: [_spend_limit(w.org).pk]),
    Case(
        "spend:edit",
        "POST",
        SPEND,
        ok=302,
        args=lambda w: [_spend_limit(w.org).pk],
        data=lambda w: {
            "name": "Budget",
            "scope": "org",
            "unit": "usd",
            "amount": "200",
            "period": "month",
            "time_zone": "UTC",
            "thresholds": "50",
        },
    ),
    Case("spend:delete", "GET", SPEND, ok=200, args=lambda w: [_spend_limit(w.org).pk]),
    Case(
        "spend:delete",
        "POST",
        SPEND,
        ok=302,
        args=lambda w: [_spend_limit(w.org).pk],
        data=lambda w: {"confirm": "yes"},
    ),
    Case("spend:delete_endpoint", "GET", SPEND, ok=200, args=lambda w: [_endpoint(w.org).pk]),
    Case(
        "spend:delete_endpoint",
        "POST",
        SPEND,
        ok=302,
        args=lambda w: [_endpoint(w.org).pk],
        data=lambda w: {"confirm": "yes"},
    ),
    Case(
        "spend:create_endpoint",
        "POST",
        SPEND,
        ok=200,
        data=lambda w: {"name": "ops", "url": "https://hooks.example.test/alerts"},
    ),
]

# Reachable without a session: signing in, password reset, invitation links (which carry
# their own secret), the ingest API, the OTLP receiver (their own bearer keys, tested in
# tests/usage/ingest/test_api.py and test_otlp_api.py) and the Admin API (their own keys; the
# Admin API's gate is tested in tests/adminapi), the Admin API's reference (no data), /metrics
# (its own token or address allow-list, tested in tests/adminapi/test_metrics.py), the spend
# limits read endpoint (an Admin API key, tested in tests/spend/test_views.py) and the
# operators' admin site
# (is_staff only; tested in test_admin_site_is_for_staff_only).
PUBLIC = {
    "accounts:login",
    "accounts:logout",
    "accounts:password_reset",
    "accounts:password_reset_done",
    "accounts:password_reset_confirm",
    "accounts:password_reset_complete",
    "accounts:accept_invitation",
}
PUBLIC_NAMESPACES = {
    "admin",
    "api",
    "otlp",
    "adminapi",
    "admin_api_docs",
    "ops_metrics",
    "spend_api",
}


def _url_names(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            namespace = f"{prefix}{entry.namespace}:" if entry.namespace else prefix
            yield from _url_names(entry, namespace)
        elif isinstance(entry, URLPattern) and entry.name:
            yield prefix + entry.name


def test_every_console_url_is_in_the_matrix():
    covered = {case.name for case in CASES} | PUBLIC
    missing = sorted(
        name
        for name in set(_url_names())
        if name not in covered and name.split(":")[0] not in PUBLIC_NAMESPACES
    )
    assert missing == [], f"Add these URLs to the access matrix with their roles: {missing}"


def _body(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    if response.get("Content-Type", "").endswith("spreadsheetml.sheet"):
        # An .xlsx file is a zip: its text is in the XML parts (names are shared strings).
        with zipfile.ZipFile(io.BytesIO(response.content)) as book:
            return "".join(book.read(name).decode() for name in book.namelist())
    return response.content.decode()


def _request(client: Client, case: Case, world: World):
    extra = {"HTTP_HX_REQUEST": "true"} if case.htmx else {}
    if case.method == "GET":
        return client.get(case.url(world), **extra)
    return client.post(case.url(world), case.data(world), **extra)


@pytest.fixture
def worlds(db):
    return build_world("acme"), build_world("globex")


@pytest.mark.parametrize("case", CASES, ids=str)
def test_anonymous_is_sent_to_login(client, worlds, case):
    own, _ = worlds
    response = _request(client, case, own)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("role", Role.values)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_role_in_own_organisation(client, worlds, case, role):
    own, _ = worlds
    client.force_login(factories.make_member(own.org, role))
    response = _request(client, case, own)
    if role not in case.roles:
        assert response.status_code == 403
        assert "This page is open to these roles" in _body(response)
    else:
        assert response.status_code == case.ok, _body(response)[:500]


NAMING_CASES = [case for case in CASES if case.args]


@pytest.mark.parametrize("role", Role.values)
@pytest.mark.parametrize("case", NAMING_CASES, ids=str)
def test_object_of_another_organisation_is_404_for_every_role(client, worlds, case, role):
    own, other = worlds
    client.force_login(factories.make_member(own.org, role))
    before = _snapshot(other)
    response = _request(client, case, other)
    assert response.status_code == 404
    assert _snapshot(other) == before


def _snapshot(world: World):
    world.workspace.refresh_from_db()
    world.api_key.refresh_from_db()
    world.invitation.refresh_from_db()
    world.ingest_key.refresh_from_db()
    return (
        world.workspace.name,
        world.api_key.name,
        world.api_key.status,
        list(Membership.objects.filter(org=world.org).values_list("user_id", "role")),
        world.invitation.revoked_at,
        world.ingest_key.revoked_at,
        world.org.audit_entries.count(),
        Account.objects.get(pk=world.account.pk).member_id,
    )


# Filters in query strings that name another organisation's workspace or API key.
FOREIGN_FILTERS = [
    ("usage:page", lambda w: {"workspace": w.workspace.external_id}),
    ("usage:page", lambda w: {"api_key": w.api_key.external_id}),
    ("usage:export", lambda w: {"workspace": w.workspace.external_id}),
    ("usage:export", lambda w: {"api_key": w.api_key.external_id}),
    ("costs:page", lambda w: {"workspace": w.workspace.external_id}),
    ("costs:export", lambda w: {"workspace": w.workspace.external_id}),
    ("usage:page", lambda w: {"account": w.account.external_id}),
    ("usage:export", lambda w: {"account": w.account.external_id}),
    ("costs:page", lambda w: {"account": w.account.external_id}),
    ("costs:export", lambda w: {"account": w.account.external_id}),
    ("costs:excel", lambda w: {"workspace": w.workspace.external_id}),
    ("costs:excel", lambda w: {"account": w.account.external_id}),
    ("spend:focus", lambda w: {"workspace": w.workspace.external_id}),
    ("spend:focus", lambda w: {"account": w.account.external_id}),
    ("orgsettings:api_keys", lambda w: {"workspace": w.workspace.pk}),
]


@pytest.mark.parametrize("role", sorted(REPORTS))
@pytest.mark.parametrize(
    ("name", "params"), FOREIGN_FILTERS, ids=lambda v: getattr(v, "__name__", v)
)
def test_filter_naming_another_organisation_is_404(client, worlds, role, name, params):
    own, other = worlds
    client.force_login(factories.make_member(own.org, role))
    assert client.get(reverse(name), params(own)).status_code == 200
    response = client.get(reverse(name), params(other))
    assert response.status_code == 404
    assert other.workspace.name not in _body(response)


@pytest.mark.parametrize("role", sorted(REPORTS))
def test_api_key_filter_naming_another_organisations_workspace_is_404(client, worlds, role):
    own, other = worlds
    client.force_login(factories.make_member(own.org, role))
    url = reverse("orgsettings:api_keys")
    assert client.get(url, {"workspace": own.workspace.pk}).status_code == 200
    assert client.get(url, {"workspace": other.workspace.pk}).status_code == 404
    assert client.get(url, {"workspace": "wrkspc_nonsense"}).status_code == 400


@pytest.mark.parametrize("role", Role.values)
def test_switching_to_an_organisation_one_is_not_in_is_404(client, worlds, role):
    own, other = worlds
    client.force_login(factories.make_member(own.org, role))
    response = client.post(reverse("accounts:switch_org"), {"org": other.org.slug})
    assert response.status_code == 404


@pytest.mark.parametrize("case", [c for c in CASES if c.method == "GET"], ids=str)
def test_lists_show_nothing_of_another_organisation(client, worlds, case):
    own, other = worlds
    client.force_login(factories.make_member(own.org, Role.ADMIN))
    body = _body(_request(client, case, own))
    for secret in (
        other.workspace.name,
        other.api_key.name,
        other.api_key.external_id,
        other.member.user.email,
        other.invitation.email,
        other.ingest_key.name,
    ):
        assert secret not in body


@pytest.mark.parametrize("case", [c for c in CASES if c.method == "POST"], ids=str)
def test_posts_without_a_csrf_token_are_refused(worlds, case):
    own, _ = worlds
    client = Client(enforce_csrf_checks=True)
    client.force_login(factories.make_member(own.org, Role.ADMIN))
    response = _request(client, case, own)
    assert response.status_code == 403
    assert b"CSRF" in response.content


def test_htmx_posts_carry_the_csrf_token_from_the_page(client, worlds):
    own, _ = worlds
    client.force_login(factories.make_member(own.org, Role.ADMIN))
    body = client.get(reverse("accounts:members")).content.decode()
    assert 'hx-headers=\'{"X-CSRFToken": "' in body


def test_admin_site_is_for_staff_only(client, worlds):
    own, _ = worlds
    admin_member = factories.make_member(own.org, Role.ADMIN)
    client.force_login(admin_member)
    response = client.get("/ops/admin/")
    assert response.status_code == 302
    assert "/ops/admin/login/" in response["Location"]
    operator = factories.make_user("ops@example.test", is_staff=True, is_superuser=True)
    client.force_login(operator)
    assert client.get("/ops/admin/").status_code == 200
