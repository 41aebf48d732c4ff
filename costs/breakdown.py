"""The Cost page's breakdown: one row per group of the chosen grouping, a column per cost.

Rows are the chart's groups (a model, a workspace, a service tier, ...), each expandable to
its lines (model, tier and window, and workspace when it is not the grouping); columns are
the token types, web search and code execution in words, then the row's total. Amounts are
sums of the report's priced cells in 1e-12 USD, the same cells as the cards, the chart and
the CSV, so every row, column and the grand total agree with them to the last digit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from costs.pricing import from_pico
from usage.models import ServiceTier

# (sort key, heading) per counter of COUNT_FIELDS, in its order.
COLUMNS = [
    ("input", "Input"),
    ("cache_write_5m", "5m cache write"),
    ("cache_write_1h", "1h cache write"),
    ("cache_read", "Cache read"),
    ("output", "Output"),
    ("web_search", "Web search"),
    ("code_execution", "Code execution"),
]
SORTS = ["group", *(key for key, _label in COLUMNS), "total"]
DEFAULT_SORT = "-total"
_TIERS = dict(ServiceTier.choices)


@dataclass
class Row:
    """A group, or one line of a group: per column, its amount (1e-12 USD) and the quantity
    no price covers (shown as unpriced, never as $0)."""

    name: str
    pico: list[int]
    unpriced: list[int]
    lines: list[Row] = field(default_factory=list)
    count: int = 0  # its lines (kept here too when they are not listed)

    @property
    def total_pico(self) -> int:
        return sum(self.pico)

    def amounts(self, shown: list[int]) -> list[Decimal]:
        return [from_pico(self.pico[i]) for i in shown]

    @property
    def total(self) -> Decimal:
        return from_pico(self.total_pico)


@dataclass
class Breakdown:
    """The rows (sorted), the columns that hold any usage, and the column and grand totals."""

    rows: list[Row]
    shown: list[int]  # indexes into COLUMNS of the columns shown
    totals: Row

    @property
    def headings(self) -> list[tuple[str, str]]:
        return [COLUMNS[i] for i in self.shown]


def _line_name(priced, dims: tuple, group: str) -> str:
    """What a line of a group is: model, tier, window and workspace, less what the group
    already says (a model's lines are its tiers and windows)."""
    key = priced.labels(dims).keys[0][0]
    parts = [
        "" if group == "model" else priced.models[dims[0]]["display_name"],
        "" if group == "service_tier" else _TIERS.get(key.service_tier, key.service_tier),
        key.context_window,
        "" if group == "workspace" else key.workspace,
    ]
    return " · ".join(p for p in parts if p)


def _sort_key(sort: str):
    column = sort.lstrip("-")
    if column == "group":
        return lambda row: row.name.lower()
    if column == "total":
        return lambda row: (row.total_pico, row.name.lower())
    i = [key for key, _label in COLUMNS].index(column)
    return lambda row: (row.pico[i], row.name.lower())


def build(report, sort: str = "") -> Breakdown:
    """The breakdown of a CostReport, its rows ordered by ``sort`` (a SORTS key, "-" for
    largest or Z first); lines within a row always largest first. Grouped by user the rows
    are a ranking of people, whose lines are on their own view: counted, not listed."""
    sort = sort or DEFAULT_SORT
    width = len(COLUMNS)
    listed = report.group != "account"
    rows = []
    totals = Row("Total", [0] * width, [0] * width)
    for group, by_dims in (report.priced.breakdown() if report.priced else {}).items():
        row = Row(group, [0] * width, [0] * width, count=len(by_dims))
        for dims, acc in by_dims.items():
            line = Row(
                _line_name(report.priced, dims, report.group) if listed else "",
                acc[0::2],
                acc[1::2],
            )
            if listed:
                row.lines.append(line)
            _add(row, line)
        # Two dims can read alike (workspaces of one name): they stay two lines.
        row.lines.sort(key=lambda line: (-line.total_pico, line.name.lower()))
        _add(totals, row)
        rows.append(row)
    rows.sort(key=_sort_key(sort), reverse=sort.startswith("-"))
    shown = [i for i in range(width) if totals.pico[i] or totals.unpriced[i]]
    return Breakdown(rows, shown, totals)


def _add(into: Row, row: Row) -> None:
    into.pico = [a + b for a, b in zip(into.pico, row.pico, strict=True)]
    into.unpriced = [a + b for a, b in zip(into.unpriced, row.unpriced, strict=True)]
