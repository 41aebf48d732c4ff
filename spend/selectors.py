"""Reads for spend limits: a limit's periods, its spend in one, and the Limits page's rows."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, Prefetch

from console import timeslice
from costs import selectors as costs
from costs.pricing import TOKEN_TYPES
from spend.models import Alert, Delivery, Limit, Threshold, WebhookEndpoint
from usage.selectors import Scope, usage_by_period

TOKEN_FIELDS = tuple(t.field for t in TOKEN_TYPES)
ZERO = Decimal(0)
PICO = Decimal("1e-12")


@dataclass(frozen=True)
class Window:
    """One period of a limit: ``[start, end)`` in UTC, its local start's date as a label."""

    start: dt.datetime
    end: dt.datetime
    label: str


def window(limit: Limit, at: dt.datetime) -> Window:
    """The limit's period holding the instant ``at``, bounded by local midnights."""
    zone = ZoneInfo(limit.time_zone)
    if limit.period == Limit.Period.HOUR:
        # The local clock's hour (in +05:30 it starts at half past in UTC); the fold of a
        # repeated hour is kept, so both 01:00s of a fall-back night are hours of their own.
        hour = at.astimezone(zone).replace(minute=0, second=0, microsecond=0)
        start = hour.astimezone(dt.UTC)
        return Window(start, start + dt.timedelta(hours=1), f"{hour:%Y-%m-%d %H:00}")
    local = at.astimezone(zone).date()
    if limit.period == Limit.Period.MONTH:
        start, end = timeslice.month_bounds(local.year, local.month, zone)
        return Window(start, end, f"{local:%Y-%m}")
    if limit.period == Limit.Period.WEEK:
        first = local - dt.timedelta(days=local.weekday())
        start = timeslice.local_midnight(first, zone)
        end = timeslice.local_midnight(first + dt.timedelta(days=7), zone)
        return Window(start, end, f"week of {first.isoformat()}")
    start, end = timeslice.day_bounds(local, zone)
    return Window(start, end, local.isoformat())


def previous_window(limit: Limit, current: Window) -> Window:
    """The period just before ``current``."""
    return window(limit, current.start - dt.timedelta(minutes=1))


def scope_of(limit: Limit) -> Scope:
    """The usage a limit counts: its organisation's, narrowed to its workspace, key or account."""
    return Scope(
        org_id=limit.org_id,
        workspace_id=limit.workspace_id,
        api_key_id=limit.api_key_id,
        account_ids=(limit.account_id,) if limit.account_id else None,
    )


def spend(limit: Limit, start: dt.datetime, end: dt.datetime) -> Decimal:
    """Exact spend of the limit's scope in ``[start, end)``: USD or whole tokens; for a
    rate-limited alert, the share of rate-limited requests in percent (to 1e-12)."""
    scope = scope_of(limit)
    if limit.unit == Limit.Unit.RATE_LIMITED:
        return rate_limited_share(scope, start, end)
    if limit.unit == Limit.Unit.TOKENS:
        rows = usage_by_period(scope, [Window(start, end, "")])
        return Decimal(sum(row[f] for row in rows for f in TOKEN_FIELDS))
    return usd_between(limit.org, scope, start, end)


def usd_between(org, scope: Scope, start: dt.datetime, end: dt.datetime) -> Decimal:
    """What the Cost page charges for ``scope`` in ``[start, end)``, to the 1e-12 USD.

    The Cost page's own pricing (``costs.selectors.price_periods``) over one span.
    """
    priced = costs.price_periods(org, [start, end], scope, "model")
    lines, _chart = priced.lines_and_chart(1)
    return sum((line.amount for line in lines.values() if line.amount is not None), ZERO)


def rate_limited_share(scope: Scope, start: dt.datetime, end: dt.datetime) -> Decimal:
    """Rate-limited requests x 100 / requests of ``scope`` in ``[start, end)`` (0 without
    requests), to 1e-12 percent."""
    columns = ("requests", "rate_limited_requests")
    rows = usage_by_period(scope, [Window(start, end, "")], columns=columns)
    requests = sum(row["requests"] for row in rows)
    if not requests:
        return ZERO
    limited = sum(row["rate_limited_requests"] for row in rows)
    return (Decimal(limited) * 100 / requests).quantize(PICO)


def projection(period: Window, spent: Decimal, now: dt.datetime) -> Decimal | None:
    """The period-end projection, as the Cost page makes it: spend so far x length / elapsed
    (to 1e-12; None outside the period or at its very start)."""
    if not period.start <= now < period.end:
        return None
    elapsed = Decimal(int((now - period.start).total_seconds()))
    if elapsed <= 0:
        return None
    length = Decimal(int((period.end - period.start).total_seconds()))
    return (spent * length / elapsed).quantize(PICO)


def limits_of(org) -> list[Limit]:
    """The organisation's limits with scope, thresholds and their endpoints (3 queries)."""
    return list(
        Limit.objects.filter(org=org)
        .select_related("workspace", "api_key", "account")
        .prefetch_related(
            Prefetch(
                "thresholds",
                queryset=Threshold.objects.annotate(alert_count=Count("alerts")).prefetch_related(
                    "endpoints"
                ),
            )
        )
    )


def status(limit: Limit, now: dt.datetime) -> dict:
    """A limit's current period, spend, share, remaining amount and projection."""
    current = window(limit, now)
    spent = spend(limit, current.start, current.end)
    return {
        "limit": limit,
        "window": current,
        "spend": spent,
        "share": spent * 100 / limit.amount,
        "remaining": max(limit.amount - spent, ZERO),
        "projection": None
        if limit.unit == Limit.Unit.RATE_LIMITED
        else projection(current, spent, now),
    }


def recent_alerts(org, count: int = 50) -> list[Alert]:
    """The organisation's latest alerts with their limit and deliveries."""
    return list(
        Alert.objects.filter(threshold__limit__org=org)
        .select_related("threshold__limit")
        .prefetch_related(
            Prefetch("deliveries", queryset=Delivery.objects.select_related("endpoint"))
        )[:count]
    )


def endpoints_of(org) -> list[WebhookEndpoint]:
    return list(WebhookEndpoint.objects.filter(org=org))


def marks(org, *, workspace=None, api_key=None, account=None, now: dt.datetime) -> list[dict]:
    """``status`` of each USD or token limit whose scope is exactly this selection (all None:
    the organisation's), by name: the report pages' mark of a selection with a limit."""
    limits = Limit.objects.filter(
        org=org,
        workspace=workspace,
        api_key=api_key,
        account=account,
        unit__in=(Limit.Unit.USD, Limit.Unit.TOKENS),
    ).select_related("org")
    return [status(limit, now) for limit in limits]
