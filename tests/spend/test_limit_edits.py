"""Editing a limit: audited, and no alert sent twice for a threshold still reached; a raised
limit's threshold alerts again only when reached again."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Role
from console.models import AuditEntry
from spend import services
from spend.models import Alert, Limit, Threshold
from tests import factories
from tests.spend.builders import token_limit, tokens_at, utc

DAY = utc(2026, 12, 2)


def at(hours: float) -> dt.datetime:
    return DAY + dt.timedelta(hours=hours)


@pytest.fixture
def evaluate(django_capture_on_commit_callbacks, mailoutbox):
    """Evaluate every limit at ``now``, run the deliveries; return the (percent, period
    start, arming) of the alerts this run created, and the emails sent."""

    def run(now):
        seen = set(Alert.objects.values_list("pk", flat=True))
        sent = len(mailoutbox)
        with django_capture_on_commit_callbacks(execute=True):
            services.evaluate_all(now)
        created = Alert.objects.exclude(pk__in=seen).order_by("id")
        return [(a.threshold.percent, a.period_start, a.arming) for a in created], [
            m.body for m in mailoutbox[sent:]
        ]

    return run


def edit(limit: Limit, now, **changes):
    """``update_limit`` with the limit's current settings and ``changes``."""
    limit.refresh_from_db()
    thresholds = [t.percent for t in limit.thresholds.filter(kind=Threshold.Kind.SPEND)]
    settings = {
        "name": limit.name,
        "unit": limit.unit,
        "amount": limit.amount,
        "period": limit.period,
        "time_zone": limit.time_zone,
        "thresholds": thresholds,
        "emails": ["ops@acme.test"],
        "endpoints": [],
    }
    return services.update_limit(limit, now=now, **{**settings, **changes})


def test_an_edit_that_keeps_a_threshold_reached_sends_nothing_again(org, evaluate):
    limit = token_limit(org, amount=1000, thresholds=(50, 100))
    tokens_at(org, at(1), 600)
    assert evaluate(at(2))[0] == [(50, DAY, 0)]
    # Lowered to 1,100 and renamed: 600 is still over 50 % (550); 100 % is not reached.
    edit(limit, at(3), amount=Decimal(1100), name="Tokens (raised)")
    assert evaluate(at(4)) == ([], [])
    # Lowered to 600: 100 % is now reached, and fires once; 50 % stays sent.
    edit(limit, at(5), amount=Decimal(600))
    alerts, mails = evaluate(at(6))
    assert alerts == [(100, DAY, 0)]
    assert len(mails) == 1 and "Tokens (raised)" in mails[0]
    assert evaluate(at(7)) == ([], [])


def test_a_raised_limit_fires_again_only_when_reached_again(org, evaluate):
    limit = token_limit(org, amount=1000, thresholds=(50,))
    tokens_at(org, at(1), 500)
    assert evaluate(at(2))[0] == [(50, DAY, 0)]
    edit(limit, at(3), amount=Decimal(2000))  # 500 is 25 %: re-armed
    assert Threshold.objects.get(limit=limit).arming == 1
    assert evaluate(at(4)) == ([], [])
    tokens_at(org, at(5), 499)  # 999: still under 50 % of 2,000
    assert evaluate(at(6)) == ([], [])
    tokens_at(org, at(7), 1)  # 1,000: reached again
    alerts, mails = evaluate(at(8))
    assert alerts == [(50, DAY, 1)]
    assert "50% of the day limit of 2,000 tokens reached, 1,000 tokens" in mails[0]
    assert evaluate(at(9)) == ([], [])
    # The first alert is kept, beside the second: two alerts of one threshold in one period.
    assert list(Alert.objects.order_by("id").values_list("arming", "spend")) == [
        (0, Decimal(500)),
        (1, Decimal(1000)),
    ]


def test_an_edit_twice_in_a_row_does_not_rearm_twice(org, evaluate):
    limit = token_limit(org, amount=1000, thresholds=(50,))
    tokens_at(org, at(1), 500)
    evaluate(at(2))
    edit(limit, at(3), amount=Decimal(2000))
    edit(limit, at(3.5), amount=Decimal(3000))  # not alerted in arming 1: nothing to re-arm
    assert Threshold.objects.get(limit=limit).arming == 1
    edit(limit, at(3.6), amount=Decimal(1000))  # reached again, by the lower limit
    assert evaluate(at(4))[0] == [(50, DAY, 1)]


def test_a_new_period_or_zone_keeps_a_reached_threshold_sent(org, evaluate):
    limit = token_limit(org, amount=1000, thresholds=(50, 90))
    tokens_at(org, at(1), 600)
    assert evaluate(at(2))[0] == [(50, DAY, 0)]
    # The same day in Tokyo (+09:00) runs from 15:00 UTC the day before: still 600 tokens.
    edit(limit, at(3), time_zone="Asia/Tokyo")
    tokyo = utc(2026, 12, 1, 15)
    carried = Alert.objects.get(period_start=tokyo)
    assert (carried.carried, carried.deliveries.count(), carried.spend) == (True, 0, 600)
    assert evaluate(at(4)) == ([], [])
    # A month in UTC, 1,000 tokens: 600 is 60 %, still past 50 %.
    edit(limit, at(5), time_zone="UTC", period="month")
    assert Alert.objects.filter(period_start=utc(2026, 12, 1), carried=True).count() == 1
    assert evaluate(at(6)) == ([], [])
    tokens_at(org, at(7), 300)  # 900: 90 % is reached for the first time
    assert evaluate(at(8))[0] == [(90, utc(2026, 12, 1), 0)]


def test_an_added_threshold_fires_when_reached_and_a_removed_one_goes(org, evaluate):
    limit = token_limit(org, amount=1000, thresholds=(50,))
    tokens_at(org, at(1), 800)
    assert evaluate(at(2))[0] == [(50, DAY, 0)]
    edit(limit, at(3), thresholds=[75])
    assert list(limit.thresholds.values_list("percent", flat=True)) == [75]
    assert evaluate(at(4))[0] == [(75, DAY, 0)]


def test_recipients_change_with_the_edit(org, evaluate):
    limit = token_limit(org, amount=1000, thresholds=(50, 100))
    tokens_at(org, at(1), 500)
    evaluate(at(2))
    edit(limit, at(3), emails=["cfo@acme.test"])
    assert [t.emails for t in limit.thresholds.all()] == [["cfo@acme.test"]] * 2
    tokens_at(org, at(4), 500)
    alerts, _mails = evaluate(at(5))
    assert alerts == [(100, DAY, 0)]
    alert = Alert.objects.get(threshold__percent=100)
    assert [d.email for d in alert.deliveries.all()] == ["cfo@acme.test"]


# The page ----------------------------------------------------------------------------------

FORM = {
    "name": "Budget",
    "scope": "org",
    "unit": "tokens",
    "amount": "2000",
    "period": "day",
    "time_zone": "UTC",
    "thresholds": "50, 80",
    "emails": "ops@acme.test",
}


def test_billing_edits_a_limit_and_the_audit_log_says_what_changed(client, org):
    user = factories.make_member(org, Role.BILLING)
    client.force_login(user)
    limit = token_limit(org, name="Budget", amount=1000, thresholds=(50, 100))
    url = reverse("spend:edit", args=[limit.pk])
    page = client.get(url)
    assert page.status_code == 200
    initial = page.context["form"].initial
    assert (initial["amount"], initial["thresholds"], initial["emails"]) == (
        "1000",
        "50, 100",
        "ops@acme.test",
    )
    response = client.post(url, FORM)
    assert response.status_code == 302
    limit.refresh_from_db()
    assert (limit.amount, limit.unit) == (Decimal(2000), "tokens")
    assert sorted(limit.thresholds.values_list("percent", flat=True)) == [50, 80]
    entry = AuditEntry.objects.get(action="spend_limit.update")
    assert (entry.actor, entry.target) == (user, "Budget")
    assert (entry.before["amount"], entry.after["amount"]) == ("1000", "2000")
    assert [t["percent"] for t in entry.before["thresholds"]] == [50, 100]
    assert [t["percent"] for t in entry.after["thresholds"]] == [50, 80]


def test_bad_edit_is_refused_with_the_field_named(client, org):
    client.force_login(factories.make_member(org, Role.ADMIN))
    limit = token_limit(org, amount=1000)
    response = client.post(reverse("spend:edit", args=[limit.pk]), {**FORM, "thresholds": "0"})
    assert response.status_code == 400
    assert "thresholds" in response.context["form"].errors
    limit.refresh_from_db()
    assert limit.amount == 1000
    assert not AuditEntry.objects.filter(action="spend_limit.update").exists()


def test_edit_is_for_admins_and_billing_of_the_organisation(client, org, other_org):
    limit = token_limit(org, amount=1000)
    url = reverse("spend:edit", args=[limit.pk])
    assert client.get(url).status_code == 302  # to the login page
    client.force_login(factories.make_member(org, Role.DEVELOPER))
    assert client.get(url).status_code == 403
    client.force_login(factories.make_member(other_org, Role.ADMIN))
    assert client.get(url).status_code == 404
    assert client.post(url, FORM).status_code == 404
    limit.refresh_from_db()
    assert limit.amount == 1000
