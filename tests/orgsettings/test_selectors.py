import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orgsettings import selectors
from tests import factories
from tests.usage.rawrows import raw, series_for, store_batch
from usage.models import RateLimit
from usage.rollups import rollup_pending

NOW = dt.datetime(2026, 11, 17, 12, 0, tzinfo=dt.UTC)
MONTH = selectors.month_start(NOW)


def _expected(rows, key):
    """Independent per-key sums of raw rows inside the month of NOW."""
    sums = {}
    for row in rows:
        if not (MONTH <= row.timestamp < dt.datetime(2026, 12, 1, tzinfo=dt.UTC)):
            continue
        k = key(row)
        requests, input_tokens, output_tokens = sums.get(k, (0, 0, 0))
        sums[k] = (
            requests + 1,
            input_tokens
            + row.uncached_input_tokens
            + row.cache_write_5m_tokens
            + row.cache_write_1h_tokens
            + row.cache_read_tokens,
            output_tokens + row.output_tokens,
        )
    return sums


@pytest.fixture
def usage_world(org, other_org):
    research = factories.make_workspace(org, "Research")
    default = org.workspaces.get(is_default=True)
    k1 = factories.make_api_key(org, research, "prod")
    k2 = factories.make_api_key(org, default, "staging")
    factories.make_api_key(org, research, "idle")
    series = [
        series_for(org, workspace=research, api_key=k1),
        series_for(org, workspace=research, api_key=k1, model="claude-opus-4-1-20250805"),
        series_for(org, workspace=default, api_key=k2, service_tier="batch"),
        series_for(org, workspace=default, api_key=None),
        series_for(org, workspace=research, api_key=None, context_window="200k-1M"),
    ]
    rows = []
    times = [
        dt.datetime(2026, 10, 31, 23, 59, tzinfo=dt.UTC),  # last month: not counted
        dt.datetime(2026, 11, 1, 0, 0, tzinfo=dt.UTC),  # first instant of the month
        dt.datetime(2026, 11, 9, 13, 30, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 17, 11, 59, tzinfo=dt.UTC),
    ]
    for i, s in enumerate(series):
        for j, ts in enumerate(times):
            rows.append(
                raw(
                    s,
                    ts,
                    uncached_input_tokens=100 * (i + 1) + j,
                    cache_write_5m_tokens=7 * j,
                    cache_write_1h_tokens=3 * i,
                    cache_read_tokens=1000 + i * j,
                    output_tokens=50 + i + j,
                    status_code=429 if j == 2 else 200,
                    rate_limit_type="requests" if j == 2 else "",
                )
            )
    store_batch(org, rows)
    # Another organisation's usage in the same month must never leak into these sums.
    theirs = series_for(other_org)
    store_batch(other_org, [raw(theirs, NOW, uncached_input_tokens=999_999, output_tokens=9)])
    rollup_pending()
    return {"rows": rows, "research": research, "default": default, "k1": k1, "k2": k2}


def test_month_start_is_the_first_midnight_utc():
    assert selectors.month_start(NOW) == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    plus_0530 = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.timezone(dt.timedelta(hours=5.5)))
    assert selectors.month_start(plus_0530) == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def test_workspace_usage_equals_the_raw_rows(org, usage_world):
    expected = _expected(usage_world["rows"], lambda r: r.series.workspace_id)
    got = {
        w.pk: (u.requests, u.input_tokens, u.output_tokens)
        for w, u in selectors.workspaces_with_usage(org, MONTH)
    }
    assert got == {pk: expected.get(pk, (0, 0, 0)) for pk in got}
    assert set(got) == {usage_world["research"].pk, usage_world["default"].pk}
    counts = {w.name: w.key_count for w, _ in selectors.workspaces_with_usage(org, MONTH)}
    assert counts == {"Default": 1, "Research": 2}


def test_api_key_usage_equals_the_raw_rows_including_keyless(org, usage_world):
    expected = _expected(usage_world["rows"], lambda r: r.series.api_key_id)
    keys, keyless = selectors.api_keys_with_usage(org, MONTH)
    got = {k.pk: (u.requests, u.input_tokens, u.output_tokens) for k, u in keys}
    assert got == {pk: expected.get(pk, (0, 0, 0)) for pk in got}
    assert len(got) == 3
    assert (keyless.requests, keyless.input_tokens, keyless.output_tokens) == expected[None]


def test_api_key_usage_of_one_workspace(org, usage_world):
    research = usage_world["research"]
    in_research = [r for r in usage_world["rows"] if r.series.workspace_id == research.pk]
    expected = _expected(in_research, lambda r: r.series.api_key_id)
    keys, keyless = selectors.api_keys_with_usage(org, MONTH, research)
    assert {k.name for k, _ in keys} == {"prod", "idle"}
    assert {k.pk: (u.requests, u.input_tokens, u.output_tokens) for k, u in keys} == {
        k.pk: expected.get(k.pk, (0, 0, 0)) for k, _ in keys
    }
    assert (keyless.requests, keyless.input_tokens, keyless.output_tokens) == expected[None]


def test_no_usage_gives_zeros_and_no_keyless_row(org):
    factories.make_api_key(org)
    keys, keyless = selectors.api_keys_with_usage(org, MONTH)
    assert [(u.requests, u.input_tokens, u.output_tokens) for _, u in keys] == [(0, 0, 0)]
    assert keyless is None


def test_query_counts_do_not_grow_with_keys_or_workspaces(org, usage_world):
    def count(fn):
        with CaptureQueriesContext(connection) as ctx:
            fn()
        return len(ctx.captured_queries)

    before = (
        count(lambda: list(selectors.workspaces_with_usage(org, MONTH))),
        count(lambda: selectors.api_keys_with_usage(org, MONTH)),
    )
    for i in range(5):
        ws = factories.make_workspace(org, f"More {i}")
        factories.make_api_key(org, ws, f"more {i}")
    after = (
        count(lambda: list(selectors.workspaces_with_usage(org, MONTH))),
        count(lambda: selectors.api_keys_with_usage(org, MONTH)),
    )
    assert before == after == (2, 2)


def test_models_for_limits_are_the_used_ones_and_those_with_a_limit(org, other_org, usage_world):
    haiku = factories.make_model("claude-haiku-4-5-20251001")
    factories.make_model("claude-3-haiku-20240307")  # known, unused, no limit: not listed
    RateLimit.objects.create(org=org, model=haiku, requests_per_minute=50)
    # Another organisation's limit on another model does not make that model ours.
    RateLimit.objects.create(org=other_org, model=factories.make_model("claude-opus-4-5"))
    listed = {m.model_id: limit for m, limit in selectors.models_for_limits(org)}
    assert set(listed) == {
        "claude-sonnet-4-5-20250929",
        "claude-opus-4-1-20250805",
        "claude-haiku-4-5-20251001",
    }
    assert listed["claude-haiku-4-5-20251001"].requests_per_minute == 50
    assert listed["claude-sonnet-4-5-20250929"] is None
