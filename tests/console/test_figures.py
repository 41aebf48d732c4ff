"""Counts in short form on the report cards (console/templatetags/figures.py)."""

import pytest

from console.templatetags.figures import is_short, short_count


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (0, "0"),
        (27_175, "27,175"),
        (999_999, "999,999"),  # whole below a million: it fits a card
        (1_000_000, "1.0M"),
        (1_049_999, "1.0M"),
        (1_050_000, "1.1M"),  # half up, in integers
        (419_715_587, "419.7M"),
        (999_949_999, "999.9M"),
        (999_950_000, "1.0B"),  # never "1000.0M"
        (44_706_427_285, "44.7B"),
        (1_234_567_890_123, "1.2T"),
        (-2_500_000, "-2.5M"),
    ],
)
def test_short_count(count, shown):
    assert short_count(count) == shown
    assert is_short(count) == (shown != f"{count:,}")
