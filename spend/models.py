"""Spend limits, their thresholds, the alerts they fired and the deliveries of those alerts.

Once per period is a database fact, not a worker's memory: an ``Alert`` row is unique per
(threshold, period start), inserted with ``get_or_create`` under that constraint, and only
the insert that created it enqueues deliveries. Two workers, a restarted worker, late rows
or a rollup rebuild can evaluate the same period again; they find the row and send nothing.

A limit's scope is a set of nullable foreign keys (workspace, API key, account: the person
behind requests), at most one set, none meaning the whole organisation.
"""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from console.models import Account, ApiKey, Organization, Workspace

MIN_PERCENT, MAX_PERCENT = 1, 1000


class Limit(models.Model):
    """A spend (USD) or token limit per day, week or calendar month, in a chosen zone; or a
    level of the share of rate-limited requests in an hour (unit ``rate_limited``: ``amount``
    is the level in percent of the hour's requests, the period is always an hour)."""

    class Unit(models.TextChoices):
        USD = "usd", "USD"
        TOKENS = "tokens", "Tokens"
        RATE_LIMITED = "rate_limited", "Rate-limited share of requests (%)"

    class Period(models.TextChoices):
        HOUR = "hour", "Hour (rate-limited share only)"
        DAY = "day", "Day"
        WEEK = "week", "Week (Monday to Sunday)"
        MONTH = "month", "Calendar month"

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="spend_limits")
    name = models.CharField(max_length=200)
    workspace = models.ForeignKey(
        Workspace, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # A person (or service account): its usage in every workspace and through every key.
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    unit = models.CharField(max_length=16, choices=Unit.choices)
    # USD to the micro-dollar, or whole tokens (the form refuses a fraction of a token).
    amount = models.DecimalField(max_digits=24, decimal_places=6)
    period = models.CharField(max_length=8, choices=Period.choices)
    # The organisation has no zone of its own (people have theirs); the zone is part of
    # what a limit means, so it is stored on it and shown beside it.
    time_zone = models.CharField(max_length=64, default="UTC")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(workspace__isnull=True, api_key__isnull=True)
                | Q(workspace__isnull=True, account__isnull=True)
                | Q(api_key__isnull=True, account__isnull=True),
                name="spend_limit_one_scope",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="spend_limit_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def scope_label(self) -> str:
        if self.account_id:
            return f"User {self.account.label}"
        if self.api_key_id:
            return f"API key {self.api_key.name}"
        if self.workspace_id:
            return f"Workspace {self.workspace.name}"
        return "Organisation"


class WebhookEndpoint(models.Model):
    """Where alerts are POSTed, signed with this endpoint's secret (shown once)."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    url = models.URLField(max_length=2000)
    # Kept in clear because every delivery is signed with it; shown only when created.
    secret = models.CharField(max_length=128)
    slack = models.BooleanField(default=False, help_text="Send a Slack-compatible body.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Threshold(models.Model):
    """A share of a limit (1-1000 %) that, once reached in a period, alerts its recipients.

    A forecast threshold is reached by the period-end projection (the Cost page's: spend so
    far x period length / time elapsed) instead of the spend itself, before the spend is.
    """

    class Kind(models.TextChoices):
        SPEND = "spend", "Spend"
        FORECAST = "forecast", "Forecast"

    limit = models.ForeignKey(Limit, on_delete=models.CASCADE, related_name="thresholds")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.SPEND)
    percent = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(MIN_PERCENT), MaxValueValidator(MAX_PERCENT)]
    )
    emails = models.JSONField(default=list, blank=True)
    endpoints = models.ManyToManyField(WebhookEndpoint, blank=True, related_name="+")
    # Raised by an edit after which the threshold is no longer reached in the current period
    # (a raised limit): the alert of the earlier arming stays, and reaching the threshold
    # again in the same period is a new alert (``spend.services.update_limit``).
    arming = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["kind", "percent"]
        constraints = [
            models.UniqueConstraint(
                fields=["limit", "kind", "percent"], name="one_threshold_per_percent"
            ),
            models.CheckConstraint(
                condition=Q(percent__gte=MIN_PERCENT, percent__lte=MAX_PERCENT),
                name="threshold_percent_range",
            ),
        ]


class Alert(models.Model):
    """A threshold reached in one period: exists at most once per (threshold, period).

    ``spend`` is what reached it: the spend, or for a forecast threshold the projection.
    """

    threshold = models.ForeignKey(Threshold, on_delete=models.CASCADE, related_name="alerts")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    # The threshold's arming this alert belongs to: one alert per arming and period.
    arming = models.PositiveIntegerField(default=0)
    spend = models.DecimalField(max_digits=30, decimal_places=12)
    # Found only after its period had ended (a late row, a rebuild): said so in the message.
    late = models.BooleanField(default=False)
    # Recorded by an edit that moved the period (period or zone changed) while the threshold
    # was already alerted and still reached: stands for that alert in the new period, so
    # nothing is sent again; it has no deliveries.
    carried = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["threshold", "period_start", "arming"],
                name="one_alert_per_threshold_period",
            ),
        ]


class Delivery(models.Model):
    """One alert sent to one recipient (an email address or a webhook endpoint)."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    email = models.EmailField(blank=True)
    endpoint = models.ForeignKey(
        WebhookEndpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # Sent with every attempt, so a receiver can drop a repeat of one it already handled.
    idempotency_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # When the pending delivery is next due. A retry waiting in a worker that died is
    # redelivered by Redis only after its visibility timeout (an hour); the evaluation sweep
    # re-enqueues a delivery overdue by SPEND_DELIVERY_STALL_SECONDS instead.
    next_attempt_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "deliveries"
