"""Property: whatever the sequence of batches, duplicates, late rows, reruns and rebuilds,
every bucket at every level equals an independent aggregate of the raw rows.

Records go through the real ingest service (so duplicates are refused by RequestId, as in
production); rollups run with tiny row budgets so one sequence spans many transactions.
Runs on SQLite and PostgreSQL alike.
"""

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories
from tests.usage.rawrows import (
    expected_buckets,
    expected_model_buckets,
    raw_rows_of,
    stored_buckets,
    stored_model_buckets,
)
from usage import rollups
from usage.ingest.services import ingest_records
from usage.models import IngestBatch, RequestLog

NOW = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
ZONES = [
    dt.UTC,
    dt.timezone(dt.timedelta(hours=5, minutes=45)),
    dt.timezone(-dt.timedelta(hours=3)),
]
MODELS = ["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"]
_orgs = iter(range(10**9))

records = st.builds(
    lambda rid, ago, zone, model, key, tier, usage, limited, account: {
        "request_id": f"r{rid}",
        # Up to ten days back (late rows), now and then years back (older than retention).
        "timestamp": (NOW - ago).astimezone(zone).isoformat(),
        "model": model,
        "api_key_id": key,
        "service_tier": tier,
        "usage": usage,
        **({"status_code": 429, "rate_limit_type": limited} if limited else {}),
        **({"account_id": account} if account else {}),
    },
    rid=st.integers(0, 40),  # a small pool, so request ids repeat: duplicates
    ago=st.one_of(
        st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=10)),
        st.sampled_from([dt.timedelta(days=800), dt.timedelta(days=3000, seconds=7)]),
    ),
    zone=st.sampled_from(ZONES),
    model=st.sampled_from(MODELS),
    key=st.sampled_from([None, "apikey_a", "apikey_b"]),
    tier=st.sampled_from(["standard", "batch", "priority"]),
    usage=st.fixed_dictionaries(
        {
            "input_tokens": st.integers(0, 10**6),
            "output_tokens": st.integers(0, 10**5),
            "cache_read_input_tokens": st.integers(0, 10**5),
            "cache_creation": st.fixed_dictionaries(
                {
                    "ephemeral_5m_input_tokens": st.integers(0, 5000),
                    "ephemeral_1h_input_tokens": st.integers(0, 5000),
                }
            ),
            "server_tool_use": st.fixed_dictionaries({"web_search_requests": st.integers(0, 3)}),
        }
    ),
    limited=st.sampled_from([None, None, None, "requests", "input_tokens", "output_tokens"]),
    account=st.sampled_from([None, "alice@example.com", "svc-batch"]),
)

days_back = st.integers(0, 11)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("ingest"), st.lists(records, min_size=1, max_size=8)),
        st.tuples(st.just("rollup"), st.integers(1, 12)),  # row budget per transaction
        st.tuples(st.just("rerun"), st.none()),
        st.tuples(st.just("rebuild"), st.tuples(days_back, st.integers(1, 4))),
    ),
    min_size=1,
    max_size=8,
)


def _rolled_up_rows(org):
    done = IngestBatch.objects.filter(org=org, rolled_up_at__isnull=False).values("id")
    return list(RequestLog.objects.filter(org=org, batch_id__in=done))


def _assert_buckets_equal(org, rows):
    for unit in ("minute", "hour", "day"):
        assert stored_buckets(org, unit) == expected_buckets(rows, unit), unit
    for unit in ("hour", "day"):  # the same usage without key and account
        assert stored_model_buckets(org, unit) == expected_model_buckets(rows, unit), unit


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
def test_buckets_always_equal_the_raw_rows_of_rolled_up_batches(db, ops):
    org = factories.make_org(f"prop-{next(_orgs)}")
    accepted: dict[str, dict] = {}
    for op, arg in ops:
        if op == "ingest":
            result = ingest_records(org, enumerate(arg), source="http")
            assert result.rejected == 0, result.rejections
            for record in arg:
                accepted.setdefault(record["request_id"], record)  # the first one wins
        elif op == "rollup":
            rollups.rollup_pending(org_id=org.id, row_budget=arg)
        elif op == "rerun":  # a second run right after the first finds nothing to add
            rollups.rollup_pending(org_id=org.id)
            assert rollups.rollup_pending(org_id=org.id) == 0
        else:
            back, length = arg
            since = (NOW - dt.timedelta(days=back)).date()
            rollups.rebuild_rollups(org.id, since, since + dt.timedelta(days=length))
        # The invariant holds after every step, pending batches or not.
        _assert_buckets_equal(org, _rolled_up_rows(org))

    rollups.rollup_pending(org_id=org.id)

    rows = raw_rows_of(org)
    _assert_buckets_equal(org, rows)
    # Duplicates were refused: exactly one raw row per distinct request id, the first seen.
    assert sorted(r.request_id for r in rows) == sorted(accepted)
    by_id = {r.request_id: r for r in rows}
    for request_id, record in accepted.items():
        row = by_id[request_id]
        assert row.output_tokens == record["usage"]["output_tokens"]
        assert row.timestamp == dt.datetime.fromisoformat(record["timestamp"])
        assert row.status_code == record.get("status_code", 200)
