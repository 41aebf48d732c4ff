"""The Usage and Cost pages' mark of a selection that has a limit: its amount, period, spend
so far and share, for the roles that may see Limits, and only when the filters select
exactly the limit's scope."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from console.models import Account
from spend import selectors, services
from spend.models import Limit
from tests import factories
from tests.spend.builders import token_limit, tokens_at

PAGES = ["usage:page", "costs:page"]


def _mark(response) -> str:
    body = response.content.decode()
    start = body.find('data-testid="limit-mark"')
    return "" if start < 0 else body[start : body.index("</aside>", start)]


@pytest.fixture
def today():
    return timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture
def billing(client, org):
    client.force_login(factories.make_member(org, Role.BILLING))
    return client


@pytest.mark.parametrize("page", PAGES)
def test_the_organisation_limit_is_marked_without_filters(billing, org, today, page):
    token_limit(org, name="Org tokens", amount=1000)
    research = factories.make_workspace(org, "Research", "wrkspc_r")
    tokens_at(org, today, 300)
    tokens_at(org, today, 100, workspace=research)
    mark = _mark(billing.get(reverse(page)))
    assert f'href="{reverse("spend:page")}"' in mark
    # 300 + 100 tokens of the raw rows, of 1,000.
    assert "1,000 tokens per day (UTC)" in mark
    assert "400 tokens, <strong>40.0%</strong>" in mark
    # A workspace is another selection: the organisation's limit is not its limit.
    assert _mark(billing.get(reverse(page), {"workspace": "wrkspc_r"})) == ""


@pytest.mark.parametrize("page", PAGES)
def test_a_workspace_limit_in_usd_is_marked_on_its_workspace(billing, org, today, page):
    research = factories.make_workspace(org, "Research", "wrkspc_r")
    services.create_limit(
        org, None, name="Research budget", unit="usd", amount=Decimal(12), period="month",
        time_zone="UTC", thresholds=[100], emails=[], endpoints=[],
    )  # fmt: skip
    Limit.objects.filter(name="Research budget").update(workspace=research)
    # 200,000 Sonnet 4.5 output tokens at $15 a million: $3.00, a quarter of $12.
    tokens_at(org, today, 200_000, workspace=research)
    tokens_at(org, today, 999_999)  # the default workspace's: not this limit's
    assert _mark(billing.get(reverse(page))) == ""
    mark = _mark(billing.get(reverse(page), {"workspace": "wrkspc_r"}))
    assert "Limit Research budget</a>: $12.00 per calendar month (UTC)" in mark
    assert "$3.00, <strong>25.0%</strong>" in mark
    # The current period is named: the page may be showing another month.
    assert f"so far in the current period ({today:%Y-%m}) $3.00" in mark
    # A model narrows the selection below the limit's scope.
    model = {"model": "claude-sonnet-4-5-20250929"}
    assert _mark(billing.get(reverse(page), {"workspace": "wrkspc_r", **model})) == ""


@pytest.mark.parametrize("page", PAGES)
def test_an_account_limit_is_marked_on_its_account(billing, org, today, page):
    ada = Account.objects.create(org=org, external_id="u_ada", name="Ada")
    token_limit(org, name="Ada's tokens", amount=500, account=ada)
    tokens_at(org, today, 50, account=ada)
    tokens_at(org, today, 70)
    mark = _mark(billing.get(reverse(page), {"account": "u_ada"}))
    assert "50 tokens, <strong>10.0%</strong>" in mark
    assert _mark(billing.get(reverse(page))) == ""


def test_an_api_key_limit_is_marked_on_the_usage_page(billing, org, today):
    key = factories.make_api_key(org, name="backend", external_id="apikey_b")
    token_limit(org, name="Key tokens", amount=100, api_key=key)
    tokens_at(org, today, 25, api_key=key)
    tokens_at(org, today, 60)
    mark = _mark(billing.get(reverse("usage:page"), {"api_key": "apikey_b"}))
    assert "25 tokens, <strong>25.0%</strong>" in mark
    assert _mark(billing.get(reverse("usage:page"), {"api_key": "none"})) == ""


@pytest.mark.parametrize("page", PAGES)
def test_roles_that_may_not_see_limits_see_no_mark(client, org, today, page):
    token_limit(org, amount=1000)
    tokens_at(org, today, 300)
    client.force_login(factories.make_member(org, Role.ADMIN))
    assert "30.0%" in _mark(client.get(reverse(page)))
    client.force_login(factories.make_member(org, Role.DEVELOPER))
    response = client.get(reverse(page))
    assert response.status_code == 200
    assert _mark(response) == ""
    assert f'href="{reverse("spend:page")}"' not in response.content.decode()


def test_another_organisations_limit_is_not_marked(billing, org, other_org, today):
    token_limit(other_org, amount=1000)
    tokens_at(org, today, 300)
    assert _mark(billing.get(reverse("usage:page"))) == ""


def test_the_marks_are_one_selector_call_of_pinned_queries(org, today, django_assert_num_queries):
    token_limit(org, name="a", amount=1000)
    services.create_limit(
        org, None, name="b", unit="usd", amount=Decimal(12), period="month",
        time_zone="UTC", thresholds=[100], emails=[], endpoints=[],
    )  # fmt: skip
    services.create_limit(
        org, None, name="rate", unit="rate_limited", amount=Decimal(5), period="hour",
        time_zone="UTC", thresholds=[100], emails=[], endpoints=[],
    )  # fmt: skip
    tokens_at(org, today, 200_000)
    now = timezone.now()
    with django_assert_num_queries(QUERIES):
        rows = selectors.marks(org, now=now)
    assert [(r["limit"].name, r["spend"]) for r in rows] == [
        ("a", 200_000),
        ("b", Decimal(3)),
    ]


# The limits (1); a token limit's spend (2: the rollup read and its session settings); a USD
# limit's, priced as the Cost page prices it (6: prices, tool prices, code execution hours,
# the rollup read and its settings, model names).
QUERIES = 1 + 2 + 6
