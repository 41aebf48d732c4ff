"""Alerts on the real path: PostgreSQL, Redis, two Celery worker processes, a real SMTP
server and a live webhook receiver that is down at first and comes back.

Run them with, for example:

    METERBOARD_MODE=dev DATABASE_URL=postgres://postgres@127.0.0.1:5432/mb_spend \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/9 .venv/bin/pytest -m worker tests/spend

They skip without PostgreSQL or a broker, and fail instead when CI=true.
"""

import datetime as dt
import time

import pytest
from django.utils import timezone

from spend import services, tasks
from spend.models import Alert, Delivery
from tests.spend.builders import token_limit, tokens_at
from tests.spend.receivers import Smtp, Webhook
from tests.workers import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.usefixtures("real_worker_path")]


def _ticked_until(sent: int) -> bool:
    """Whether ``sent`` deliveries are sent; if not, a beat tick (at most one a second)."""
    if Delivery.objects.filter(status="sent").count() >= sent:
        return True
    now = time.monotonic()
    if now - _ticked_until.last >= 1:
        _ticked_until.last = now
        tasks.evaluate_limits.delay()
    return False


_ticked_until.last = 0.0


def test_two_workers_send_each_alert_once_and_a_down_receiver_gets_it_later(org, workers):
    receiver = Webhook()
    with Smtp() as smtp:
        endpoint = services.create_endpoint(org, name="ops", url=receiver.url, slack=False)
        receiver.secret = endpoint.secret
        token_limit(org, amount=100, thresholds=(50, 100), endpoints=[endpoint])
        now = timezone.now()
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        tokens_at(org, today, 120)
        env = {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp.port),
            "EMAIL_USE_TLS": "false",
            "SPEND_DELIVERY_BACKOFF_SECONDS": "1",
            "SPEND_DELIVERY_BACKOFF_MAX_SECONDS": "2",
            "SPEND_DELIVERY_MAX_RETRIES": "1000",
            "SPEND_DELIVERY_STALL_SECONDS": "3",
        }
        w1, _ = workers.start("w1", **env)
        workers.start("w2", **env)
        for _ in range(6):  # beat ticks that pile up: both workers evaluate at once
            tasks.evaluate_limits.delay()
        wait_for(lambda: len(smtp.messages) >= 2, "two alert emails")
        wait_for(
            lambda: Delivery.objects.filter(channel="webhook", attempts__gte=2).count() == 2,
            "webhook retries while the receiver is down",
        )
        assert Alert.objects.count() == 2
        assert receiver.received == []

        # A worker dies and comes back; the evaluations it runs find nothing new to send.
        workers.kill(w1)
        workers.start("w3", **env)
        for _ in range(4):
            tasks.evaluate_limits.delay()

        receiver.up()
        try:
            # The killed worker may have held a retry (Redis hands it back only after an hour);
            # the evaluations beat would run resume it.
            wait_for(lambda: _ticked_until(4), "every delivery sent")
            # A late row: yesterday's period now crosses both thresholds, once each.
            if timezone.now().date() == now.date():
                tokens_at(org, today - dt.timedelta(minutes=1), 150)
                for _ in range(4):
                    tasks.evaluate_limits.delay()
                wait_for(lambda: len(smtp.messages) >= 4, "two late alert emails")
                wait_for(lambda: _ticked_until(8), "late deliveries")
            time.sleep(3)  # anything extra would have arrived by now
        finally:
            receiver.down()

        subjects = sorted(message["Subject"] for _to, message in smtp.messages)
        late = [s for s in subjects if "LATE ALERT" in s]
        assert len(subjects) == 4
        assert len(late) == 2
        assert all(to == ["ops@acme.test"] for to, _m in smtp.messages)
        ids = [delivery_id for delivery_id, _body in receiver.received]
        assert len(ids) == len(set(ids)) == 4
        assert receiver.refused == []
        assert sorted((b["threshold_percent"], b["late"]) for _i, b in receiver.received) == [
            (50, False),
            (50, True),
            (100, False),
            (100, True),
        ]
        assert Alert.objects.count() == 4
