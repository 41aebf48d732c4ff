"""The FinOps FOCUS export of cost: a UTC month as FOCUS 1.3 rows, priced as the Cost page.

FOCUS (the FinOps Open Cost and Usage Specification, focus.finops.org) 1.3 is the ratified
version this follows. One row per UTC day, workspace, model and SKU price: a token type of a
model at a service tier and context window, or web search or code execution of a model. A
row's tier and window are kept apart (the issue asked for day, model, workspace and token
type) because FOCUS requires ``ListUnitPrice x PricingQuantity = ListCost`` on every row, and
two tiers or windows are two prices.

Amounts are the Cost page's: ``costs.selectors.price_periods`` prices the month's UTC days
grouped by workspace, so the rows' BilledCost adds up exactly to the Cost page's total for
the month in UTC grouped by workspace (and to the cent however it is grouped: code execution
is rounded to 1e-12 USD once per cell, and a cell follows the grouping).

Decisions, where the specification leaves a choice or the data cannot say more:

- Unpriced usage (a model with no price) has no row: FOCUS requires a unit price and a cost
  on every usage row, and the Cost page shows such usage as tokens without an amount.
- The prices in force for the organisation (its own rows, else the shipped defaults) are
  the list prices: there are no discounts or commitments, so ListCost = ContractedCost =
  EffectiveCost = BilledCost and ListUnitPrice = ContractedUnitPrice.
- Code execution is consumed in seconds (milliseconds / 1000, exact) and priced per
  container-hour: PricingQuantity is the billable hours (after the month's free allowance)
  to 15 decimals, so its product with the hourly price matches the cost to within
  1e-12 USD, the rounding the Cost page applies.
- The default workspace, which has no id in the Console, is ``SubAccountId`` "default".
- Provider columns: 1.3 names the service provider, host provider and invoice issuer; the
  deprecated ProviderName and PublisherName are still Mandatory in 1.3 and are kept.
- Columns FOCUS 1.0 required and 1.3 keeps as Conditional (commitment discounts, region,
  resource, tags) are present and null, so that a 1.0 reader finds them.
- Meterboard's own dimensions are ``x_`` columns, as FOCUS requires of custom columns.
- Metadata (``metadata``): FOCUS requires a data generator to describe each dataset apart
  from its data: DataGenerator, a DatasetInstance per dataset and a Schema with one
  ColumnDefinition per column. The export is one dataset instance per organisation (daily
  Cost and Usage); its CSV names the metadata in a ``Link: <…>; rel="describedby"`` header,
  which FOCUS asks be readable without opening the data. Decimals are written in full
  (exact), so the optional precision and scale are left out; Recency is optional and the
  export is made on request, so it has none.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal

from console.models import Workspace
from costs.pricing import TOKEN_TYPES, TOKENS, WEB_SEARCH
from costs.selectors import price_book, price_periods
from usage.selectors import Scope

FOCUS_VERSION = "1.3"
PROVIDER = "Anthropic"
SERVICE_NAME = "Claude API"
DEFAULT_WORKSPACE_ID = "default"
MS_PER_HOUR = 3_600_000
HOURS = Decimal("1e-15")

# The columns FOCUS 1.3 marks Mandatory: every one is present in every export.
MANDATORY = (
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ContractedCost",
    "EffectiveCost",
    "HostProviderName",
    "InvoiceIssuerName",
    "ListCost",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
    "ServiceProviderName",
)
# Conditional and Recommended columns whose condition holds here (usage is measured, unit
# prices are published, workspaces are sub accounts), and the 1.0 columns kept null.
CONDITIONAL = (
    "ChargeFrequency",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedUnitPrice",
    "ListUnitPrice",
    "PricingCategory",
    "ServiceSubcategory",
    "SkuId",
    "SkuMeter",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
)
NULL_COLUMNS = (
    "AvailabilityZone",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "Tags",
)
CUSTOM = ("x_CostType", "x_TokenType", "x_ServiceTier", "x_ContextWindow")
COLUMNS = tuple(sorted(MANDATORY + CONDITIONAL + NULL_COLUMNS)) + CUSTOM
DECIMAL_COLUMNS = frozenset(
    {
        "BilledCost",
        "ConsumedQuantity",
        "ContractedCost",
        "ContractedUnitPrice",
        "EffectiveCost",
        "ListCost",
        "ListUnitPrice",
        "PricingQuantity",
    }
)

DATETIME_COLUMNS = frozenset(
    {"BillingPeriodEnd", "BillingPeriodStart", "ChargePeriodEnd", "ChargePeriodStart"}
)
JSON_COLUMNS = frozenset({"Tags"})
DATA_GENERATOR = "Meterboard"
# When this schema (the columns and their types) was first published. A change of the
# columns is a new schema: its SchemaId changes with them (a test pins it), and this date
# must be changed with it.
SCHEMA_CREATED = "2026-12-02T00:00:00Z"

_RATE = {t.api_name: t.rate for t in TOKEN_TYPES}
_METER = {t.api_name: t.label for t in TOKEN_TYPES}


def _z(moment: dt.datetime) -> str:
    """FOCUS's date/time format: UTC, to the second, with a ``Z``."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def month_days(year: int, month: int) -> list[dt.datetime]:
    """The UTC midnights of the month's days and of the next month's first day."""
    first = dt.datetime(year, month, 1, tzinfo=dt.UTC)
    length = calendar.monthrange(year, month)[1]
    return [first + dt.timedelta(days=i) for i in range(length + 1)]


def _lines(org, bounds, scope: Scope, workspaces: dict) -> Iterator[tuple]:
    """(day index, workspace or None, LineTotal) of the priced lines of ``scope``.

    Lines are grouped by workspace *name*; a name two workspaces share is priced again one
    workspace at a time, so every row names one workspace.
    """
    by_name: dict[str, list[Workspace]] = {}
    for workspace in workspaces.values():
        by_name.setdefault(workspace.name, []).append(workspace)
    priced = price_periods(org, bounds, scope, "workspace")
    for (day, key), line in priced.per_period().items():
        named = by_name.get(key.workspace, [])
        if len(named) == 1:
            yield day, named[0], line
    for name, shared in by_name.items():
        if len(shared) < 2:
            continue
        for workspace in shared:
            if scope.workspace_id not in (None, workspace.pk):
                continue
            alone = Scope(
                org_id=scope.org_id,
                workspace_id=workspace.pk,
                model_id=scope.model_id,
                account_ids=scope.account_ids,
            )
            again = price_periods(org, bounds, alone, "workspace")
            for (day, key), line in again.per_period().items():
                if key.workspace == name:
                    yield day, workspace, line


def rows(org, *, year: int, month: int, scope: Scope | None = None) -> Iterator[dict]:
    """One dict per FOCUS row (column -> str, Decimal or None) of the UTC month, ordered by
    day, workspace and line; unpriced lines are left out."""
    scope = scope or Scope(org_id=org.id)
    bounds = month_days(year, month)
    workspaces = {w.pk: w for w in Workspace.objects.filter(org=org)}
    book = price_book(org)
    billing = {
        "BillingAccountId": org.slug,
        "BillingAccountName": org.name,
        "BillingCurrency": "USD",
        "BillingPeriodStart": _z(bounds[0]),
        "BillingPeriodEnd": _z(bounds[-1]),
        "ChargeCategory": "Usage",
        "ChargeClass": None,
        "ChargeFrequency": "Usage-Based",
        "HostProviderName": PROVIDER,
        "InvoiceIssuerName": PROVIDER,
        "ProviderName": PROVIDER,
        "PublisherName": PROVIDER,
        "ServiceProviderName": PROVIDER,
        "ServiceCategory": "AI and Machine Learning",
        "ServiceSubcategory": "Generative AI",
        "ServiceName": SERVICE_NAME,
        "PricingCategory": "Standard",
        **dict.fromkeys(NULL_COLUMNS),
    }
    found = sorted(
        _lines(org, bounds, scope, workspaces),
        key=lambda t: (t[0], t[1].name, t[1].pk, t[2].key.sort_key()),
    )
    for day, workspace, line in found:
        key = line.key
        if key.unpriced:
            continue
        date = bounds[day].date()
        row = dict(billing)
        row.update(
            ChargePeriodStart=_z(bounds[day]),
            ChargePeriodEnd=_z(bounds[day + 1]),
            ChargeDescription=key.description,
            SubAccountId=workspace.external_id or DEFAULT_WORKSPACE_ID,
            SubAccountName=workspace.name,
            x_CostType=key.cost_type,
            x_TokenType=key.token_type or None,
            x_ServiceTier=key.service_tier,
            x_ContextWindow=key.context_window,
        )
        row.update(_pricing(book, key, line, date))
        amount = line.amount
        row.update(BilledCost=amount, EffectiveCost=amount, ListCost=amount, ContractedCost=amount)
        yield {column: row[column] for column in COLUMNS}


def _pricing(book, key, line, date: dt.date) -> dict:
    """The SKU, unit price and quantities of one line: its price list entry on ``date``."""
    if key.cost_type == TOKENS:
        rates = book.token_rates_for(key.model, key.service_tier, key.context_window, date)
        price = getattr(rates, _RATE[key.token_type])
        sku = f"{key.model}/{key.token_type}"
        price_id = f"{sku}/{key.service_tier}/{key.context_window}/{rates.effective_from}"
        return {
            "SkuId": sku,
            "SkuPriceId": price_id,
            "SkuMeter": _METER[key.token_type],
            "ListUnitPrice": price,
            "ContractedUnitPrice": price,
            "PricingUnit": "1000000 Tokens",
            "PricingQuantity": Decimal(line.quantity) / 1_000_000,
            "ConsumedUnit": "Tokens",
            "ConsumedQuantity": Decimal(line.quantity),
        }
    rate = book.tool_rate_for(key.cost_type, date)
    sku = key.cost_type  # the tool is one SKU whatever the model that called it
    common = {
        "SkuId": sku,
        "SkuPriceId": f"{sku}/{rate.effective_from}",
        "ListUnitPrice": rate.unit_price,
        "ContractedUnitPrice": rate.unit_price,
    }
    if key.cost_type == WEB_SEARCH:
        return common | {
            "SkuMeter": "Web Search",
            "PricingUnit": "1000 Requests",
            "PricingQuantity": Decimal(line.quantity) / 1_000,
            "ConsumedUnit": "Requests",
            "ConsumedQuantity": Decimal(line.quantity),
        }
    # CODE_EXECUTION: billed per container-hour after the month's free allowance.
    billable = line.quantity - line.free_quantity
    return common | {
        "SkuMeter": "Code Execution",
        "PricingUnit": "Hours",
        "PricingQuantity": (Decimal(billable) / MS_PER_HOUR).quantize(HOURS),
        "ConsumedUnit": "Seconds",
        "ConsumedQuantity": Decimal(line.quantity) / 1_000,
    }


def csv_rows(org, **kw) -> Iterator[list]:
    """The export as CSV rows, header first: nulls as empty cells, decimals in full."""
    yield list(COLUMNS)
    for row in rows(org, **kw):
        yield ["" if row[c] is None else row[c] for c in COLUMNS]


def column_definitions() -> list[dict]:
    """FOCUS metadata's ColumnDefinition: one object per column of the export, in its order."""
    definitions = []
    for column in COLUMNS:
        if column in DECIMAL_COLUMNS:
            definitions.append({"ColumnName": column, "DataType": "DECIMAL"})
        elif column in DATETIME_COLUMNS:
            definitions.append({"ColumnName": column, "DataType": "DATETIME"})
        elif column in JSON_COLUMNS:
            definitions.append({"ColumnName": column, "DataType": "JSON"})
        else:
            definitions.append(
                {"ColumnName": column, "DataType": "STRING", "StringEncoding": "UTF-8"}
            )
    return definitions


def schema_id() -> str:
    """A GUID derived from the FOCUS version and the columns: it changes when they do."""
    text = json.dumps([FOCUS_VERSION, column_definitions()], sort_keys=True)
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"meterboard:focus:schema:{text}"))


def dataset_instance_id(org) -> str:
    """A GUID for the organisation's daily Cost and Usage dataset, the same on every call."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"meterboard:focus:cost-and-usage-daily:{org.pk}"))


def metadata(org) -> dict:
    """The FOCUS 1.3 metadata of the organisation's export: DataGenerator, DatasetInstance
    and Schema."""
    instance = dataset_instance_id(org)
    return {
        "DataGenerator": {"DataGenerator": DATA_GENERATOR},
        "DatasetInstance": [
            {
                "DatasetInstanceId": instance,
                "DatasetInstanceName": f"Cost and Usage Daily ({org.name})",
                "FocusDatasetId": "CostAndUsage",
            }
        ],
        "Schema": [
            {
                "SchemaId": schema_id(),
                "FocusVersion": FOCUS_VERSION,
                "CreationDate": SCHEMA_CREATED,
                "DatasetInstanceId": instance,
                "ColumnDefinition": column_definitions(),
            }
        ],
    }
