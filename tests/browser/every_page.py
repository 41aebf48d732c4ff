"""Every page of every role, on one organisation whose names are long everywhere a page
could be pushed sideways: the pages the phone and the accessibility tests walk."""

import datetime as dt

from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.context_processors import NAV_ITEMS
from accounts.models import REPORT_ROLES, Membership, Role
from adminapi.services import create_admin_key
from console.models import Account
from spend.models import Limit
from tests import factories
from tests.costs.builders import raw, series_for, store_and_roll_up
from upstreams import services as upstream_services
from upstreams.models import Upstream
from usage.ingest.keys import create_ingest_key
from usage.models import RateLimit

LONG_MODEL = "claude-3-5-sonnet-v2@20241022-vertex-europe-west4-provisioned"
SPEND_ROLES = {Role.ADMIN, Role.BILLING}
ROLES = [Role.ADMIN, Role.BILLING, Role.DEVELOPER, Role.USER]


def make_world() -> dict:
    """One organisation with long names everywhere a phone could be pushed sideways: its
    people by role, a member and an invitation to remove, and the long model's id."""
    org = factories.make_org("acme", "Acme Research and Development International")
    people = {
        role: factories.make_member(org, role, f"{role}.with-a-rather-long-address@acme-corp.test")
        for role in (Role.ADMIN, Role.BILLING, Role.DEVELOPER, Role.USER)
    }
    second_admin = factories.make_member(org, Role.ADMIN, "second.admin@acme-corp.test")
    workspace = factories.make_workspace(
        org, "Customer Support Platform Europe", "wrkspc_01JQMMZCgK8Hf33ut7PR2cnXeuw"
    )
    key = factories.make_api_key(
        org,
        workspace,
        name="prod-backend-canary-eu-west-1",
        external_id="apikey_01JQMMZCgK8Hf33ut7PR2cnX0000",
    )
    account = Account.objects.create(
        org=org,
        external_id="user_01JQMMZCgK8Hf33ut7PR2cnXaccount",
        name="Ada Lovelace-Byron",
        email=people[Role.USER].email,
    )
    now = timezone.now()
    rows = []
    for model in ("claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", LONG_MODEL):
        series = series_for(org, workspace=workspace, api_key=key, model=model, account=account)
        for hours in (1, 30, 60):
            rows.append(
                raw(
                    series,
                    now - dt.timedelta(hours=hours),
                    uncached_input_tokens=123_456_789,
                    cache_write_5m_tokens=12_345_678,
                    cache_read_tokens=98_765_432,
                    output_tokens=9_876_543,
                    web_search_requests=12,
                )
            )
    store_and_roll_up(org, rows)
    RateLimit.objects.create(
        org=org,
        model=series.model,
        requests_per_minute=4000,
        input_tokens_per_minute=2_000_000,
        output_tokens_per_minute=400_000,
    )
    invitation, _ = account_services.invite(
        org,
        email="a.new.person.with.a.long.address@partner-company.test",
        role=Role.BILLING,
        actor=people[Role.ADMIN],
    )
    create_ingest_key(org, "gateway-production-eu-west-1", actor=people[Role.ADMIN])
    create_admin_key(org, "grafana-dashboards-production", actor=people[Role.ADMIN])
    Limit.objects.create(
        org=org, name="Monthly budget for support", unit="usd", amount=5000, period="month"
    )
    upstream = upstream_services.create_upstream(
        org,
        name="Anthropic organisation for the research department",
        base_url="https://api.anthropic.com",
        key="sk-ant-admin01-a-long-admin-key",
        start=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        actor=people[Role.ADMIN],
    )
    Upstream.objects.filter(pk=upstream.pk).update(
        last_error="GET /v1/organizations/usage_report/messages answered 401: "
        "authentication_error: invalid x-api-key",
        last_error_at=timezone.now(),
    )
    return {
        "org": org,
        "people": people,
        "member": Membership.objects.get(user=second_admin, org=org),
        "invitation": invitation,
        "model": LONG_MODEL,
        "upstream": upstream,
    }


def pages_of(role, world: dict) -> list[str]:
    """The pages ``role`` reaches: its menu, the reports' views, confirmations, and more."""
    pages = [reverse(name) for _s, _l, name, roles in NAV_ITEMS if role in roles]
    if role in REPORT_ROLES:
        month = timezone.now().strftime("%Y-%m")
        day = timezone.now().strftime("%Y-%m-%d")
        pages += [
            f"/usage/?group_by=model&model={world['model']}",
            f"/usage/?month={month}&day={day}&group_by=api_key",
            f"/usage/?month={month}&day={day}&part=limits",
            "/cost/?group_by=workspace",
            f"/cost/?month={month}&day={day}&group_by=model",
            "/usage/?workspace=wrkspc_gone",  # the not-found page
        ]
    if role == Role.ADMIN:
        pages += [
            reverse("accounts:remove_member", args=[world["member"].pk]),
            reverse("accounts:revoke_invitation", args=[world["invitation"].pk]),
            reverse("upstreams:edit", args=[world["upstream"].pk]),
            reverse("upstreams:delete", args=[world["upstream"].pk]),
        ]
    if role in SPEND_ROLES:
        pages.append(reverse("spend:chargeback"))
    return [*pages, reverse("accounts:password_change"), "/"]
