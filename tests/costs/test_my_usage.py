"""My usage (costs.views.my_usage): every role sees their own accounts' figures and nobody
else's; the figures equal an independent sum of the raw rows priced from the public list."""

import re
from decimal import Decimal

import pytest
from django.db import connection

from accounts.models import Role
from console.models import Account
from tests import factories
from tests.costs.builders import raw, series_for, store_and_roll_up, utc

URL = "/me/usage/"
QUERY = {"month": "2026-05", "tz": "UTC"}
OPUS = "claude-opus-4-1-20250805"
# USD per million tokens (input, output), typed in from the public price list.
PRICES = {"claude-sonnet-4-5-20250929": (3, 15), OPUS: (15, 75)}


@pytest.fixture
def usage(org, other_org):
    """Ada (by email), Bob (by email), a service account and usage without one, in May."""
    ada = Account.objects.create(org=org, external_id="u_ada", name="Ada", email="ada@acme.test")
    bob = Account.objects.create(
        org=org, external_id="bob@acme.test", name="Bob", email="bob@acme.test"
    )
    service = Account.objects.create(org=org, external_id="svc-etl", name="ETL")
    # Another organisation's account with Ada's email: none of it is Ada's usage here.
    elsewhere = Account.objects.create(
        org=other_org, external_id="u_ada", name="Ada", email="ada@acme.test"
    )
    rows = []
    for account, weight in ((ada, 3), (bob, 5), (service, 7), (None, 11)):
        for model in PRICES:
            series = series_for(org, model=model, account=account)
            rows += [
                raw(
                    series,
                    utc(2026, 5, day, 8),
                    uncached_input_tokens=1000 * weight * day,
                    output_tokens=100 * weight + day,
                )
                for day in (1, 15, 31)
            ]
    store_and_roll_up(org, rows)
    theirs = [raw(series_for(other_org, account=elsewhere), utc(2026, 5, 2), output_tokens=99)]
    store_and_roll_up(other_org, theirs)
    return {"ada": ada, "bob": bob, "service": service, "rows": rows}


def expected(rows, accounts) -> dict:
    """Independent: the raw rows of ``accounts``, summed and priced one by one."""
    mine = [r for r in rows if r.series.account in accounts]
    cost = Decimal(0)
    for r in mine:
        per_input, per_output = PRICES[r.series.model.model_id]
        cost += Decimal(r.uncached_input_tokens * per_input + r.output_tokens * per_output)
    return {
        "input_tokens": sum(r.uncached_input_tokens for r in mine),
        "output_tokens": sum(r.output_tokens for r in mine),
        "requests": len(mine),
        "cost": cost / 10**6,
    }


def shown(page: str) -> dict:
    def total(name):
        return int(re.search(rf'data-total="{name}">([\d,]+)<', page).group(1).replace(",", ""))

    cost = re.search(r'data-total="cost" title="\$([\d.]+)"', page).group(1)
    return {
        "input_tokens": total("input_tokens"),
        "output_tokens": total("output_tokens"),
        "requests": total("requests"),
        "cost": Decimal(cost),
    }


@pytest.mark.parametrize("role", Role.values)
def test_every_role_sees_its_own_figures_and_nobody_elses(client, org, usage, role):
    client.force_login(factories.make_member(org, role, "ada@acme.test"))
    response = client.get(URL, QUERY)
    assert response.status_code == 200
    page = response.content.decode()
    assert shown(page) == expected(usage["rows"], [usage["ada"]])
    assert "Ada (u_ada)" in page
    # As words: a page's random CSRF token once held the letters "ETL".
    assert not re.search(r"\bBob\b", page) and not re.search(r"\bETL\b", page)


@pytest.mark.parametrize("role", [Role.USER, Role.CLAUDE_CODE_USER])
def test_users_open_my_usage_but_not_the_organisation_reports(client, org, usage, role):
    client.force_login(factories.make_member(org, role, "bob@acme.test"))
    assert shown(client.get(URL, QUERY).content.decode()) == expected(usage["rows"], [usage["bob"]])
    for report in ("/usage/", "/usage/export.csv", "/cost/", "/cost/export.csv"):
        assert client.get(report, QUERY).status_code == 403
    home = client.get("/")
    assert home.status_code == 302 and home["Location"] == URL
    nav = client.get(URL).content.decode()
    assert 'href="/me/usage/"' in nav and 'href="/usage/"' not in nav


def test_an_account_linked_by_an_admin_is_the_members_whatever_the_email(client, org, usage):
    carol = factories.make_member(org, Role.USER, "carol@acme.test")
    Account.objects.filter(pk=usage["service"].pk).update(member=carol)
    # Linked to Carol, Bob's account is no longer Bob's.
    Account.objects.filter(pk=usage["bob"].pk).update(member=carol)
    client.force_login(carol)
    mine = [usage["service"], usage["bob"]]
    assert shown(client.get(URL, QUERY).content.decode()) == expected(usage["rows"], mine)
    one = client.get(URL, {**QUERY, "account": "svc-etl"}).content.decode()
    assert shown(one) == expected(usage["rows"], [usage["service"]])
    client.force_login(factories.make_member(org, Role.DEVELOPER, "bob@acme.test"))
    assert 'data-testid="no-accounts"' in client.get(URL, QUERY).content.decode()


@pytest.mark.parametrize("role", Role.values)
def test_a_colleagues_or_another_organisations_account_is_a_404(client, org, usage, role):
    client.force_login(factories.make_member(org, role, "ada@acme.test"))
    assert client.get(URL, {**QUERY, "account": "u_ada"}).status_code == 200
    colleague = client.get(URL, {**QUERY, "account": "bob@acme.test"})
    never = client.get(URL, {**QUERY, "account": "nobody@acme.test"})
    assert colleague.status_code == never.status_code == 404
    assert "Bob" not in colleague.content.decode()


def test_another_organisations_account_is_a_404(client, org, other_org, usage):
    """Ada is a member of both; in Acme, Globex's account of hers does not exist."""
    theirs = Account.objects.create(org=other_org, external_id="u_globex_only", name="G")
    client.force_login(factories.make_member(org, Role.USER, "ada@acme.test"))
    assert client.get(URL, {**QUERY, "account": theirs.external_id}).status_code == 404


def test_a_member_without_an_account_sees_that_nothing_is_theirs(client, org, usage):
    client.force_login(factories.make_member(org, Role.ADMIN, "dora@acme.test"))
    page = client.get(URL, QUERY).content.decode()
    assert 'data-testid="no-accounts"' in page and 'data-total="cost"' not in page


def test_a_bad_month_is_a_400_with_the_reason(client, org, usage):
    client.force_login(factories.make_member(org, Role.USER, "ada@acme.test"))
    response = client.get(URL, {"month": "2026-13"})
    assert response.status_code == 400
    assert "is not a month" in response.content.decode()


def test_query_count_is_pinned_and_does_not_grow_with_accounts_or_rows(
    client, org, usage, django_assert_num_queries
):
    carol = factories.make_member(org, Role.USER, "carol@acme.test")
    client.force_login(carol)
    for i in range(2):
        account = Account.objects.create(org=org, external_id=f"c{i}", name="C", member=carol)
        store_and_roll_up(
            org, [raw(series_for(org, account=account), utc(2026, 5, 3), output_tokens=1)]
        )
    # session, user, memberships, the person's accounts; the usage's cache key (bucket day
    # versions, workspace and model names; a miss each time, as usage is added), its
    # buckets (after the planner setting on PostgreSQL) and model names; prices x2, the
    # cost's cache key, daily code execution, its buckets (planner setting again) and models.
    count = 19 if connection.vendor == "postgresql" else 17
    with django_assert_num_queries(count):
        assert client.get(URL, QUERY).status_code == 200
    for i in range(2, 6):
        account = Account.objects.create(org=org, external_id=f"c{i}", name="C", member=carol)
        store_and_roll_up(
            org,
            [raw(series_for(org, model=OPUS, account=account), utc(2026, 5, 9), output_tokens=1)],
        )
    with django_assert_num_queries(count):
        assert client.get(URL, QUERY).status_code == 200
