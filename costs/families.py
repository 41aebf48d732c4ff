"""The Prices page's token prices grouped by model family, as a person looks a price up.

``price_families(prices)`` takes the catalogue's ``ModelPrice`` rows (any order) and returns
``[{"name": "Claude Opus", "patterns": [{"pattern": str, "rows": [ModelPrice, ...]}, ...]}]``:
the families Opus, Sonnet, Haiku, then any other (an organisation's own pattern such as
``gpt-4o*``) under "Other models"; within a family the newest model first (a pattern's
version digits, compared as numbers), and within a pattern the catalogue's own order.
"""

import re

FAMILIES = ("Opus", "Sonnet", "Haiku")
OTHER = "Other models"
_WORD = re.compile(r"[a-z]+|\d+")


def family_of(pattern: str) -> str:
    """The family a model pattern belongs to: "Claude Opus", ..., or "Other models"."""
    words = _WORD.findall(pattern.lower())
    for family in FAMILIES:
        if family.lower() in words:
            return f"Claude {family}"
    return OTHER


def _newest_first(pattern: str) -> tuple:
    # claude-opus-4-7* before claude-opus-4-20250514 before claude-3-opus*: the version's
    # leading numbers (4, 7), with a date-like number (20250514) as a minor version of 0.
    numbers = [int(n) for n in re.findall(r"\d+", pattern)]
    version = ([n if n < 1000 else 0 for n in numbers] + [0, 0])[:2]
    return (-version[0], -version[1], pattern)


def price_families(prices) -> list[dict]:
    """The token prices grouped by family and model pattern (see the module docstring)."""
    by_pattern: dict[str, list] = {}
    for price in prices:
        by_pattern.setdefault(price.model_pattern, []).append(price)
    order = [f"Claude {f}" for f in FAMILIES] + [OTHER]
    families: dict[str, list] = {name: [] for name in order}
    for pattern in sorted(by_pattern, key=_newest_first):
        families[family_of(pattern)].append({"pattern": pattern, "rows": by_pattern[pattern]})
    return [{"name": name, "patterns": patterns} for name, patterns in families.items() if patterns]
