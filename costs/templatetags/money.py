"""Show exact USD amounts: 2 decimals on the page, every digit on hover and in exports."""

from decimal import ROUND_HALF_UP, Decimal

from django import template

register = template.Library()
CENT = Decimal("0.01")


def usd_cents(amount: Decimal) -> Decimal:
    """The amount rounded to the cent, half up, as the page shows it."""
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)


def usd_full(amount: Decimal) -> str:
    """Every significant digit, at least to the cent: 0.0000021 stays 0.0000021."""
    value = Decimal(amount)
    text = format(value.normalize(), "f") if value else "0"
    if "." not in text:
        return text + ".00"
    whole, frac = text.split(".")
    return f"{whole}.{frac.ljust(2, '0')}"


@register.filter
def usd(amount) -> str:
    """$1,234.57"""
    if amount is None:
        return "unpriced"
    cents = usd_cents(amount)
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents):,.2f}"


@register.filter
def usd_exact(amount) -> str:
    """$1234.5678901234 (every digit, for the title attribute)."""
    if amount is None:
        return "No price for this model"
    return f"${usd_full(amount)}"


@register.filter
def percent(fraction) -> str:
    """+12.3% / -4.0%"""
    value = (Decimal(fraction) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{'+' if value > 0 else ''}{value}%"


@register.filter
def hours(ms) -> str:
    """Milliseconds as container-hours with 2 decimals."""
    return f"{Decimal(ms) / Decimal(3_600_000):,.2f}"
