"""Writes for spend limits: creating them, evaluating them, and delivering their alerts.

What fires when: every evaluation (a beat task, each ``SPEND_EVALUATION_INTERVAL_SECONDS``)
reads each limit's spend in its current period and, where a threshold is reached, inserts the
``Alert`` for (threshold, period start) unless it exists. Only the insert that created the
row enqueues the deliveries, after it commits. The period before the current one is read too
while one of its thresholds has no alert: usage that arrives or is rolled up after its period
ended, and pushes that period over a threshold, gives one alert labelled late.
"""

import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from console import outbound
from spend import selectors
from spend.models import Alert, Delivery, Limit, Threshold, WebhookEndpoint

SIGNATURE_HEADER = "Meterboard-Signature"
DELIVERY_HEADER = "Meterboard-Delivery"
WEBHOOK_TIMEOUT_SECONDS = 10
EVENT_TYPES = {
    Threshold.Kind.SPEND: "spend.threshold_reached",
    Threshold.Kind.FORECAST: "spend.forecast_reached",
}
RATE_LIMITED_EVENT = "spend.rate_limited_share_reached"


class DeliveryError(Exception):
    """A delivery attempt that did not succeed; the task retries it with backoff."""


@transaction.atomic
def create_limit(
    org,
    user,
    *,
    thresholds: list[int],
    emails,
    endpoints,
    forecast: bool = False,
    per_threshold: dict | None = None,
    **fields,
) -> Limit:
    """A limit with one threshold per percentage (and, with ``forecast``, one on the
    projection reaching 100%), each alerting ``emails`` and ``endpoints``, or the
    (emails, endpoints) that ``per_threshold`` gives its (kind, percent)."""
    limit = Limit.objects.create(org=org, created_by=user, **fields)
    kinds = [(Threshold.Kind.SPEND, p) for p in thresholds]
    if forecast:
        kinds.append((Threshold.Kind.FORECAST, 100))
    for kind, percent in kinds:
        to, hooks = (per_threshold or {}).get((kind, percent), (emails, endpoints))
        threshold = Threshold.objects.create(
            limit=limit, kind=kind, percent=percent, emails=list(to)
        )
        threshold.endpoints.set(hooks)
    return limit


@transaction.atomic
def update_limit(
    limit: Limit,
    *,
    thresholds: list[int],
    emails,
    endpoints,
    forecast: bool = False,
    per_threshold: dict | None = None,
    now: dt.datetime | None = None,
    **fields,
) -> Limit:
    """Change a limit in place (name, scope, unit, amount, period, zone, thresholds and their
    recipients) without sending again an alert already sent for the current period.

    The rule, for each threshold kept by the edit (same kind and percentage) that had alerted
    in the current period before the edit:

    - still reached under the new settings: it stays alerted, nothing is sent. If the edit
      moved the current period (another period or zone), a *carried* alert row with no
      deliveries stands for it in the new period.
    - no longer reached (a raised limit): it is re-armed (``arming`` + 1), so it alerts again
      in this period only when the spend reaches it again.

    A threshold the edit adds is new: it alerts when reached, already reached included.
    Removed thresholds are deleted with their alerts; recipients (``per_threshold`` as in
    ``create_limit``) apply from the next alert.
    """
    now = now or timezone.now()
    limit = Limit.objects.select_for_update().get(pk=limit.pk)
    before = selectors.window(limit, now)
    alerted = {
        (t.kind, t.percent)
        for t in limit.thresholds.filter(
            alerts__period_start=before.start, alerts__arming=F("arming")
        )
    }
    fields.setdefault("workspace", None)
    fields.setdefault("api_key", None)
    fields.setdefault("account", None)
    for name, value in fields.items():
        setattr(limit, name, value)
    limit.save()

    wanted = [(Threshold.Kind.SPEND, p) for p in thresholds]
    if forecast:
        wanted.append((Threshold.Kind.FORECAST, 100))
    existing = {(t.kind, t.percent): t for t in limit.thresholds.all()}
    Threshold.objects.filter(pk__in=[t.pk for k, t in existing.items() if k not in wanted]).delete()
    kept = []
    for kind, percent in wanted:
        threshold = existing.get((kind, percent))
        if threshold is None:
            threshold = Threshold.objects.create(limit=limit, kind=kind, percent=percent)
        elif (kind, percent) in alerted:
            kept.append(threshold)
        to, hooks = (per_threshold or {}).get((kind, percent), (emails, endpoints))
        threshold.emails = list(to)
        threshold.save(update_fields=["emails"])
        threshold.endpoints.set(hooks)

    after = selectors.window(limit, now)
    if kept:
        spent = selectors.spend(limit, after.start, after.end)
        projected = selectors.projection(after, spent, now)
    for threshold in kept:
        value = projected if threshold.kind == Threshold.Kind.FORECAST else spent
        if value is None or value * 100 < limit.amount * threshold.percent:
            threshold.arming += 1
            threshold.save(update_fields=["arming"])
        elif after.start != before.start:
            Alert.objects.get_or_create(
                threshold=threshold,
                period_start=after.start,
                arming=threshold.arming,
                defaults={"period_end": after.end, "spend": value, "carried": True},
            )
    return limit


def create_endpoint(org, *, name: str, url: str, slack: bool) -> WebhookEndpoint:
    """A webhook endpoint with a fresh signing secret (the caller shows it once)."""
    return WebhookEndpoint.objects.create(
        org=org, name=name, url=url, slack=slack, secret="whsec_" + secrets.token_urlsafe(32)
    )


def evaluate_all(now: dt.datetime | None = None) -> int:
    """Evaluate every limit; returns how many alerts this run created."""
    now = now or timezone.now()
    limits = Limit.objects.select_related(
        "org", "workspace", "api_key", "account"
    ).prefetch_related("thresholds__endpoints")
    return sum(len(evaluate(limit, now)) for limit in limits)


def evaluate(limit: Limit, now: dt.datetime) -> list[Alert]:
    """Fire the thresholds the limit's spend has reached in its current and previous period."""
    thresholds = list(limit.thresholds.all())
    if not thresholds:
        return []
    current = selectors.window(limit, now)
    previous = selectors.previous_window(limit, current)
    # An alert of the current period counts for the threshold's current arming only (an edit
    # that raised the limit re-arms it); any alert of the period before counts.
    arming = {t.pk: t.arming for t in thresholds}
    fired = {
        (threshold_id, start)
        for threshold_id, start, armed in Alert.objects.filter(
            threshold__in=thresholds, period_start__in=[previous.start, current.start]
        ).values_list("threshold_id", "period_start", "arming")
        if start != current.start or armed == arming[threshold_id]
    }
    # The period before is re-read for late usage only if the limit already watched it: a
    # new limit says nothing about the periods before it existed.
    periods = [(previous, True), (current, False)]
    if limit.created_at >= previous.end:
        periods = periods[1:]
    created = []
    for period, late in periods:
        # A forecast is about the future: a past period has none to make.
        waiting = [
            t
            for t in thresholds
            if (t.pk, period.start) not in fired
            and not (late and t.kind == Threshold.Kind.FORECAST)
        ]
        if not waiting:
            continue
        spent = selectors.spend(limit, period.start, period.end)
        projected = selectors.projection(period, spent, now)
        for threshold in waiting:
            value = projected if threshold.kind == Threshold.Kind.FORECAST else spent
            if value is not None and value * 100 >= limit.amount * threshold.percent:
                alert = _fire(threshold, period, value, late)
                if alert is not None:
                    created.append(alert)
    return created


def _fire(threshold: Threshold, period, spent, late: bool) -> Alert | None:
    """Insert the alert of (threshold, period) and its deliveries, unless it exists."""
    with transaction.atomic():
        alert, created = Alert.objects.get_or_create(
            threshold=threshold,
            period_start=period.start,
            arming=threshold.arming,
            defaults={"period_end": period.end, "spend": spent, "late": late},
        )
        if not created:
            return None
        deliveries = [
            Delivery(alert=alert, channel=Delivery.Channel.EMAIL, email=email)
            for email in threshold.emails
        ] + [
            Delivery(alert=alert, channel=Delivery.Channel.WEBHOOK, endpoint=endpoint)
            for endpoint in threshold.endpoints.all()
        ]
        Delivery.objects.bulk_create(deliveries)
        ids = [d.pk for d in Delivery.objects.filter(alert=alert)]
        transaction.on_commit(lambda: _enqueue(ids))
    return alert


def _enqueue(ids: list[int]) -> None:
    from spend import tasks  # tasks import this module

    for pk in ids:
        tasks.deliver.delay(pk)


def message(alert: Alert) -> str:
    """The alert as one line a person reads (email subject and body, Slack text)."""
    limit = alert.threshold.limit
    zone = limit.time_zone
    start = alert.period_start.astimezone(selectors.ZoneInfo(zone))
    if limit.unit == Limit.Unit.RATE_LIMITED:
        text = (
            f"{limit.name} ({limit.scope_label}): {_amount(alert.spend, limit)}% of requests "
            f"were rate-limited in the hour from {start:%Y-%m-%d %H:%M} {zone}, "
            f"{alert.threshold.percent}% of the alert level of {_amount(limit.amount, limit)}%."
        )
        return "LATE ALERT (found after the hour ended): " + text if alert.late else text
    unit = "USD" if limit.unit == Limit.Unit.USD else "tokens"
    if alert.threshold.kind == Threshold.Kind.FORECAST:
        return (
            f"{limit.name} ({limit.scope_label}): FORECAST: at this rate the period from "
            f"{start:%Y-%m-%d %H:%M} {zone} ends at {_amount(alert.spend, limit)} {unit}, "
            f"{alert.threshold.percent}% or more of the {limit.get_period_display().lower()} "
            f"limit of {_amount(limit.amount, limit)} {unit}."
        )
    text = (
        f"{limit.name} ({limit.scope_label}): {alert.threshold.percent}% of the "
        f"{limit.get_period_display().lower()} limit of {_amount(limit.amount, limit)} {unit} "
        f"reached, {_amount(alert.spend, limit)} {unit} in the period from "
        f"{start:%Y-%m-%d %H:%M} {zone}."
    )
    if alert.late:
        return "LATE ALERT (found after the period ended): " + text
    return text


def _amount(value, limit: Limit) -> str:
    if limit.unit == Limit.Unit.TOKENS:
        return f"{int(value):,}"
    return f"{value.quantize(selectors.Decimal('0.01')):,}"


def payload(delivery: Delivery) -> dict:
    """The JSON body of a webhook delivery (Slack's ``{"text"}`` when the endpoint asks)."""
    alert = delivery.alert
    text = message(alert)
    if delivery.endpoint.slack:
        return {"text": text}
    limit = alert.threshold.limit
    rate_limited = limit.unit == Limit.Unit.RATE_LIMITED
    return {
        "type": RATE_LIMITED_EVENT if rate_limited else EVENT_TYPES[alert.threshold.kind],
        "idempotency_id": str(delivery.idempotency_id),
        "alert_id": alert.pk,
        "late": alert.late,
        "text": text,
        "limit": {
            "id": limit.pk,
            "name": limit.name,
            "scope": limit.scope_label,
            "unit": limit.unit,
            "amount": str(limit.amount),
            "period": limit.period,
            "time_zone": limit.time_zone,
        },
        "threshold_percent": alert.threshold.percent,
        "threshold_kind": alert.threshold.kind,
        "period": {"start": alert.period_start.isoformat(), "end": alert.period_end.isoformat()},
        "spend": format(alert.spend.normalize(), "f"),
    }


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over ``"<timestamp>.<body>"``, hex; the header is ``t=<ts>,v1=<hex>``."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def check_webhook_url(url: str) -> None:
    """Refuse a URL that is not http(s), or (unless allowed) reaches a non-public address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("Only http:// and https:// URLs are accepted.")
    if not settings.SPEND_WEBHOOK_ALLOW_PRIVATE:
        outbound.check_public_host(parts.hostname, parts.port, "SPEND_WEBHOOK_ALLOW_PRIVATE")


def deliver(delivery_id: int) -> None:
    """One attempt at a delivery; raises DeliveryError (to retry) when it did not succeed.

    The row stays locked during the attempt, so a retry and a sweep that meet skip each
    other instead of sending twice.
    """
    failure = None
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related(
                "endpoint",
                "alert__threshold__limit__workspace",
                "alert__threshold__limit__api_key",
                "alert__threshold__limit__account",
            )
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != Delivery.Status.PENDING:
            return  # being attempted, deleted with its limit, already sent or given up
        delivery.attempts += 1
        try:
            if delivery.channel == Delivery.Channel.EMAIL:
                delivery.response = _send_email(delivery)
            else:
                delivery.response = _post_webhook(delivery)
            delivery.status = Delivery.Status.SENT
            delivery.sent_at = timezone.now()
        except DeliveryError as exc:
            delivery.response = str(exc)
            failure = exc
        delivery.response = delivery.response[:2000]
        delivery.save(update_fields=["attempts", "response", "status", "sent_at"])
    if failure is not None:
        raise failure


def retry_later(delivery_id: int, seconds: int) -> None:
    """Record when a failed delivery's retry is due."""
    due = timezone.now() + dt.timedelta(seconds=seconds)
    Delivery.objects.filter(pk=delivery_id).update(next_attempt_at=due)


def give_up(delivery_id: int) -> None:
    """Mark a delivery failed once its retries are spent."""
    Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING).update(
        status=Delivery.Status.FAILED
    )


def resume_stalled(now: dt.datetime | None = None) -> int:
    """Re-enqueue pending deliveries overdue by SPEND_DELIVERY_STALL_SECONDS (their retry
    was lost with a worker); returns how many. Each is claimed by a conditional update, so
    two sweeps never enqueue one twice."""
    now = now or timezone.now()
    overdue = now - dt.timedelta(seconds=settings.SPEND_DELIVERY_STALL_SECONDS)
    stalled = Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lt=overdue)
    claimed = []
    for pk, due in stalled.values_list("pk", "next_attempt_at"):
        if Delivery.objects.filter(pk=pk, next_attempt_at=due).update(next_attempt_at=now):
            claimed.append(pk)
    if claimed:
        transaction.on_commit(lambda: _enqueue(claimed))
    return len(claimed)


def _send_email(delivery: Delivery) -> str:
    text = message(delivery.alert)
    email = EmailMessage(
        subject=f"[Meterboard] {text[:150]}",
        body=text + f"\n\nDelivery id: {delivery.idempotency_id}\n",
        to=[delivery.email],
        headers={"X-Meterboard-Delivery": str(delivery.idempotency_id)},
    )
    try:
        email.send()
    except OSError as exc:  # smtplib's errors are OSErrors, as are refused connections
        raise DeliveryError(f"email: {exc}") from exc
    return "accepted by the mail server"


def _post_webhook(delivery: Delivery) -> str:
    endpoint = delivery.endpoint
    try:
        check_webhook_url(endpoint.url)
    except ValidationError as exc:
        raise DeliveryError(exc.messages[0]) from exc
    body = json.dumps(payload(delivery)).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(  # noqa: S310 - check_webhook_url allowed only http(s)
        endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Meterboard-Alerts",
            SIGNATURE_HEADER: f"t={timestamp},v1={signature(endpoint.secret, timestamp, body)}",
            DELIVERY_HEADER: str(delivery.idempotency_id),
        },
    )
    try:
        with outbound.opener.open(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            return f"{response.status} {response.read(500).decode(errors='replace')}"
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"{exc.code} {exc.read(500).decode(errors='replace')}") from exc
    except (OSError, ValueError) as exc:
        raise DeliveryError(f"webhook: {exc}") from exc
