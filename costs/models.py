"""The effective-dated price catalogue that turns usage buckets into money.

A price row is in force from its ``effective_from`` (a UTC date) until a newer row for the
same key takes over. Rows with no organisation are the shipped defaults (the public
Anthropic prices, written by a data migration); rows with an organisation are that
organisation's own prices, added by an Admin or Billing member, and win over the defaults
from their date. Cost is computed when a page is read (buckets x prices), so a new row
changes the cost of exactly the periods it covers and nothing is recomputed or stored.
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Coalesce

from console.models import Organization
from usage.models import ContextWindow, ServiceTier

# Per-million-token rates down to a millionth of a dollar: a rate of $0.015/MTok is
# $0.000000015 a token, and every token amount is then exact to 1e-12 USD.
RATE_DIGITS = {"max_digits": 16, "decimal_places": 6}
ZERO = Decimal("0")

pattern_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._:-]*\*?$",
    "Use a model id such as claude-sonnet-4-5-20250929, or a prefix ending in * such as "
    "claude-sonnet-4-5*.",
)


class ModelPrice(models.Model):
    """Token prices for the models matching a pattern, one tier and one context window."""

    org = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    model_pattern = models.CharField(
        max_length=128,
        validators=[pattern_validator],
        help_text="An exact model id, or a prefix ending in * (the longest match wins).",
    )
    service_tier = models.CharField(max_length=16, choices=ServiceTier.choices)
    context_window = models.CharField(max_length=16, choices=ContextWindow.choices)
    effective_from = models.DateField(help_text="UTC date from which this price is in force.")
    input_per_mtok = models.DecimalField(**RATE_DIGITS, validators=[MinValueValidator(ZERO)])
    output_per_mtok = models.DecimalField(**RATE_DIGITS, validators=[MinValueValidator(ZERO)])
    cache_write_5m_per_mtok = models.DecimalField(
        **RATE_DIGITS, validators=[MinValueValidator(ZERO)]
    )
    cache_write_1h_per_mtok = models.DecimalField(
        **RATE_DIGITS, validators=[MinValueValidator(ZERO)]
    )
    cache_read_per_mtok = models.DecimalField(**RATE_DIGITS, validators=[MinValueValidator(ZERO)])
    source = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model_pattern", "service_tier", "context_window", "effective_from"]
        constraints = [
            models.UniqueConstraint(
                Coalesce("org", 0),
                "model_pattern",
                "service_tier",
                "context_window",
                "effective_from",
                name="one_model_price_per_key_and_date",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.model_pattern} {self.service_tier} {self.context_window}"
            f" from {self.effective_from}"
        )


class ToolPrice(models.Model):
    """The price of a server tool: web search per 1,000 requests, code execution per hour."""

    class Kind(models.TextChoices):
        WEB_SEARCH = "web_search", "Web search (USD per 1,000 searches)"
        CODE_EXECUTION = "code_execution", "Code execution (USD per container-hour)"

    org = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    effective_from = models.DateField(help_text="UTC date from which this price is in force.")
    unit_price = models.DecimalField(**RATE_DIGITS, validators=[MinValueValidator(ZERO)])
    free_hours_per_month = models.DecimalField(
        max_digits=12,
        decimal_places=3,
        default=ZERO,
        validators=[MinValueValidator(ZERO)],
        help_text="Code execution only: free container-hours per organisation per UTC month.",
    )
    source = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "effective_from"]
        constraints = [
            models.UniqueConstraint(
                Coalesce("org", 0),
                "kind",
                "effective_from",
                name="one_tool_price_per_kind_and_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} from {self.effective_from}"

    def clean(self):
        if self.kind == self.Kind.WEB_SEARCH and self.free_hours_per_month:
            raise ValidationError({"free_hours_per_month": "Web search has no free allowance."})
