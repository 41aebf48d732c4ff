"""The one CSV escaper, writer and file-name rule (OWASP's CSV Injection guidance)."""

import csv
import io
from decimal import Decimal

import pytest

from console.exports import ROWS_PER_CHUNK, cell, filename, stream

# Every character OWASP names as dangerous at the start of a cell.
TRIGGERS = ["=", "+", "-", "@", "\t", "\r", "\n"]
# Every place OWASP says a spreadsheet may start a new cell inside the text.
SPLITS = [",", ";", '"', "'", "\n", "\r", "\t"]


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_a_cell_starting_with_a_dangerous_character_reads_as_text(trigger):
    assert cell(f"{trigger}1+2") == f"'{trigger}1+2"


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("trigger", TRIGGERS)
def test_a_dangerous_character_after_a_separator_or_quote_reads_as_text(split, trigger):
    value = f"name{split}{trigger}1+2"
    escaped = cell(value)
    # Wherever a spreadsheet splits, no piece may begin with the trigger.
    assert f"{split}'{trigger}1+2" in escaped
    assert escaped.replace("'", "", 1) == value


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ('"=HYPERLINK(""http://x"")', '"\'=HYPERLINK(""http://x"")'),
        (";=1+2", ";'=1+2"),
        ('=1+2";=1+2', "'=1+2\";'=1+2"),  # OWASP's first example
        ("=1+2'\" ;,=1+2", "'=1+2'\" ;,'=1+2"),  # and its second
        ("a; =cmd", "a; '=cmd"),  # spaces a spreadsheet may trim
        ("\t=1", "'\t'=1"),
    ],
)
def test_owasp_examples_and_quote_or_separator_prefixes(value, escaped):
    assert cell(value) == escaped


@pytest.mark.parametrize(
    "value", ["plain", "Claude Sonnet 4.5", "claude-3-5-sonnet-v2@20241022", "a - b", "2026-11-01"]
)
def test_harmless_text_is_left_alone(value):
    assert cell(value) == value


def test_numbers_stay_numbers_a_negative_amount_included():
    # Numbers come from our arithmetic, never from a name: they must still add up in a
    # spreadsheet, so a negative amount is not turned into text.
    assert cell(-5) == -5
    assert cell(Decimal("-0.0000001")) == "-0.0000001"  # every digit, never 1E-7
    assert cell(Decimal("12.50")) == "12.50"
    assert cell(None) is None
    # A name that looks like a number is still a name.
    assert cell("-1") == "'-1"


def test_stream_escapes_every_cell_and_round_trips_through_a_csv_reader():
    lines = "".join(stream([["name", "amount"], ['x";=1+2', Decimal("-1.50")], ["@a", 3]]))
    assert list(csv.reader(io.StringIO(lines))) == [
        ["name", "amount"],
        ["x\";'=1+2", "-1.50"],
        ["'@a", "3"],
    ]


def test_filename_keeps_case_and_turns_other_characters_into_dashes():
    assert filename("usage", "acme", "2026-11", "apikey_01Ab", "America/New_York") == (
        "usage_acme_2026-11_apikey_01Ab_America-New_York.csv"
    )
    assert filename("cost", 'a"b; c') == "cost_a-b-c.csv"


def test_stream_hands_rows_on_in_chunks_and_loses_none_at_the_edges():
    # 2.5 chunks' worth: the last, partial chunk must come out too, every row once, in order.
    rows = [["=evil", i, Decimal("0.5"), f"key-{i}"] for i in range(ROWS_PER_CHUNK * 5 // 2)]
    chunks = list(stream(rows))
    assert len(chunks) == 3
    parsed = list(csv.reader(io.StringIO("".join(chunks))))
    assert parsed == [["'=evil", str(i), "0.5", f"key-{i}"] for i in range(len(rows))]
