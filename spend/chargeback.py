"""The chargeback report: cost by workspace, API key, model or user (account) against local
months, priced exactly as the Cost page prices it, pivoted by pandas in integer micro-dollars."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from costs.excel import micro, workbook
from costs.selectors import cost_report

if TYPE_CHECKING:
    import pandas as pd

BY = {"workspace": "Workspace", "api_key": "API key", "model": "Model", "account": "User"}
TOTAL = "Total"
MAX_MONTHS = 24


def months(first: tuple[int, int], last: tuple[int, int]) -> list[tuple[int, int]]:
    """The (year, month) pairs from ``first`` to ``last``, both included."""
    out, (year, month) = [], first
    while (year, month) <= last:
        out.append((year, month))
        year, month = (year, month + 1) if month < 12 else (year + 1, 1)
    return out


def chargeback(org, *, zone: ZoneInfo, first, last, by: str = "workspace") -> pd.DataFrame:
    """Integer micro-dollars: one row per workspace (API key, model, user) and one column per
    local month (``"2026-11"``), sorted by name, with a ``Total`` column and a last ``Total`` row.

    Each month is the Cost page's report of that month grouped the same way (one call per
    month), so a month's column adds up to the Cost page's total of that month to the cent.
    """
    columns = [f"{y}-{m:02d}" for y, m in months(first, last)]
    records = []
    for (year, month), column in zip(months(first, last), columns, strict=True):
        report = cost_report(org, zone=zone, year=year, month=month, group=by)
        for label, amounts in report.chart.items():
            records.append((label, column, micro(sum(amounts, Decimal(0)))))
    import pandas as pd  # here, not at start-up: it adds tens of MB to every web process

    frame = pd.DataFrame(records, columns=[BY[by], "month", "micro"]).astype({"micro": "int64"})
    # groupby + unstack with fill_value keeps int64 throughout; pivot_table would pass the
    # gaps through NaN, and so through float.
    pivot = (
        frame.groupby([BY[by], "month"])["micro"]
        .sum()
        .unstack(fill_value=0)
        .reindex(columns=columns, fill_value=0)
        .sort_index()
    )
    pivot[TOTAL] = pivot.sum(axis=1)
    pivot.loc[TOTAL] = pivot.sum(axis=0)
    return pivot


def to_xlsx(pivot: pd.DataFrame, sheet: str) -> bytes:
    """The pivot as an .xlsx workbook (``costs.excel.workbook``): USD to the micro-dollar."""
    return workbook({sheet: pivot}, first_column_width=40)
