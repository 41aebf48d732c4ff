"""The Limits page's forms (bad input named by field) and the read endpoint for gateways."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from adminapi.services import create_admin_key
from spend import services
from spend.models import Limit, WebhookEndpoint
from tests import factories
from tests.spend.builders import token_limit, tokens_at

GOOD = {
    "name": "Budget",
    "scope": "org",
    "unit": "usd",
    "amount": "250.50",
    "period": "month",
    "time_zone": "Europe/Paris",
    "thresholds": "50, 80%, 100",
    "emails": "a@acme.test\nb@acme.test",
}


@pytest.fixture
def billing(client, org):
    client.force_login(factories.make_member(org, Role.BILLING))
    return client


def test_billing_sets_a_limit_with_thresholds(billing, org):
    response = billing.post(reverse("spend:create"), {**GOOD, "forecast": "on"})
    assert response.status_code == 302
    limit = Limit.objects.get(org=org)
    assert (limit.amount, limit.period, limit.time_zone) == (
        Decimal("250.50"),
        "month",
        "Europe/Paris",
    )
    recipients = ["a@acme.test", "b@acme.test"]
    assert [(t.kind, t.percent, t.emails) for t in limit.thresholds.all()] == [
        ("forecast", 100, recipients),
        *(("spend", p, recipients) for p in (50, 80, 100)),
    ]
    assert "Budget" in billing.get(reverse("spend:page")).content.decode()


def test_page_shows_spend_share_and_alerts(billing, org):
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    limit = token_limit(org, name="daily", amount=1000, thresholds=(25,))
    tokens_at(org, today, 400)
    services.evaluate_all()
    response = billing.get(reverse("spend:page"))
    row = response.context["rows"][0]
    assert (row["spend"], row["share"], row["remaining"]) == (400, 40, 600)
    body = response.content.decode()
    assert f'data-testid="limit-{limit.pk}"' in body
    assert "40.0%" in body
    assert "25% (1)" in body  # one alert sent for the 25% threshold


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("amount", "1e3", "Enter a positive amount"),
        ("amount", "12.1234567", "At most 6 decimal places"),
        ("amount", "ten", "Enter an amount"),
        ("amount", "-5", "Enter a positive amount"),
        ("amount", "NaN", "Enter a positive amount"),
        ("thresholds", "0, 50", "Each threshold must be 1% to 1000%"),
        ("thresholds", "1001", "Each threshold must be 1% to 1000%"),
        ("thresholds", "fifty", "Enter whole percentages"),
        ("period", "year", "Select a valid choice"),
        ("time_zone", "Mars/Olympus", "Choose a time zone"),
        ("scope", "workspace:999999", "Choose the organisation"),
        ("emails", "not-an-address", "is not an email address"),
    ],
)
def test_bad_input_is_refused_naming_the_field(billing, org, field, value, message):
    response = billing.post(reverse("spend:create"), {**GOOD, field: value})
    assert response.status_code == 400
    form = response.context["form"]
    assert list(form.errors) == [field]
    assert message in form.errors[field][0]
    assert not Limit.objects.exists()


def test_a_token_limit_is_whole_tokens(billing):
    response = billing.post(reverse("spend:create"), {**GOOD, "unit": "tokens", "amount": "1.5"})
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["amount"]


def test_a_workspace_of_another_organisation_is_refused(billing, other_org):
    other = factories.make_workspace(other_org, "Theirs", "wrkspc_theirs")
    response = billing.post(reverse("spend:create"), {**GOOD, "scope": f"workspace:{other.pk}"})
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["scope"]


def test_webhook_secret_is_shown_once(billing, org):
    data = {"name": "ops", "url": "https://hooks.example.test/a", "slack": "on"}
    response = billing.post(reverse("spend:create_endpoint"), data)
    endpoint = WebhookEndpoint.objects.get(org=org)
    assert endpoint.slack
    assert endpoint.secret in response.content.decode()
    assert endpoint.secret not in billing.get(reverse("spend:page")).content.decode()


@pytest.mark.parametrize(
    "url", ["ftp://hooks.example.test/a", "file:///etc/passwd", "javascript:x"]
)
def test_only_http_webhooks(billing, url):
    response = billing.post(reverse("spend:create_endpoint"), {"name": "x", "url": url})
    assert response.status_code == 400
    assert list(response.context["endpoint_form"].errors) == ["url"]


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "http://10.1.2.3/", "http://[::1]/"])
def test_private_webhooks_are_refused_in_production(billing, settings, url):
    settings.SPEND_WEBHOOK_ALLOW_PRIVATE = False
    response = billing.post(reverse("spend:create_endpoint"), {"name": "x", "url": url})
    assert response.status_code == 400
    assert "private or loopback" in response.context["endpoint_form"].errors["url"][0]
    settings.SPEND_WEBHOOK_ALLOW_PRIVATE = True
    response = billing.post(reverse("spend:create_endpoint"), {"name": "x", "url": url})
    assert response.status_code == 200


@pytest.fixture
def api(client, org):
    cache.clear()  # the Admin API's rate counters
    secret = create_admin_key(org, "gateway")[1]
    return lambda **headers: client.get(
        reverse("spend_api:limits"), headers=headers or {"x-api-key": secret}
    )


def test_read_endpoint_lists_spend_and_remaining(api, org, other_org):
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    token_limit(org, name="daily", amount=1000)
    token_limit(other_org, name="theirs", amount=10)
    tokens_at(org, today, 400)
    tokens_at(org, today - dt.timedelta(minutes=1), 999)  # yesterday's
    response = api()
    assert response.status_code == 200
    assert response.json()["data"] == [
        {
            "id": Limit.objects.get(name="daily").pk,
            "name": "daily",
            "scope": {"workspace_id": None, "api_key_id": None, "account_id": None},
            "unit": "tokens",
            "amount": "1000",
            "period": "day",
            "time_zone": "UTC",
            "period_starts_at": today.isoformat(),
            "period_ends_at": (today + dt.timedelta(days=1)).isoformat(),
            "spend": "400",
            "remaining": "600",
            "exceeded": False,
        }
    ]


def test_read_endpoint_answers_errors_as_the_admin_api(api):
    response = api(**{"x-api-key": "sk-ant-admin01-wrong"})
    assert response.status_code == 401
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "authentication_error"
    assert response["request-id"] == body["request_id"]


def test_each_threshold_can_have_its_own_recipients(billing, org):
    ops = services.create_endpoint(
        org, name="Ops hook", url="https://hooks.example.test/a", slack=False
    )
    data = {
        **GOOD,
        "thresholds": "50, 60, 80, 100",
        "forecast": "on",
        "per_threshold": "100%: cfo@acme.test, Ops hook\nforecast: Ops hook\n\n80:",
    }
    assert billing.post(reverse("spend:create"), data).status_code == 302
    limit = Limit.objects.get(org=org)
    got = {
        (t.kind, t.percent): (t.emails, [e.name for e in t.endpoints.all()])
        for t in limit.thresholds.all()
    }
    assert got == {
        ("spend", 50): (["a@acme.test", "b@acme.test"], []),
        ("spend", 60): (["a@acme.test", "b@acme.test"], []),
        ("spend", 80): ([], []),
        ("spend", 100): (["cfo@acme.test"], ["Ops hook"]),
        ("forecast", 100): ([], ["Ops hook"]),
    }
    # The edit page shows them as they are, and saving it unchanged keeps them.
    initial = billing.get(reverse("spend:edit", args=[limit.pk])).context["form"].initial
    assert initial["emails"] == "a@acme.test\nb@acme.test"
    assert initial["per_threshold"] == "forecast: Ops hook\n80: \n100: cfo@acme.test, Ops hook"
    assert ops.pk not in initial["endpoints"]
    posted = {k: v for k, v in initial.items() if k != "forecast" or v}
    posted["forecast"] = "on"
    assert billing.post(reverse("spend:edit", args=[limit.pk]), posted).status_code == 302
    again = {
        (t.kind, t.percent): (t.emails, [e.name for e in t.endpoints.all()])
        for t in Limit.objects.get(org=org).thresholds.all()
    }
    assert again == got


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("90: a@acme.test", "90% is not one of the thresholds"),
        ("forecast: a@acme.test", "A forecast line needs the forecast alert on"),
        ("a@acme.test", "Line 1: start with a threshold and a colon"),
        ("50: a@acme.test\n50%: b@acme.test", "Line 2: 50 has a line already"),
        ("100: a@acme.test, Nobody", "Line 1: 'Nobody' is neither an email address nor a webhook"),
    ],
)
def test_bad_recipients_per_threshold_are_refused_naming_the_field(billing, value, message):
    response = billing.post(reverse("spend:create"), {**GOOD, "per_threshold": value})
    assert response.status_code == 400
    form = response.context["form"]
    assert list(form.errors) == ["per_threshold"]
    assert message in form.errors["per_threshold"][0]
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not Limit.objects.exists()


def test_an_endpoint_of_another_organisation_is_not_a_recipient(billing, other_org):
    services.create_endpoint(
        other_org, name="Theirs", url="https://hooks.example.test/t", slack=False
    )
    response = billing.post(reverse("spend:create"), {**GOOD, "per_threshold": "50: Theirs"})
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["per_threshold"]


def test_an_endpoint_name_has_no_comma(billing):
    data = {"name": "ops, eu", "url": "https://hooks.example.test/a"}
    response = billing.post(reverse("spend:create_endpoint"), data)
    assert response.status_code == 400
    assert list(response.context["endpoint_form"].errors) == ["name"]


@pytest.mark.parametrize("what", ["limit", "endpoint"])
def test_deleting_asks_first_and_acts_only_on_the_confirmation(billing, org, what):
    from console.models import AuditEntry

    if what == "limit":
        target = token_limit(org, name="daily")
        url, model = reverse("spend:delete", args=[target.pk]), Limit
        question, action = "Delete the limit daily?", "spend_limit.delete"
    else:
        target = services.create_endpoint(
            org, name="ops", url="https://h.example.test/", slack=False
        )
        url, model = reverse("spend:delete_endpoint", args=[target.pk]), WebhookEndpoint
        question, action = "Delete the webhook endpoint ops?", "webhook_endpoint.delete"
    assert f'href="{url}"' in billing.get(reverse("spend:page")).content.decode()
    for response in (billing.get(url), billing.post(url), billing.post(url, {"confirm": "no"})):
        assert response.status_code == 200
        body = response.content.decode()
        assert 'data-testid="confirm"' in body and question in body
        assert 'name="csrfmiddlewaretoken"' in body and f'action="{url}"' in body
    assert model.objects.filter(pk=target.pk).exists()
    assert not AuditEntry.objects.filter(action=action).exists()
    response = billing.post(url, {"confirm": "yes"})
    assert response.status_code == 302 and response["Location"] == reverse("spend:page")
    assert not model.objects.filter(pk=target.pk).exists()
    assert AuditEntry.objects.get(action=action).target == target.name
    assert billing.put(url).status_code == 405


@pytest.mark.parametrize("what", ["limit", "endpoint"])
def test_deleting_is_refused_to_others(client, org, other_org, what):
    def target_of(o):
        if what == "limit":
            return reverse("spend:delete", args=[token_limit(o, name=f"l-{o.slug}").pk])
        endpoint = services.create_endpoint(
            o, name="ops", url="https://h.example.test/", slack=False
        )
        return reverse("spend:delete_endpoint", args=[endpoint.pk])

    mine, theirs = target_of(org), target_of(other_org)
    counts = (Limit.objects.count(), WebhookEndpoint.objects.count())
    response = client.post(mine, {"confirm": "yes"})
    assert response.status_code == 302 and "login" in response["Location"]
    client.force_login(factories.make_member(org, Role.DEVELOPER))
    assert client.get(mine).status_code == 403
    assert client.post(mine, {"confirm": "yes"}).status_code == 403
    client.force_login(factories.make_member(org, Role.ADMIN))
    assert client.get(theirs).status_code == 404
    assert client.post(theirs, {"confirm": "yes"}).status_code == 404
    assert (Limit.objects.count(), WebhookEndpoint.objects.count()) == counts


def test_a_forged_cross_site_confirmation_is_refused(org):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(factories.make_member(org, Role.ADMIN))
    limit = token_limit(org, name="daily")
    response = client.post(reverse("spend:delete", args=[limit.pk]), {"confirm": "yes"})
    assert response.status_code == 403
    assert Limit.objects.filter(pk=limit.pk).exists()
