"""Every view of the Cost page as one Excel workbook: one sheet per grouping.

The Cost page shows one selection (a local month by day, or a local day by hour, with its
filters) grouped one way at a time (model, workspace, cost type, token type, service tier,
user). The workbook holds the selection grouped every way: a sheet per grouping named as the
page names it, rows the periods (days or hours, as the page labels them) then ``Total``,
columns the groups (largest first, as the chart stacks them) then ``Total``.

Amounts are the page's, in integer micro-dollars (half to even per cell) added up by pandas
as ``int64`` (never float), written as exact decimals with six places (``#,##0.000000``):
Excel keeps every micro-dollar of a cell below a billion dollars. Each sheet's total is the
page's total of that grouping to the cent (a cell's rounding is under half a micro-dollar).
The header row and the period column are frozen.
"""

from __future__ import annotations

import io
from decimal import ROUND_HALF_EVEN, Decimal

from costs.selectors import GROUPS, cost_report_of

MICRO = Decimal("0.000001")
TOTAL = "Total"
PERIOD = {"month": "Day", "day": "Hour"}
CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def micro(amount: Decimal) -> int:
    """An exact USD amount as whole micro-dollars (half to even)."""
    return int(amount.quantize(MICRO, rounding=ROUND_HALF_EVEN) / MICRO)


def views(org, data: dict, now) -> dict:
    """{sheet name: DataFrame of int64 micro-dollars} for every grouping of the selection
    ``data`` (a valid CostFilterForm's ``cleaned_data``); one cost report per grouping."""
    import pandas as pd  # here, not at start-up: it adds tens of MB to every web process

    sheets = {}
    for group, name in GROUPS.items():
        report = cost_report_of(org, data, now, group)
        labels = [p.label for p in report.periods]
        columns = {g: [micro(a) for a in report.chart[g]] for g in report.groups}
        frame = pd.DataFrame(columns, index=labels, dtype="int64")
        frame.index.name = PERIOD[report.level]
        frame[TOTAL] = frame.sum(axis=1).astype("int64")
        frame.loc[TOTAL] = frame.sum(axis=0).astype("int64")
        sheets[name] = frame.astype("int64")
    return sheets


def usd(frame):
    """Integer micro-dollar cells as exact USD (Decimal), for display and export."""
    return frame.map(lambda v: Decimal(int(v)) * MICRO)


def workbook(sheets: dict, first_column_width: int = 22) -> bytes:
    """``{sheet name: DataFrame of int64 micro-dollars}`` as an .xlsx file: USD to the
    micro-dollar, the header row and the first column frozen. Every Excel export (the Cost
    views, the chargeback report) is written here."""
    import pandas as pd

    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            # Decimal cells: openpyxl writes their digits, so Excel reads exact micro-dollars.
            usd(frame).to_excel(writer, sheet_name=name)
            sheet = writer.sheets[name]
            sheet.freeze_panes = "B2"
            for row in sheet.iter_rows(min_row=2, min_col=2):
                for cell in row:
                    cell.number_format = "#,##0.000000"
            sheet.column_dimensions["A"].width = first_column_width
    return buffer.getvalue()
