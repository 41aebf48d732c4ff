"""Property: whatever the sequence of batches, duplicates, late rows, reruns and rebuilds,
every bucket at every level equals an independent aggregate of the raw rows; with accounts,
the base family holds account-free series only, the account day buckets every series as
logged, and every read by or of accounts (days from buckets, finer pieces from raw rows)
equals the raw rows of rolled-up batches, a pending batch counted nowhere.

Records go through the real ingest service (so duplicates are refused by RequestId, as in
production); rollups run with tiny row budgets so one sequence spans many transactions.
Runs on SQLite and PostgreSQL alike.
"""

import bisect
import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console import timeslice
from console.models import Account
from tests import factories
from tests.usage.rawrows import (
    expected_buckets,
    expected_model_buckets,
    raw_rows_of,
    stored_buckets,
    stored_model_buckets,
)
from usage import rollups, selectors
from usage.ingest.services import ingest_records
from usage.models import DayBucket, HourBucket, IngestBatch, MinuteBucket, RequestLog
from usage.rollups import COUNT_COLUMNS
from usage.selectors import Scope

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


@dataclass(frozen=True)
class _Span:
    start: dt.datetime
    end: dt.datetime


def _rolled_up_rows(org):
    done = IngestBatch.objects.filter(org=org, rolled_up_at__isnull=False).values("id")
    return list(RequestLog.objects.filter(org=org, batch_id__in=done).select_related("series"))


def _assert_buckets_equal(org, rows):
    for unit in ("minute", "quarter", "hour", "day"):
        assert stored_buckets(org, unit) == expected_buckets(rows, unit), unit
    for unit in ("quarter", "hour", "day"):  # the same usage without key and account
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


# The same records, each with no account or one of two people (a duplicate may name another
# person than the record it repeats; the first one wins, account included).
records_with_accounts = st.tuples(records, st.sampled_from([None, "u_ada", "u_bob"])).map(
    lambda pair: {**pair[0], **({"account_id": pair[1]} if pair[1] else {})}
)
operations_with_accounts = st.lists(
    st.one_of(
        st.tuples(st.just("ingest"), st.lists(records_with_accounts, min_size=1, max_size=8)),
        st.tuples(st.just("rollup"), st.integers(1, 12)),
        st.tuples(st.just("rebuild"), st.tuples(days_back, st.integers(1, 4))),
    ),
    min_size=1,
    max_size=8,
)
READ_ZONES = [ZoneInfo("UTC"), ZoneInfo("Asia/Kolkata")]


def _assert_families_equal(org, rows):
    """The base family holds account-free series only, each the sum of its account series;
    the account day buckets hold every series as logged."""
    _assert_buckets_equal(org, rows)
    for model in (MinuteBucket, HourBucket, DayBucket):
        assert not model.objects.filter(org=org, series__account__isnull=False).exists()
    assert stored_buckets(org, "day", family="account") == expected_buckets(
        rows, "day", family="account"
    )


def _local_periods(zone):
    """Consecutive local days around the records, the hours of one day, the minutes of one
    hour (each as the selectors take them)."""
    today = NOW.astimezone(zone).date()
    days = [
        _Span(*timeslice.day_bounds(today - dt.timedelta(days=n), zone)) for n in range(11, -2, -1)
    ]
    hours = timeslice.hours_of_day(today - dt.timedelta(days=1), zone)
    minutes = timeslice.minutes_of_hour(hours[NOW.hour], zone)
    return {"month": days, "day": hours, "hour": minutes}


def _independent(rows, periods, account_ids, group_by):
    """{(period, group): {column: sum}} of raw rows, by a plain search for each row's span."""
    starts = [p.start for p in periods]
    out: dict = defaultdict(Counter)
    for r in rows:
        i = bisect.bisect_right(starts, r.timestamp) - 1
        if i < 0 or r.timestamp >= periods[i].end:
            continue
        if account_ids is not None and r.series.account_id not in account_ids:
            continue
        values = {"account": r.series.account_id, "model": r.series.model_id}
        c = out[(i, tuple(values[d] for d in group_by))]
        c["requests"] += 1
        c["rate_limited_requests"] += r.status_code == 429
        for column in COUNT_COLUMNS:
            c[column] += getattr(r, column)
    return {k: {c: n for c, n in v.items() if n} for k, v in out.items()}


def _read(scope, periods, group_by):
    return {
        (row["period"], row["group"]): {
            c: row[c] for c in ("requests", "rate_limited_requests", *COUNT_COLUMNS) if row[c]
        }
        for row in selectors.usage_by_period(scope, periods, group_by)
    }


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations_with_accounts, pending=st.lists(records_with_accounts, max_size=5))
def test_both_families_and_every_read_equal_the_raw_rows_of_rolled_up_batches(db, ops, pending):
    org = factories.make_org(f"prop-{next(_orgs)}")
    for op, arg in ops:
        if op == "ingest":
            result = ingest_records(org, enumerate(arg), source="http")
            assert result.rejected == 0, result.rejections
        elif op == "rollup":
            rollups.rollup_pending(org_id=org.id, row_budget=arg)
        else:
            back, length = arg
            since = (NOW - dt.timedelta(days=back)).date()
            rollups.rebuild_rollups(org.id, since, since + dt.timedelta(days=length))
        _assert_families_equal(org, _rolled_up_rows(org))
    rollups.rollup_pending(org_id=org.id)
    # A batch left pending: neither the buckets nor the raw-row part of a read count it.
    if pending:
        ingest_records(org, enumerate(pending), source="http")
    rows = _rolled_up_rows(org)
    _assert_families_equal(org, rows)

    people = dict(Account.objects.filter(org=org).values_list("external_id", "pk"))
    ada = people.get("u_ada", -1)
    scopes = [None, (ada,), tuple(people.values())]
    for zone in READ_ZONES:
        for level, periods in _local_periods(zone).items():
            for account_ids in scopes:
                scope = Scope(org.id, account_ids=account_ids)
                for group_by in [(), ("account",), ("model", "account")]:
                    got = _read(scope, periods, group_by)
                    want = _independent(rows, periods, account_ids, group_by)
                    assert got == want, (zone, level, account_ids, group_by)
