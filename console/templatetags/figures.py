"""Counts on a report's cards in a console's short form: 44.7B, 419.7M; exact below them."""

from django import template

register = template.Library()

# From the largest unit down; a count under the smallest one is shown whole.
UNITS = ((10**12, "T"), (10**9, "B"), (10**6, "M"))
SHORT_FROM = UNITS[-1][0]


@register.filter
def short_count(value) -> str:
    """44706427285 → "44.7B"; 999960000 → "1.0B" (never "1000.0M"); 27175 → "27,175".

    Rounded half up in tenths with integers, so the figure never depends on float rounding.
    """
    number = int(value)
    size = abs(number)
    for index, (unit, suffix) in enumerate(UNITS):
        if size < unit:
            continue
        tenths = (size * 10 + unit // 2) // unit
        if tenths >= 10_000 and index > 0:  # 999.96M rounds to 1000.0M: say 1.0B
            unit, suffix = UNITS[index - 1]
            tenths = (size * 10 + unit // 2) // unit
        sign = "-" if number < 0 else ""
        return f"{sign}{tenths // 10:,}.{tenths % 10}{suffix}"
    return f"{number:,}"


@register.filter
def is_short(value) -> bool:
    """Whether ``short_count`` shortens the count (so the exact one is shown too)."""
    return abs(int(value)) >= SHORT_FROM
