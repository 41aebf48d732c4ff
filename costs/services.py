"""Writes on the price catalogue; each one is recorded in the organisation's audit log."""

from decimal import Decimal

from django.db import transaction

from console.services import record_audit
from costs.models import ModelPrice, ToolPrice
from usage.models import ServiceTier

RATE_FIELDS = [
    "input_per_mtok",
    "output_per_mtok",
    "cache_write_5m_per_mtok",
    "cache_write_1h_per_mtok",
    "cache_read_per_mtok",
]
HALF = Decimal("0.5")


def _snapshot(price) -> dict:
    fields = ["effective_from", "source"]
    if isinstance(price, ModelPrice):
        fields += ["model_pattern", "service_tier", "context_window", *RATE_FIELDS]
    else:
        fields += ["kind", "unit_price", "free_hours_per_month"]
    values = {}
    for name in fields:
        value = getattr(price, name)
        values[name] = format(value.normalize(), "f") if isinstance(value, Decimal) else str(value)
    return values


@transaction.atomic
def add_model_price(org, actor, price: ModelPrice, *, also_batch: bool = False) -> list:
    """Save an organisation's token price (and its batch half, if asked); audit each."""
    price.org, price.created_by = org, actor
    prices = [price]
    if also_batch and price.service_tier == ServiceTier.STANDARD:
        batch = ModelPrice(
            org=org,
            created_by=actor,
            model_pattern=price.model_pattern,
            service_tier=ServiceTier.BATCH,
            context_window=price.context_window,
            effective_from=price.effective_from,
            source=(price.source + "; " if price.source else "") + "batch: 50% of standard",
            **{name: getattr(price, name) * HALF for name in RATE_FIELDS},
        )
        prices.append(batch)
    for p in prices:
        p.save()
        record_audit(org, actor, "price.add", target=str(p), after=_snapshot(p))
    return prices


@transaction.atomic
def add_tool_price(org, actor, price: ToolPrice) -> ToolPrice:
    """Save an organisation's web-search or code-execution price; audit it."""
    price.org, price.created_by = org, actor
    price.save()
    record_audit(org, actor, "price.add", target=str(price), after=_snapshot(price))
    return price
