"""Every CSV export: one escaper, one streamed writer, one file-name rule.

The escaper follows OWASP's CSV Injection guidance (www-community, "CSV Injection"): no cell
may begin with ``=``, ``+``, ``-``, ``@``, tab, carriage return or line feed, and the same
holds at every place a spreadsheet may start a new cell inside the text: after a field
separator (``,`` or ``;``), a quote (``"`` or ``'``) or a line break. Such a spot gets an
apostrophe before the dangerous character, which spreadsheets read as "this is text".

Only text is escaped. Numbers the exports compute (``int``, ``Decimal``) are written as
numbers, a negative amount included, so that a spreadsheet can still sum them: they come
from our arithmetic, never from a name someone typed. A name that merely looks like a
number (an API key called ``-1``) is text and is escaped like any other name.
"""

import csv
import re
from collections.abc import Iterable
from decimal import Decimal
from functools import lru_cache

from django.http import StreamingHttpResponse

# A dangerous character at the start of the text, or after a separator, a quote or a line
# break (spaces between are skipped, as a spreadsheet trimming them would).
_CELL_START = re.compile(r"(^|[,;\"'\t\r\n])( *)(?=[=+\-@\t\r\n])")


@lru_cache(maxsize=8192)
def _text(value: str) -> str:
    # Cached: an export repeats the same names and period starts on many rows.
    return _CELL_START.sub(r"\1\2'", value)


def cell(value):
    """``value`` as a spreadsheet may safely read it: text neutralised, numbers as numbers."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, Decimal):
        return format(value, "f")  # never 1E-7: every digit, as the page's title shows it
    return value


class _Lines(list):
    """A file that keeps what is written, so rows can be handed on a few hundred at a time."""

    write = list.append


ROWS_PER_CHUNK = 500  # a streamed chunk: ~60 kB of CSV, not one write per row


def stream(rows: Iterable[list]):
    """The CSV text of ``rows``, a few hundred lines at a time, every cell through the
    escaper (integers, most of the cells, are numbers we counted: written as they are)."""
    lines = _Lines()
    writer = csv.writer(lines)
    for row in rows:
        writer.writerow([v if type(v) is int else cell(v) for v in row])
        if len(lines) >= ROWS_PER_CHUNK:
            yield "".join(lines)
            lines.clear()
    if lines:
        yield "".join(lines)


_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def filename(*parts: str) -> str:
    """``parts`` joined by ``_``, each run of other characters than letters, digits, ``.``,
    ``_`` and ``-`` made one ``-`` (ids keep their case: ``apikey_01Ab`` and ``apikey_01aB``
    are two keys), e.g. ``cost_acme_2026-05_by-model_Asia-Kolkata.csv``."""
    return _UNSAFE_IN_NAME.sub("-", "_".join(parts)) + ".csv"


def response(rows: Iterable[list], name: str) -> StreamingHttpResponse:
    """A download of ``rows`` as the CSV file ``name``, streamed so memory stays flat."""
    result = StreamingHttpResponse(stream(rows), content_type="text/csv; charset=utf-8")
    result["Content-Disposition"] = f'attachment; filename="{name}"'
    return result
