"""A limit on an account (person): its usage in every workspace and through every key, and
no one else's; priced as the Cost page prices that person's usage."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.urls import reverse

from accounts.models import Role
from adminapi.services import create_admin_key
from console.models import Account
from costs.selectors import cost_report
from spend import selectors, services
from spend.models import Alert, Limit
from tests import factories
from tests.costs.builders import raw, series_for, store_and_roll_up, utc
from tests.spend.builders import token_limit


@pytest.fixture
def people(org):
    ada = Account.objects.create(org=org, external_id="u_ada", name="Ada")
    bob = Account.objects.create(org=org, external_id="u_bob", name="Bob")
    research = factories.make_workspace(org, "Research", "wrkspc_r")
    key = factories.make_api_key(org, research)
    rows = [
        raw(series_for(org, account=ada), utc(2026, 12, 2, 1), output_tokens=300),
        raw(series_for(org, workspace=research, account=ada, api_key=key), utc(2026, 12, 2, 2),
            uncached_input_tokens=200_000),
        raw(series_for(org, account=bob), utc(2026, 12, 2, 3), output_tokens=5_000),
        raw(series_for(org), utc(2026, 12, 2, 4), output_tokens=7_000),  # no account
        # The day before: in the month, not in the day.
        raw(series_for(org, account=ada), utc(2026, 12, 1, 23, 59), output_tokens=1),
    ]  # fmt: skip
    store_and_roll_up(org, rows)
    return ada, bob


def test_tokens_of_an_account_in_every_workspace(org, people):
    ada, _bob = people
    limit = token_limit(org, amount=1000, account=ada)
    assert selectors.spend(limit, utc(2026, 12, 2), utc(2026, 12, 3)) == 300 + 200_000
    assert limit.scope_label == "User Ada (u_ada)"


def test_usd_of_an_account_is_the_cost_pages(org, people):
    ada, _bob = people
    limit = services.create_limit(
        org, None, name="Ada", unit="usd", amount=Decimal(1), period="month",
        time_zone="UTC", thresholds=[50], emails=[], endpoints=[], account=ada,
    )  # fmt: skip
    spent = selectors.spend(limit, utc(2026, 12, 1), utc(2027, 1, 1))
    page = cost_report(org, zone=ZoneInfo("UTC"), year=2026, month=12, account_ids=(ada.pk,))
    assert spent == page.totals.total
    # Sonnet 4.5: 301 output tokens at $15 and 200,000 input tokens at $3 a million.
    assert spent == Decimal(301 * 15 + 200_000 * 3) / 1_000_000


def test_an_account_limit_alerts_on_its_usage_only(org, people, django_capture_on_commit_callbacks):
    ada, bob = people
    token_limit(org, name="Bob", amount=10_000, account=bob, thresholds=(50, 100))
    with django_capture_on_commit_callbacks(execute=True):
        services.evaluate_all(utc(2026, 12, 2, 5))
    # Bob used 5,000 of 10,000: 50 % only, whatever Ada and usage without an account used.
    assert list(Alert.objects.values_list("threshold__percent", flat=True)) == [50]


def test_the_form_takes_an_account_of_the_organisation_only(client, org, other_org, people):
    ada, _bob = people
    theirs = Account.objects.create(org=other_org, external_id="u_eve", name="Eve")
    client.force_login(factories.make_member(org, Role.BILLING))
    form = {
        "name": "Ada", "unit": "tokens", "amount": "1000", "period": "day",
        "time_zone": "UTC", "thresholds": "100", "emails": "",
    }  # fmt: skip
    page = client.get(reverse("spend:page")).content.decode()
    assert f'value="account:{ada.pk}"' in page and "User: Ada (u_ada)" in page
    response = client.post(reverse("spend:create"), {**form, "scope": f"account:{theirs.pk}"})
    assert response.status_code == 400
    assert "scope" in response.context["form"].errors
    response = client.post(reverse("spend:create"), {**form, "scope": f"account:{ada.pk}"})
    assert response.status_code == 302
    assert Limit.objects.get(org=org).account == ada


def test_read_endpoint_names_the_account(client, org, people):
    ada, _bob = people
    token_limit(org, name="Ada", amount=1000, account=ada)
    cache.clear()
    secret = create_admin_key(org, "gateway")[1]
    response = client.get(reverse("spend_api:limits"), headers={"x-api-key": secret})
    (row,) = response.json()["data"]
    assert row["scope"] == {"workspace_id": None, "api_key_id": None, "account_id": "u_ada"}
    today = dt.datetime.now(dt.UTC).date()
    assert row["period_starts_at"].startswith(today.isoformat())
