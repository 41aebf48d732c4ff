"""The Cost page as CSV: one row per period and cost line, amounts with every digit.

Columns: period_start, period_end (ISO 8601 with the chosen zone's offset), workspace
(only when grouped by workspace), account_id and account_name (only when grouped by
user; both empty for usage without an account), description, model, cost_type, token_type,
service_tier, context_window, quantity, unit (tokens, searches, ms), free_quantity (code
execution covered by the monthly allowance, ms), amount_usd (blank when unpriced), priced.
The amount_usd column sums exactly to the total on the page.
"""

from decimal import Decimal

from console import exports
from console.filters import workspace_value
from costs.templatetags.money import usd_full


def header(report) -> list[str]:
    columns = ["period_start", "period_end"]
    if report.group == "workspace":
        columns.append("workspace")
    elif report.group == "account":
        columns += ["account_id", "account_name"]
    return columns + [
        "description",
        "model",
        "cost_type",
        "token_type",
        "service_tier",
        "context_window",
        "quantity",
        "unit",
        "free_quantity",
        "amount_usd",
        "priced",
    ]


def rows(report, zone):
    """Yield the CSV rows (lists of cells, escaped by ``console.exports``), header first."""
    yield header(report)
    for index, line in report.period_lines:
        period = report.periods[index]
        key = line.key
        cells = [
            period.start.astimezone(zone).isoformat(),
            period.end.astimezone(zone).isoformat(),
        ]
        if report.group == "workspace":
            cells.append(key.workspace)
        elif report.group == "account":
            cells += [key.account_id, key.account_name]
        cells += [
            key.description,
            key.model,
            key.cost_type,
            key.token_type,
            key.service_tier,
            key.context_window,
            line.quantity,
            line.unit,
            line.free_quantity,
            "" if line.amount is None else Decimal(usd_full(line.amount)),
            "no" if line.amount is None else "yes",
        ]
        yield cells


def filename(org, form) -> str:
    """e.g. cost_acme_2026-05-14_by-model_Asia-Kolkata_workspace-wrkspc_01_claude-x.csv"""
    data = form.cleaned_data
    when = data["day"].isoformat() if data.get("day") else "{}-{:02d}".format(*data["month"])
    parts = ["cost", org.slug, when, f"by-{data['group_by']}", data["tz"]]
    if data.get("workspace"):
        parts.append(f"workspace-{workspace_value(data['workspace'])}")
    if data.get("model"):
        parts.append(data["model"].model_id)
    if data.get("account"):
        parts.append(f"user-{data['account'].external_id}")
    return exports.filename(*parts)
