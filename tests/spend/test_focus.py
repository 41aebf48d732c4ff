"""The FOCUS export: FOCUS 1.3's mandatory columns, rows that add up to the Cost page exactly
and to the raw rows independently, the FinOps Foundation's validator, the download and the
management command."""

import csv
import io
import json
import os
import subprocess
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.models import Role
from console.models import Workspace
from costs.selectors import cost_report
from spend import focus
from tests import factories
from tests.costs.builders import raw, series_for, store_and_roll_up, utc
from usage.selectors import Scope

UTC = ZoneInfo("UTC")
SONNET, OPUS = "claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805"
# Dollars per million tokens of the shipped prices (costs/migrations/0002_shipped_prices.py),
# written out here so the test prices the raw rows on its own.
PER_MTOK = {
    (SONNET, "uncached_input_tokens"): Decimal("3"),
    (SONNET, "output_tokens"): Decimal("15"),
    (SONNET, "cache_read_input_tokens"): Decimal("0.30"),
    (OPUS, "uncached_input_tokens"): Decimal("15"),
    (OPUS, "output_tokens"): Decimal("75"),
    (OPUS, "cache_creation.ephemeral_5m_input_tokens"): Decimal("18.75"),
}
FIELDS = {
    "uncached_input_tokens": "uncached_input_tokens",
    "output_tokens": "output_tokens",
    "cache_read_input_tokens": "cache_read_tokens",
    "cache_creation.ephemeral_5m_input_tokens": "cache_write_5m_tokens",
}
# FOCUS 1.3's Mandatory columns, from the specification's column library (not from the
# module under test), and those of them that allow no null.
FOCUS_1_3_MANDATORY = {
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass",
    "ChargeDescription", "ChargePeriodEnd", "ChargePeriodStart", "ContractedCost",
    "EffectiveCost", "HostProviderName", "InvoiceIssuerName", "ListCost", "PricingQuantity",
    "PricingUnit", "ProviderName", "PublisherName", "ServiceCategory", "ServiceName",
    "ServiceProviderName",
}  # fmt: skip
NOT_NULL = FOCUS_1_3_MANDATORY - {
    "BillingAccountName", "ChargeClass", "ChargeDescription", "HostProviderName",
    "PricingQuantity", "PricingUnit",
}  # fmt: skip
# Required of a usage row with a price (ListUnitPrice, SkuId, SkuPriceId, ConsumedQuantity...
# "MUST NOT be null when ChargeCategory is Usage").
USAGE_NOT_NULL = {
    "ListUnitPrice", "ContractedUnitPrice", "SkuId", "SkuPriceId", "ConsumedQuantity",
    "ConsumedUnit", "PricingQuantity", "PricingUnit", "PricingCategory",
}  # fmt: skip


@pytest.fixture
def month(org):
    """November 2026 in UTC: two workspaces named alike, two models, the edges of the month,
    web search, code execution past the month's free allowance, an unpriced model; and
    usage just outside the month that must not count."""
    research = factories.make_workspace(org, "Research", "wrkspc_r1")
    twin = factories.make_workspace(org, "Research", "wrkspc_r2")  # same name, other id
    default = series_for(org)
    lab = series_for(org, workspace=research, model=OPUS)
    other = series_for(org, workspace=twin, model=SONNET)
    batch = series_for(org, workspace=twin, model=SONNET, service_tier="batch")
    unpriced = series_for(org, model="house-model-1")
    rows = [
        raw(default, utc(2026, 10, 31, 23, 59), output_tokens=5_000),  # October
        raw(default, utc(2026, 11, 1, 0, 0), uncached_input_tokens=333_333, output_tokens=7),
        raw(default, utc(2026, 11, 1, 13), cache_read_tokens=123_457, web_search_requests=3),
        raw(lab, utc(2026, 11, 15, 3, 3), cache_write_5m_tokens=987_654, output_tokens=55_555),
        raw(lab, utc(2026, 11, 15, 9), uncached_input_tokens=1, code_execution_ms=4_000_000_000),
        raw(other, utc(2026, 11, 16, 2), code_execution_ms=2_000_000_001, output_tokens=99),
        raw(other, utc(2026, 11, 20, 12), uncached_input_tokens=1_000_001),
        raw(batch, utc(2026, 11, 20, 12), uncached_input_tokens=2_000_000),
        raw(unpriced, utc(2026, 11, 21), output_tokens=1_000),
        raw(default, utc(2026, 11, 30, 23, 59, 59), output_tokens=999_999),
        raw(default, utc(2026, 12, 1, 0, 0), output_tokens=777),  # December
    ]
    store_and_roll_up(org, rows)
    return rows


def _export(org) -> list[dict]:
    return list(focus.rows(org, year=2026, month=11))


def test_every_mandatory_column_of_focus_1_3_is_there_and_filled(org, month):
    rows = _export(org)
    assert rows
    assert set(focus.COLUMNS) >= FOCUS_1_3_MANDATORY
    for row in rows:
        assert [c for c in NOT_NULL | USAGE_NOT_NULL if row[c] in (None, "")] == []
        assert row["ChargeCategory"] == "Usage"
        assert row["ServiceCategory"] == "AI and Machine Learning"
        assert row["BillingPeriodStart"] == "2026-11-01T00:00:00Z"
        assert row["BillingPeriodEnd"] == "2026-12-01T00:00:00Z"
        start, end = row["ChargePeriodStart"], row["ChargePeriodEnd"]
        assert start.endswith("T00:00:00Z") and end.endswith("T00:00:00Z") and start < end
    custom = [c for c in focus.COLUMNS if c not in focus.MANDATORY + focus.CONDITIONAL]
    assert [c for c in custom if c not in focus.NULL_COLUMNS and not c.startswith("x_")] == []


def test_billed_cost_equals_the_cost_page_exactly(org, month):
    rows = _export(org)
    billed = sum((r["BilledCost"] for r in rows), Decimal(0))
    page = cost_report(org, zone=UTC, year=2026, month=11, group="workspace")
    assert billed == page.totals.total
    by_model = cost_report(org, zone=UTC, year=2026, month=11, group="model")
    assert billed.quantize(Decimal("0.01")) == by_model.totals.total.quantize(Decimal("0.01"))
    for r in rows:
        assert r["BilledCost"] == r["EffectiveCost"] == r["ListCost"] == r["ContractedCost"]


def test_token_rows_add_up_to_the_raw_rows(org, month):
    """Quantities and amounts per (day, workspace id, model, token type), summed from the raw
    rows of November and priced here at the shipped rates, against the export."""
    expected = defaultdict(int)
    for row in month:
        if not (utc(2026, 11, 1) <= row.timestamp < utc(2026, 12, 1)):
            continue
        model = row.series.model.model_id
        if model == "house-model-1":
            continue
        workspace = row.series.workspace.external_id or "default"
        for token_type, field in FIELDS.items():
            if getattr(row, field):
                key = (row.timestamp.date().isoformat(), workspace, model, token_type)
                key += (row.series.service_tier,)
                expected[key] += getattr(row, field)
    got = {}
    for r in _export(org):
        if r["x_CostType"] != "tokens":
            continue
        key = (r["ChargePeriodStart"][:10], r["SubAccountId"], r["SkuId"].split("/")[0])
        key += (r["x_TokenType"], r["x_ServiceTier"])
        assert key not in got  # one row per day, workspace, model, token type (and tier)
        got[key] = r
        assert r["ListUnitPrice"] * r["PricingQuantity"] == r["ListCost"]
    assert {k: int(r["ConsumedQuantity"]) for k, r in got.items()} == dict(expected)
    for (_day, _ws, model, token_type, tier), r in got.items():
        rate = PER_MTOK[(model, token_type)] / (2 if tier == "batch" else 1)
        assert r["BilledCost"] == rate * r["ConsumedQuantity"] / 1_000_000
    # The two workspaces called Research are two rows each, told apart by their ids.
    assert {k[1] for k in got} == {"default", "wrkspc_r1", "wrkspc_r2"}


def test_tools_are_priced_per_their_unit(org, month):
    rows = [r for r in _export(org) if r["x_CostType"] != "tokens"]
    web = [r for r in rows if r["SkuId"] == "web_search"]
    assert [(r["ConsumedQuantity"], r["PricingUnit"], r["BilledCost"]) for r in web] == [
        (3, "1000 Requests", Decimal("0.03"))
    ]
    code = [r for r in rows if r["SkuId"] == "code_execution"]
    assert sum(r["ConsumedQuantity"] for r in code) == Decimal("6000000.001")  # seconds
    # 1,550 free hours = 5,580,000,000 ms; the rest (420,000,001 ms) at $0.05 an hour.
    assert sum(r["PricingQuantity"] for r in code) == Decimal("116.666666944444444")
    billed = sum(r["BilledCost"] for r in code)
    assert billed == (Decimal(420_000_001) * Decimal("0.05") / 3_600_000).quantize(Decimal("1e-12"))
    for r in code:
        assert abs(r["ListUnitPrice"] * r["PricingQuantity"] - r["ListCost"]) < Decimal("1e-12")


def test_unpriced_usage_and_other_months_are_left_out(org, month):
    rows = _export(org)
    assert not [r for r in rows if r["SkuId"].startswith("house-model-1")]
    assert {r["ChargePeriodStart"][:7] for r in rows} == {"2026-11"}


def test_filters_narrow_the_rows(org, month):
    twin = Workspace.objects.get(org=org, external_id="wrkspc_r2")
    scope = Scope(org_id=org.id, workspace_id=twin.pk)
    rows = list(focus.rows(org, year=2026, month=11, scope=scope))
    assert {r["SubAccountId"] for r in rows} == {"wrkspc_r2"}
    page = cost_report(org, zone=UTC, year=2026, month=11, workspace=twin, group="workspace")
    assert sum(r["BilledCost"] for r in rows) == page.totals.total


def _csv(content: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content)))


@pytest.mark.parametrize("role", [Role.ADMIN, Role.BILLING, Role.DEVELOPER])
def test_download_for_the_roles_that_see_costs(client, org, month, role):
    client.force_login(factories.make_member(org, role))
    response = client.get(reverse("spend:focus"), {"month": "2026-11", "tz": "Asia/Kolkata"})
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="focus_acme_2026-11_UTC.csv"'
    table = _csv(b"".join(response.streaming_content).decode())
    assert table[0] == list(focus.COLUMNS)
    billed = table[0].index("BilledCost")
    total = sum(Decimal(r[billed]) for r in table[1:])
    assert total == cost_report(org, zone=UTC, year=2026, month=11, group="workspace").totals.total


def test_download_refused_to_others(client, org, other_org, month):
    url = reverse("spend:focus")
    assert client.get(url, {"month": "2026-11"}).status_code == 302  # to the login page
    client.force_login(factories.make_member(org, Role.USER))
    assert client.get(url, {"month": "2026-11"}).status_code == 403
    client.force_login(factories.make_member(other_org, Role.BILLING))
    response = client.get(url, {"month": "2026-11"})
    table = _csv(b"".join(response.streaming_content).decode())
    assert table == [list(focus.COLUMNS)]  # Globex's own export: none of Acme's rows


def test_bad_month_is_a_400_naming_the_field(client, org):
    client.force_login(factories.make_member(org, Role.BILLING))
    response = client.get(reverse("spend:focus"), {"month": "2026-13"})
    assert response.status_code == 400
    assert "month" in response.content.decode()


def test_the_cost_page_links_to_the_export(client, org, month):
    client.force_login(factories.make_member(org, Role.DEVELOPER))
    response = client.get(reverse("costs:page"), {"month": "2026-11", "tz": "UTC"})
    url = reverse("spend:focus") + "?month=2026-11&group_by=model&tz=UTC"
    assert response.context["focus_url"] == url
    assert 'data-testid="export-focus"' in response.content.decode()


def test_management_command_writes_the_same_file(client, org, month, tmp_path):
    path = tmp_path / "focus.csv"
    call_command("export_focus", "acme", "2026-11", "--output", str(path))
    client.force_login(factories.make_member(org, Role.BILLING))
    response = client.get(reverse("spend:focus"), {"month": "2026-11"})
    assert path.read_bytes().decode() == b"".join(response.streaming_content).decode()
    out = io.StringIO()
    call_command("export_focus", "acme", "2026-11", stdout=out)
    assert out.getvalue() == path.read_bytes().decode()


# Metadata ----------------------------------------------------------------------------------


def test_the_export_names_its_metadata_which_describes_every_column(client, org, month):
    client.force_login(factories.make_member(org, Role.DEVELOPER))
    response = client.get(reverse("spend:focus"), {"month": "2026-11"})
    header = _csv(b"".join(response.streaming_content).decode())[0]
    link = response["Link"]
    url = "http://testserver" + reverse("spend:focus_metadata")
    assert link == f'<{url}>; rel="describedby"; type="application/json"'
    got = client.get(url)
    assert got.status_code == 200 and got["Content-Type"] == "application/json"
    meta = json.loads(got.content)
    assert meta["DataGenerator"] == {"DataGenerator": "Meterboard"}
    ((instance,),) = [meta["DatasetInstance"]]
    assert instance["FocusDatasetId"] == "CostAndUsage"
    assert instance["DatasetInstanceName"] == "Cost and Usage Daily (Acme)"
    ((schema,),) = [meta["Schema"]]
    assert schema["DatasetInstanceId"] == instance["DatasetInstanceId"]
    assert schema["FocusVersion"] == "1.3"
    # One definition per column of the file, and each type read from the file itself.
    definitions = schema["ColumnDefinition"]
    assert [d["ColumnName"] for d in definitions] == header
    types = {d["ColumnName"]: d["DataType"] for d in definitions}
    assert {c for c, t in types.items() if t == "DECIMAL"} == {
        "BilledCost", "ConsumedQuantity", "ContractedCost", "ContractedUnitPrice",
        "EffectiveCost", "ListCost", "ListUnitPrice", "PricingQuantity",
    }  # fmt: skip
    assert {c for c, t in types.items() if t == "DATETIME"} == {
        "BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd",
    }  # fmt: skip
    assert types["Tags"] == "JSON"
    assert all(d["StringEncoding"] == "UTF-8" for d in definitions if d["DataType"] == "STRING")


def test_the_metadata_ids_are_guids_stable_per_organisation(org, other_org):
    import uuid

    ours, theirs = focus.metadata(org), focus.metadata(other_org)
    assert focus.metadata(org) == ours
    ours_id = ours["DatasetInstance"][0]["DatasetInstanceId"]
    assert ours_id != theirs["DatasetInstance"][0]["DatasetInstanceId"]
    assert str(uuid.UUID(ours_id)) == ours_id
    # Pinned: a change of the columns or their types is a new schema, with a new SchemaId
    # and a new focus.SCHEMA_CREATED.
    assert ours["Schema"][0]["SchemaId"] == SCHEMA_ID
    assert ours["Schema"][0]["CreationDate"] == "2026-12-02T00:00:00Z"


SCHEMA_ID = "77e475bf-c252-5b90-8dea-c123c2621da2"


def test_the_metadata_is_for_the_roles_that_see_costs(client, org):
    url = reverse("spend:focus_metadata")
    assert client.get(url).status_code == 302
    client.force_login(factories.make_member(org, Role.USER))
    assert client.get(url).status_code == 403


# The validator ---------------------------------------------------------------------------

# focus-validator 1.0.0 (the release on PyPI) checks FOCUS 1.0. Its 1.0 rule set names four
# columns by ids that are not FOCUS 1.0's (Provider, Publisher, InvoiceIssuer, ResourceID
# for ProviderName, PublisherName, InvoiceIssuerName, ResourceId), and its SkuPriceId_Nullable
# query reads ChargeType, FOCUS 0.5's name for ChargeCategory: those checks are skipped
# through the validator's own override file; the tests above check the real names.
MISNAMED = ["SkuPriceId_Nullable"] + [
    f"{column}_{check}"
    for column, checks in {
        "Provider": ("Required", "IsString", "NotNull"),
        "Publisher": ("Required", "IsString", "NotNull"),
        "InvoiceIssuer": ("Required", "IsString", "NotNull"),
        "ResourceID": ("Required", "IsString", "Nullable"),
    }.items()
    for check in checks
]


FOCUS_PYTHON = Path(__file__).resolve().parents[2] / ".venv-focus" / "bin" / "python"
PASSED, FAILED = "passed", {"failed", "errored"}  # its ChecklistObjectStatus values


@pytest.fixture
def validator(tmp_path):
    """Runs the validator (in its own environment, see the Makefile) on an export: a
    function from (CSV path, column to drop or None) to {check: status}. Skipped where that
    environment is missing, failed under CI (``make test`` makes it)."""
    if not FOCUS_PYTHON.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the FOCUS validator: {FOCUS_PYTHON} is missing")
        pytest.skip(f"the FOCUS validator's environment is missing ({FOCUS_PYTHON}): make install")
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text("overrides:\n" + "".join(f"  - {name}\n" for name in MISNAMED))
    script = Path(__file__).with_name("focus_check.py")

    def run(path, drop=None) -> dict[str, str]:
        args = [str(FOCUS_PYTHON), str(script), str(path), str(overrides)]
        args += [",".join(focus.DECIMAL_COLUMNS), *([drop] if drop else [])]
        done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    return run


def test_the_focus_validator_accepts_the_export(org, month, tmp_path, validator):
    path = tmp_path / "focus.csv"
    call_command("export_focus", "acme", "2026-11", "--output", str(path))
    statuses = validator(path)
    failed = {name: status for name, status in statuses.items() if status in FAILED}
    assert failed == {}
    assert sum(status == PASSED for status in statuses.values()) > 100


@pytest.mark.parametrize("column", ["BilledCost", "ChargePeriodStart", "PricingUnit", "SkuId"])
def test_the_validator_fails_an_export_without_a_mandatory_column(
    org, month, tmp_path, validator, column
):
    path = tmp_path / "focus.csv"
    call_command("export_focus", "acme", "2026-11", "--output", str(path))
    assert validator(path, drop=column)[f"{column}_Required"] in FAILED


def test_query_count_is_pinned(org, month, django_assert_num_queries):
    # The workspaces and the price book (3), then price_periods grouped by workspace (9: the
    # allowance's crossing hour is shared and its dims found in one query), and again for
    # each of the two workspaces that share the name Research (2 x 9).
    with django_assert_num_queries(30):
        _export(org)
