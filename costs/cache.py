"""Cost reports of periods that are over, kept while nothing they are made of changes
(``usage.kept``): their key adds the price book to the buckets and names every kept report
depends on, and the buckets they read start at the first of the month their code-execution
allowance counts from (``costs.selectors._CodeAllowance``).
"""

from __future__ import annotations

import datetime as dt

from costs.pricing import PriceBook, month_start
from usage.kept import report_key


def cost_report_key(
    org_id: int, query: tuple, group: str, book: PriceBook, reads: tuple[dt.datetime, dt.datetime]
) -> str:
    """The key of a cost report: ``query`` as plain values, grouped by ``group``, priced by
    ``book``, reading buckets over ``reads`` = (start, end)."""
    start, end = reads
    prices = (sorted(map(repr, book.token_rates)), sorted(map(repr, book.tool_rates)))
    # ``(group,)``: the names of its accounts or API keys when grouped by them.
    return report_key("cost", org_id, (query, group), (group,), (month_start(start), end), prices)
