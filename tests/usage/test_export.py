import csv
import datetime as dt
import io
import re
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse

from accounts.models import Role
from console.exports import cell
from tests import factories
from tests.usage.rawrows import raw, series_for, store_batch
from usage.export import CSV_COLUMNS, DIMENSION_END
from usage.rollups import COUNT_COLUMNS, rollup_pending

PAGE = reverse("usage:page")
EXPORT = reverse("usage:export")
UTC = dt.UTC
SUMMED = [
    c for c in CSV_COLUMNS if c not in CSV_COLUMNS[:DIMENSION_END] and c != "code_execution_seconds"
]


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def rows(org):
    ws = factories.make_workspace(org, '=HYPERLINK("http://evil")', "wrkspc_evil")
    keys = [
        factories.make_api_key(org, ws, name, f"apikey_{i}")
        for i, name in enumerate(
            ["+SUM(A1)", "-1", "@cmd", "\tTab", "\rCR", "plain", 'x";=1+2', "\n=cmd"]
        )
    ]
    series = [series_for(org, workspace=ws, api_key=k) for k in keys]
    series += [series_for(org, model="claude-haiku-4-5-20251001", service_tier="priority")]
    out = []
    for day in range(1, 31):
        for hour in (1, 5, 6, 12, 19):
            for i, s in enumerate(series):
                out.append(
                    raw(
                        s,
                        dt.datetime(2026, 11, day, hour, i * 7, 30, tzinfo=UTC),
                        uncached_input_tokens=day * 10 + i,
                        cache_write_5m_tokens=i,
                        cache_write_1h_tokens=hour,
                        cache_read_tokens=day,
                        output_tokens=hour + i,
                        web_search_requests=i % 2,
                        code_execution_ms=1500,
                        status_code=429 if (day + i) % 9 == 0 else 200,
                        rate_limit_type="output_tokens" if (day + i) % 9 == 0 else "",
                    )
                )
    store_batch(org, out)
    rollup_pending()
    return out


def export(client, query):
    response = client.get(f"{EXPORT}?{query}")
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    body = b"".join(response.streaming_content).decode()
    return response, list(csv.DictReader(io.StringIO(body)))


def page_totals(client, query) -> dict:
    html = client.get(f"{PAGE}?{query}").content.decode()
    return {
        k: int(v.replace(",", "")) for k, v in re.findall(r'data-total="(\w+)">([\d,]+)<', html)
    }


@pytest.mark.parametrize(
    "query",
    [
        "month=2026-11",
        "month=2026-11&tz=Asia/Kathmandu",
        "month=2026-11&tz=America/New_York&group_by=api_key",
        "month=2026-11&day=2026-11-01&tz=America/New_York",
        "month=2026-11&day=2026-11-01&hour=01:00-05:00&tz=America/New_York",
        "month=2026-11&day=2026-11-12&group_by=model",
        "month=2026-11&day=2026-11-12&hour=12&group_by=workspace",
        "month=2026-11&group_by=service_tier&workspace=default",
        "month=2026-11&group_by=context_window&api_key=none",
        # Finer rows than the bars shown (export only):
        "month=2026-11&granularity=hour",
        "month=2026-11&tz=Asia/Kathmandu&granularity=minute&group_by=api_key",
        "month=2026-11&day=2026-11-01&tz=America/New_York&granularity=minute",
    ],
)
def test_csv_sums_equal_the_page_totals_and_the_raw_rows(client, org, rows, query):
    client.force_login(factories.make_member(org, Role.BILLING))
    response, lines = export(client, query)
    assert list(lines[0].keys()) == CSV_COLUMNS
    sums = Counter()
    for line in lines:
        for column in SUMMED:
            sums[column] += int(line[column])
    shown = page_totals(client, query)
    for column in [
        "input_tokens",
        "uncached_input_tokens",
        "cache_read_tokens",
        "output_tokens",
        "requests",
        "rate_limited_requests",
        "web_search_requests",
    ]:
        assert sums[column] == shown[column], column
    assert (
        sums["cache_write_5m_tokens"] + sums["cache_write_1h_tokens"] == shown["cache_write_tokens"]
    )
    # And against the raw rows, independently of the page.
    first = dt.datetime.fromisoformat(lines[0]["period_start"])
    last = max(dt.datetime.fromisoformat(line["period_end"]) for line in lines)
    params = dict(p.split("=") for p in query.split("&"))
    keep = {
        "workspace": lambda s: s.workspace.is_default,
        "api_key": lambda s: s.api_key_id is None,
    }
    raw_requests = sum(
        1
        for r in rows
        if first <= r.timestamp < last
        and all(keep[k](r.series) for k in ("workspace", "api_key") if k in params)
    )
    assert sums["requests"] == raw_requests > 0
    raw_tokens = sum(
        r.uncached_input_tokens
        for r in rows
        if first <= r.timestamp < last
        and all(keep[k](r.series) for k in ("workspace", "api_key") if k in params)
    )
    assert sums["uncached_input_tokens"] == raw_tokens


def test_csv_columns_periods_and_offsets(client, org, rows):
    client.force_login(factories.make_member(org, Role.DEVELOPER))
    response, lines = export(client, "month=2026-11&day=2026-11-01&tz=America/New_York")
    assert len(lines) == 25  # the day clocks fall back
    assert lines[0]["period_start"] == "2026-11-01T00:00:00-04:00"
    assert (lines[1]["period_start"], lines[2]["period_start"]) == (
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:00:00-05:00",
    )
    assert lines[-1]["period_end"] == "2026-11-02T00:00:00-05:00"
    assert {line["time_zone"] for line in lines} == {"America/New_York"}
    assert {line["workspace"] for line in lines} == {"All workspaces"}
    assert lines[0]["code_execution_seconds"] == "0.000"
    disposition = response["Content-Disposition"]
    assert disposition == (
        'attachment; filename="usage_acme_2026-11-01_by-hour_America-New_York.csv"'
    )


def test_kathmandu_month_rows_start_at_local_midnight(client, org, rows):
    client.force_login(factories.make_member(org, Role.DEVELOPER))
    _, lines = export(client, "month=2026-11&tz=Asia/Kathmandu")
    assert len(lines) == 30
    assert lines[0]["period_start"] == "2026-11-01T00:00:00+05:45"
    zone = ZoneInfo("Asia/Kathmandu")
    for line in lines:
        start = dt.datetime.fromisoformat(line["period_start"])
        end = dt.datetime.fromisoformat(line["period_end"])
        want = sum(1 for r in rows if start <= r.timestamp < end)
        assert int(line["requests"]) == want, line["period_start"]
        assert start.astimezone(zone).hour == 0


def test_formula_cells_are_escaped(client, org, rows):
    client.force_login(factories.make_member(org, Role.DEVELOPER))
    _, lines = export(client, "month=2026-11&group_by=api_key&workspace=wrkspc_evil")
    names = {line["api_key"] for line in lines}
    assert names == {
        "'+SUM(A1) (apikey_0)",
        "'-1 (apikey_1)",
        "'@cmd (apikey_2)",
        "'\tTab (apikey_3)",
        "'\rCR (apikey_4)",
        "plain (apikey_5)",
        "x\";'=1+2 (apikey_6)",
        "'\n'=cmd (apikey_7)",
    }
    assert {line["workspace"] for line in lines} == {'\'=HYPERLINK("http://evil")'}
    assert all(line["requests"].isdigit() for line in lines)  # numbers stay numbers
    assert cell(12) == 12 and cell("2026-11-01T00:00:00-04:00").startswith("2")


def test_filename_names_the_filters(client, org, rows):
    client.force_login(factories.make_member(org, Role.DEVELOPER))
    response, _ = export(
        client, "month=2026-11&day=2026-11-02&hour=12&workspace=wrkspc_evil&group_by=model&tz=UTC"
    )
    assert response["Content-Disposition"] == (
        'attachment; filename="usage_acme_2026-11-02_1200_by-minute_wrkspc_evil_per-model_UTC.csv"'
    )


def test_export_access(client, org, other_org, rows):
    assert client.get(f"{EXPORT}?month=2026-11").status_code == 302
    client.force_login(factories.make_member(org, Role.USER))
    assert client.get(f"{EXPORT}?month=2026-11").status_code == 403
    outsider = factories.make_member(other_org, Role.ADMIN)
    client.force_login(outsider)
    assert client.get(f"{EXPORT}?workspace=wrkspc_evil").status_code == 404
    _, lines = export(client, "month=2026-11")
    assert sum(int(line["requests"]) for line in lines) == 0  # Globex sees none of Acme's usage
    # Every usage count is a column (code execution as seconds). The clients' own cost
    # estimate is money, not usage: the Cost page shows it.
    counts = [c for c in COUNT_COLUMNS if c not in ("code_execution_ms", "client_cost_nanos")]
    assert all(c in CSV_COLUMNS for c in counts)


def test_finer_granularity_rows_match_the_raw_rows_of_each_minute(client, org, rows):
    client.force_login(factories.make_member(org, Role.DEVELOPER))
    response, lines = export(client, "month=2026-11&tz=Asia/Kolkata&granularity=minute")

    assert response["Content-Disposition"] == (
        'attachment; filename="usage_acme_2026-11_by-minute_Asia-Kolkata.csv"'
    )
    kolkata = ZoneInfo("Asia/Kolkata")
    month_start = dt.datetime(2026, 11, 1, tzinfo=kolkata)
    month_end = dt.datetime(2026, 12, 1, tzinfo=kolkata)
    expected = Counter(
        r.timestamp.astimezone(kolkata).replace(second=0, microsecond=0)
        for r in rows
        if month_start <= r.timestamp < month_end
    )
    got = {dt.datetime.fromisoformat(line["period_start"]): int(line["requests"]) for line in lines}
    assert got == expected
    for line in lines:
        start = dt.datetime.fromisoformat(line["period_start"])
        assert dt.datetime.fromisoformat(line["period_end"]) - start == dt.timedelta(minutes=1)


def test_granularity_coarser_than_the_view_is_a_bad_request(client, org, rows):
    client.force_login(factories.make_member(org, Role.DEVELOPER))

    response = client.get(f"{EXPORT}?month=2026-11&day=2026-11-02&hour=12&granularity=hour")

    assert response.status_code == 400
    assert "coarser" in response.content.decode()
    assert client.get(f"{EXPORT}?month=2026-11&granularity=second").status_code == 400


@pytest.mark.parametrize("granularity", ["", "&granularity=hour"])
def test_models_read_by_name_on_the_page_and_by_id_in_the_csv(client, org, rows, granularity):
    client.force_login(factories.make_member(org, Role.DEVELOPER))
    query = "month=2026-11&group_by=model"
    page = client.get(f"{PAGE}?{query}").content.decode()
    assert "Claude Haiku 4.5" in page
    _, lines = export(client, query + granularity)
    models = {line["model"] for line in lines}
    assert "claude-haiku-4-5-20251001" in models
    assert not any(m.startswith("Claude ") for m in models)
