"""The shipped default prices: Anthropic's public prices (org = NULL).

Source: Anthropic platform docs, "Pricing" page, April 2026 copy (summarised in
/work/shared/reference/anthropic-public-facts.md and in the README's "Prices" section).

Effective dates: that copy does not say since when each price holds, so every default is
in force from 2024-03-04 (the Claude 3 launch, before any model listed here existed).
Earlier price history (for example, earlier code-execution allowances) is not recorded;
an organisation that needs it adds dated prices on the Prices page.

Rates are the documented figures themselves (not recomputed from multipliers: Claude
Haiku 3's cache prices are rounded on the page, $0.30 and $0.03, not 1.25x and 0.1x).
Batch rows are exactly half of the standard rows, cache rates included (the batch discount
stacks with the cache multipliers). No priority rows: priority-tier usage is priced like
standard unless a priority price is added. Long-context (200k-1M) rows exist only for
Sonnet 4 and 4.5; other models' long requests fall back to their 0-200k rates.
"""

from datetime import date
from decimal import Decimal

from django.db import migrations

EFFECTIVE = date(2024, 3, 4)
SOURCE = "Anthropic docs 'Pricing', April 2026 copy"

# (patterns, input, 5m cache write, 1h cache write, cache read, output), USD per MTok.
STANDARD = [
    (("claude-opus-4-5*", "claude-opus-4-6*", "claude-opus-4-7*"), "5", "6.25", "10", "0.50", "25"),
    (
        ("claude-opus-4-20250514", "claude-opus-4-0*", "claude-opus-4-1*", "claude-3-opus*"),
        "15", "18.75", "30", "1.50", "75",
    ),
    (
        (
            "claude-3-7-sonnet*",
            "claude-sonnet-4-20250514",
            "claude-sonnet-4-0*",
            "claude-sonnet-4-5*",
            "claude-sonnet-4-6*",
        ),
        "3", "3.75", "6", "0.30", "15",
    ),
    (("claude-haiku-4-5*",), "1", "1.25", "2", "0.10", "5"),
    (("claude-3-5-haiku*",), "0.80", "1", "1.60", "0.08", "4"),
    (("claude-3-haiku*",), "0.25", "0.30", "0.50", "0.03", "1.25"),
]
# Sonnet 4 / 4.5 with the 1M-context beta, when a request's input exceeds 200k tokens.
LONG_CONTEXT = [
    (
        ("claude-sonnet-4-20250514", "claude-sonnet-4-0*", "claude-sonnet-4-5*"),
        "6", "7.50", "12", "0.60", "22.50",
    ),
]
HALF = Decimal("0.5")


def _rows():
    for window, table, note in (
        ("0-200k", STANDARD, ""),
        ("200k-1M", LONG_CONTEXT, "; long context (input over 200k tokens)"),
    ):
        for patterns, inp, w5, w1, read, out in table:
            rates = [Decimal(v) for v in (inp, w5, w1, read, out)]
            for pattern in patterns:
                yield pattern, "standard", window, rates, SOURCE + note
                yield (
                    pattern,
                    "batch",
                    window,
                    [r * HALF for r in rates],
                    SOURCE + note + "; Batch API 50% off, stacking with cache multipliers",
                )


def add_defaults(apps, schema_editor):
    ModelPrice = apps.get_model("costs", "ModelPrice")
    ToolPrice = apps.get_model("costs", "ToolPrice")
    ModelPrice.objects.bulk_create(
        ModelPrice(
            org=None,
            model_pattern=pattern,
            service_tier=tier,
            context_window=window,
            effective_from=EFFECTIVE,
            input_per_mtok=inp,
            cache_write_5m_per_mtok=w5,
            cache_write_1h_per_mtok=w1,
            cache_read_per_mtok=read,
            output_per_mtok=out,
            source=source,
        )
        for pattern, tier, window, (inp, w5, w1, read, out), source in _rows()
    )
    ToolPrice.objects.bulk_create(
        [
            ToolPrice(
                org=None,
                kind="web_search",
                effective_from=EFFECTIVE,
                unit_price=Decimal("10"),
                source=SOURCE + ": $10 per 1,000 searches (failed searches are not billed)",
            ),
            ToolPrice(
                org=None,
                kind="code_execution",
                effective_from=EFFECTIVE,
                unit_price=Decimal("0.05"),
                free_hours_per_month=Decimal("1550"),
                source=SOURCE + ": $0.05 per container-hour after 1,550 free hours per "
                "organisation per month (earlier docs differed; not recorded)",
            ),
        ]
    )


def remove_defaults(apps, schema_editor):
    apps.get_model("costs", "ModelPrice").objects.filter(org=None).delete()
    apps.get_model("costs", "ToolPrice").objects.filter(org=None).delete()


class Migration(migrations.Migration):
    dependencies = [("costs", "0001_initial")]

    operations = [migrations.RunPython(add_defaults, remove_defaults)]
