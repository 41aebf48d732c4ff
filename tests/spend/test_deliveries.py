"""Deliveries in process: signed webhooks to a live receiver, Slack bodies, retries, email."""

import datetime as dt

import pytest
from django.core import mail

from spend import services, tasks
from spend.models import Delivery, Limit, WebhookEndpoint
from tests.spend.builders import token_limit, tokens_at, utc
from tests.spend.receivers import Webhook


@pytest.fixture
def receiver():
    hook = Webhook()
    yield hook
    hook.down()


def _limit_with_hook(org, receiver, slack=False):
    endpoint = services.create_endpoint(org, name="ops", url=receiver.url, slack=slack)
    receiver.secret = endpoint.secret
    token_limit(org, amount=100, thresholds=(100,), endpoints=[endpoint], emails=[])
    tokens_at(org, utc(2026, 12, 2, 1), 100)
    return endpoint


def test_webhook_is_signed_and_carries_its_idempotency_id(org, receiver, settings):
    settings.SPEND_DELIVERY_MAX_RETRIES = 0
    _limit_with_hook(org, receiver)
    receiver.up()
    services.evaluate_all(utc(2026, 12, 2, 2))
    delivery = Delivery.objects.get()
    services.deliver(delivery.pk)
    ((delivery_id, body),) = receiver.received
    assert delivery_id == str(delivery.idempotency_id) == body["idempotency_id"]
    assert body["type"] == "spend.threshold_reached"
    assert (body["threshold_percent"], body["spend"], body["late"]) == (100, "100", False)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response) == ("sent", 1, "200 ok")


def test_a_wrong_secret_is_refused_by_the_receiver(org, receiver):
    _limit_with_hook(org, receiver)
    receiver.secret = "whsec_other"
    receiver.up()
    services.evaluate_all(utc(2026, 12, 2, 2))
    with pytest.raises(services.DeliveryError, match="400"):
        services.deliver(Delivery.objects.get().pk)
    assert receiver.refused == ["bad signature"]


def test_slack_body_is_text_only(org, receiver):
    _limit_with_hook(org, receiver, slack=True)
    receiver.up()
    services.evaluate_all(utc(2026, 12, 2, 2))
    services.deliver(Delivery.objects.get().pk)
    ((_id, body),) = receiver.received
    assert list(body) == ["text"]
    assert body["text"].startswith("Tokens (Organisation): 100% of the day limit of 100 tokens")


def test_a_receiver_that_is_down_gets_the_delivery_when_it_comes_back(org, receiver):
    # Each attempt as the task makes it; the real worker's retries with backoff are in
    # test_alert_worker.py.
    _limit_with_hook(org, receiver)
    services.evaluate_all(utc(2026, 12, 2, 2))
    delivery = Delivery.objects.get()
    for _attempt in range(2):
        with pytest.raises(services.DeliveryError, match="refused"):
            services.deliver(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 2)
    assert "refused" in delivery.response.lower()
    receiver.up()
    services.deliver(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 3)
    assert len(receiver.received) == 1
    services.deliver(delivery.pk)  # a repeat of a sent delivery sends nothing
    assert len(receiver.received) == 1


def test_a_webhook_to_a_private_address_is_refused_at_delivery_in_production(
    org, receiver, settings
):
    _limit_with_hook(org, receiver)
    receiver.up()
    settings.SPEND_WEBHOOK_ALLOW_PRIVATE = False
    services.evaluate_all(utc(2026, 12, 2, 2))
    with pytest.raises(services.DeliveryError, match="private or loopback"):
        services.deliver(Delivery.objects.get().pk)
    assert receiver.received == []


def test_email_names_the_idempotency_id(org, django_capture_on_commit_callbacks):
    token_limit(org, amount=100, thresholds=(100,), emails=["ops@acme.test"])
    tokens_at(org, utc(2026, 12, 2, 1), 100)
    with django_capture_on_commit_callbacks(execute=True):
        services.evaluate_all(utc(2026, 12, 2, 2))
    delivery = Delivery.objects.get()
    (message,) = mail.outbox
    assert message.extra_headers["X-Meterboard-Delivery"] == str(delivery.idempotency_id)
    assert WebhookEndpoint.objects.count() == 0


def test_the_task_marks_a_delivery_failed_when_its_retries_are_spent(org, receiver, settings):
    settings.SPEND_DELIVERY_MAX_RETRIES = 3
    _limit_with_hook(org, receiver)
    services.evaluate_all(utc(2026, 12, 2, 2))
    delivery = Delivery.objects.get()
    tasks.deliver.apply(args=[delivery.pk], retries=3)  # the last retry, receiver down
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert "refused" in delivery.response.lower()


def test_a_delivery_of_a_deleted_limit_is_dropped(org, receiver):
    _limit_with_hook(org, receiver)
    receiver.up()
    services.evaluate_all(utc(2026, 12, 2, 2))
    pk = Delivery.objects.get().pk
    Limit.objects.all().delete()
    services.deliver(pk)
    assert receiver.received == []


def test_a_delivery_whose_retry_was_lost_is_resumed_once(
    org, receiver, settings, django_capture_on_commit_callbacks
):
    settings.SPEND_DELIVERY_STALL_SECONDS = 60
    _limit_with_hook(org, receiver)
    services.evaluate_all(utc(2026, 12, 2, 2))  # deliveries enqueued, and lost
    delivery = Delivery.objects.get()
    receiver.up()
    due = delivery.next_attempt_at
    with django_capture_on_commit_callbacks(execute=True):
        assert services.resume_stalled(due + dt.timedelta(seconds=59)) == 0
        assert services.resume_stalled(due + dt.timedelta(seconds=61)) == 1
        assert services.resume_stalled(due + dt.timedelta(seconds=62)) == 0  # claimed
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 1)
    assert len(receiver.received) == 1


def test_each_alert_goes_only_to_its_thresholds_recipients(
    org, receiver, settings, django_capture_on_commit_callbacks
):
    from tests.spend.receivers import Smtp

    endpoint = services.create_endpoint(org, name="cfo hook", url=receiver.url, slack=False)
    receiver.secret = endpoint.secret
    token_limit(
        org,
        amount=100,
        thresholds=(50, 100),
        emails=["team@acme.test"],
        per_threshold={("spend", 100): (["cfo@acme.test"], [endpoint])},
    )
    receiver.up()
    with Smtp() as smtp:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
        settings.EMAIL_USE_TLS = False
        tokens_at(org, utc(2026, 12, 2, 1), 60)
        with django_capture_on_commit_callbacks(execute=True):
            services.evaluate_all(utc(2026, 12, 2, 2))
        assert [(to, "50%" in m["Subject"]) for to, m in smtp.messages] == [
            (["team@acme.test"], True)
        ]
        assert receiver.received == []
        tokens_at(org, utc(2026, 12, 2, 3), 40)
        with django_capture_on_commit_callbacks(execute=True):
            services.evaluate_all(utc(2026, 12, 2, 4))
    assert [to for to, _m in smtp.messages] == [["team@acme.test"], ["cfo@acme.test"]]
    assert "100%" in smtp.messages[1][1]["Subject"]
    ((_id, body),) = receiver.received
    assert body["threshold_percent"] == 100
