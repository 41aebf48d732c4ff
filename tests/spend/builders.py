"""Limits and usage for spend tests: raw rows rolled up for real, limits made by the service."""

import datetime as dt
from decimal import Decimal

from spend import services
from spend.models import Limit
from tests.costs.builders import raw, series_for, store_and_roll_up, utc


def token_limit(org, *, amount=1000, period="day", time_zone="UTC", thresholds=(50, 100), **kw):
    """A token limit, set up (``created_at``) long before the periods the tests use."""
    created_at = kw.pop("created_at", utc(2026, 1, 1))
    limit = services.create_limit(
        org,
        None,
        name=kw.pop("name", "Tokens"),
        unit="tokens",
        amount=Decimal(amount),
        period=period,
        time_zone=time_zone,
        thresholds=list(thresholds),
        emails=kw.pop("emails", ["ops@acme.test"]),
        endpoints=kw.pop("endpoints", []),
        **kw,
    )
    Limit.objects.filter(pk=limit.pk).update(created_at=created_at)
    limit.created_at = created_at
    return limit


def tokens_at(org, at: dt.datetime, tokens: int, **series):
    """``tokens`` output tokens used at ``at``, stored and rolled up."""
    return store_and_roll_up(org, [raw(series_for(org, **series), at, output_tokens=tokens)])


__all__ = ["series_for", "token_limit", "tokens_at", "utc"]
