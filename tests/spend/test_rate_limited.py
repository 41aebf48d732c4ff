"""The rate-limited share alert: the share of an hour's requests that got a 429, at or above
a level, alerted once per hour that reaches it, through the same deliveries as limits."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Role
from spend import selectors, services
from spend.models import Alert, Delivery, Limit
from tests import factories
from tests.costs.builders import raw, series_for, store_and_roll_up, utc


def requests_at(org, at: dt.datetime, total: int, limited: int, **series) -> None:
    """``total`` requests at ``at`` of which ``limited`` got a 429, stored and rolled up."""
    s = series_for(org, **series)
    rows = [raw(s, at, status_code=429, rate_limit_type="requests") for _ in range(limited)]
    rows += [raw(s, at, output_tokens=1) for _ in range(total - limited)]
    store_and_roll_up(org, rows)


def share_alert(org, level="10", time_zone="UTC", **kw) -> Limit:
    limit = services.create_limit(
        org, None, name=kw.pop("name", "429s"), unit="rate_limited", amount=Decimal(level),
        period="hour", time_zone=time_zone, thresholds=[100], emails=["oncall@acme.test"],
        endpoints=kw.pop("endpoints", []), **kw,
    )  # fmt: skip
    Limit.objects.filter(pk=limit.pk).update(created_at=utc(2026, 1, 1))
    return limit


@pytest.fixture
def evaluate(django_capture_on_commit_callbacks, mailoutbox):
    """Evaluate at ``now``, run the deliveries; the (hour start, late, share) of the alerts
    this run created."""

    def run(now):
        seen = set(Alert.objects.values_list("pk", flat=True))
        with django_capture_on_commit_callbacks(execute=True):
            services.evaluate_all(now)
        created = Alert.objects.exclude(pk__in=seen).order_by("id")
        return [(a.period_start, a.late, a.spend) for a in created]

    return run


def test_an_hour_that_reaches_the_level_alerts_once(org, evaluate, mailoutbox):
    share_alert(org, level="10")
    hour = utc(2026, 12, 2, 9)
    requests_at(org, hour + dt.timedelta(minutes=5), total=11, limited=1)  # 9.09 %
    assert evaluate(hour + dt.timedelta(minutes=10)) == []
    requests_at(org, hour + dt.timedelta(minutes=20), total=9, limited=1)  # 2 of 20: 10 %
    assert evaluate(hour + dt.timedelta(minutes=25)) == [(hour, False, Decimal(10))]
    requests_at(org, hour + dt.timedelta(minutes=30), total=10, limited=10)  # 12 of 30
    assert evaluate(hour + dt.timedelta(minutes=35)) == []  # once per hour
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["oncall@acme.test"]
    assert "10.00% of requests were rate-limited in the hour from 2026-12-02 09:00 UTC" in (
        mailoutbox[0].body
    )
    # The next hour starts clean: one 429 out of two is 50 %, a new alert.
    requests_at(org, hour + dt.timedelta(minutes=61), total=2, limited=1)
    assert evaluate(hour + dt.timedelta(minutes=62)) == [
        (hour + dt.timedelta(hours=1), False, Decimal(50))
    ]


def test_shares_are_counted_in_the_limits_scope(org, evaluate):
    research = factories.make_workspace(org, "Research", "wrkspc_r")
    share_alert(org, level="50", workspace=research)
    hour = utc(2026, 12, 2, 9)
    requests_at(org, hour, total=10, limited=10)  # the default workspace: not watched
    requests_at(org, hour, total=10, limited=4, workspace=research)  # 40 %
    assert evaluate(hour + dt.timedelta(minutes=1)) == []
    requests_at(org, hour + dt.timedelta(minutes=2), total=2, limited=2, workspace=research)
    assert evaluate(hour + dt.timedelta(minutes=3)) == [(hour, False, Decimal(50))]


def test_an_hour_reached_by_late_rows_alerts_once_as_late(org, evaluate, mailoutbox):
    share_alert(org, level="25")
    hour = utc(2026, 12, 2, 9)
    requests_at(org, hour + dt.timedelta(minutes=59), total=4, limited=0)
    assert evaluate(hour + dt.timedelta(minutes=59, seconds=30)) == []
    # Rows of 09:59 arrive at 10:01: the hour that ended reached 2 of 6 = 33.33 %.
    requests_at(org, hour + dt.timedelta(minutes=59), total=2, limited=2)
    later = hour + dt.timedelta(minutes=61)
    assert evaluate(later) == [(hour, True, Decimal("33.333333333333"))]
    assert evaluate(later + dt.timedelta(minutes=1)) == []
    assert mailoutbox[0].body.startswith("LATE ALERT (found after the hour ended)")


def test_hours_of_a_half_hour_zone_start_at_half_past_utc(org, evaluate):
    share_alert(org, level="50", time_zone="Asia/Kolkata")  # +05:30
    limit = Limit.objects.get()
    window = selectors.window(limit, utc(2026, 12, 2, 9, 40))
    assert (window.start, window.end) == (utc(2026, 12, 2, 9, 30), utc(2026, 12, 2, 10, 30))
    requests_at(org, utc(2026, 12, 2, 9, 29), total=1, limited=1)  # the local hour before
    requests_at(org, utc(2026, 12, 2, 9, 30), total=3, limited=1)
    assert evaluate(utc(2026, 12, 2, 9, 45)) == [(utc(2026, 12, 2, 8, 30), True, Decimal(100))]
    requests_at(org, utc(2026, 12, 2, 10, 29), total=1, limited=1)  # 2 of 4 in 09:30-10:30
    assert evaluate(utc(2026, 12, 2, 10, 29, 30)) == [(window.start, False, Decimal(50))]


def test_a_webhook_says_what_kind_of_alert_it_is(org):
    endpoint = services.create_endpoint(org, name="hook", url="https://hooks.test/", slack=False)
    share_alert(org, level="10", endpoints=[endpoint])
    requests_at(org, utc(2026, 12, 2, 9), total=1, limited=1)
    services.evaluate_all(utc(2026, 12, 2, 9, 1))  # deliveries wait for a commit: none here
    delivery = Delivery.objects.get(channel=Delivery.Channel.WEBHOOK)
    body = json.loads(json.dumps(services.payload(delivery)))
    assert body["type"] == "spend.rate_limited_share_reached"
    assert (body["limit"]["unit"], body["spend"]) == ("rate_limited", "100")


FORM = {
    "name": "429s",
    "scope": "org",
    "unit": "rate_limited",
    "amount": "5",
    "period": "hour",
    "time_zone": "UTC",
    "thresholds": "100",
    "emails": "oncall@acme.test",
}


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"period": "day"}, "period"),
        ({"amount": "100.5"}, "amount"),
        ({"forecast": "on"}, "forecast"),
        ({"unit": "usd"}, "period"),  # a spend limit per hour
    ],
)
def test_bad_rate_limited_alerts_are_refused_with_the_field_named(client, org, changes, field):
    client.force_login(factories.make_member(org, Role.ADMIN))
    response = client.post(reverse("spend:create"), {**FORM, **changes})
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert not Limit.objects.exists()


def test_the_page_lists_a_rate_limited_alert(client, org):
    client.force_login(factories.make_member(org, Role.BILLING))
    assert client.post(reverse("spend:create"), FORM).status_code == 302
    limit = Limit.objects.get()
    assert (limit.unit, limit.period, limit.amount) == ("rate_limited", "hour", Decimal(5))
    requests_at(org, dt.datetime.now(dt.UTC), total=4, limited=1)
    page = client.get(reverse("spend:page")).content.decode()
    assert "5% rate-limited" in page
    assert "25%" in page or "25.00%" in page
