"""The record contract (usage/ingest/contract.py): a full record and the defaults, every
rejection rule, normalisation, and parsing bytes into records.
"""

import datetime as dt
import json
import math
from collections import Counter

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.models import ApiKey
from tests.usage.ingest.records import DROP, T0, rec, run, stored
from usage.ingest.contract import (
    MAX_COUNT,
    BodyError,
    CheckedRecord,
    Rejection,
    check_record,
    parse_body,
)
from usage.ingest.services import ingest_records
from usage.models import IngestBatch, RequestId, RequestLog, Series, request_digest

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("nudges")]


# --- a full record and the defaults -------------------------------------------------------


def test_full_record_is_stored_with_every_value(org, nudges, django_capture_on_commit_callbacks):
    record = {
        "request_id": "req_011CXy",
        "timestamp": "2026-11-03T14:05:09.123Z",
        "workspace_id": "wrkspc_01",
        "workspace_name": "Research",
        "api_key_id": "apikey_01",
        "api_key_name": "prod-backend",
        "account_id": "user_01H8",
        "account_name": "ada@example.com",
        "model": "claude-sonnet-4-5-20250929",
        "service_tier": "batch",
        "status_code": 200,
        "rate_limit_type": None,
        "usage": {
            "input_tokens": 1200,
            "output_tokens": 350,
            "cache_creation_input_tokens": 500,
            "cache_creation": {"ephemeral_5m_input_tokens": 400, "ephemeral_1h_input_tokens": 100},
            "cache_read_input_tokens": 3000,
            "server_tool_use": {"web_search_requests": 2},
        },
        "code_execution_seconds": 1.5,
        "some_future_field": {"ignored": True},
    }
    with django_capture_on_commit_callbacks(execute=True):
        result = run(org, record)
    assert (result.accepted, result.duplicates, result.rejected) == (1, 0, 0)
    assert stored(org) == [
        {
            "request_id": "req_011CXy",
            "timestamp": dt.datetime(2026, 11, 3, 14, 5, 9, 123000, tzinfo=dt.UTC),
            "workspace": "wrkspc_01",
            "api_key": "apikey_01",
            "account": "user_01H8",
            "model": "claude-sonnet-4-5-20250929",
            "service_tier": "batch",
            "context_window": "0-200k",
            "status_code": 200,
            "rate_limit_type": "",
            "uncached": 1200,
            "write_5m": 400,
            "write_1h": 100,
            "read": 3000,
            "output": 350,
            "web_search": 2,
            "code_ms": 1500,
        }
    ]
    batch = IngestBatch.objects.get(org=org)
    assert (batch.source, batch.accepted, batch.duplicates, batch.rejected) == ("http", 1, 0, 0)
    assert batch.rolled_up_at is None
    assert result.batch_ids == [batch.pk]
    assert RequestId.objects.filter(org=org, digest=request_digest("req_011CXy")).exists()
    assert nudges == [org.pk]


def test_defaults_of_a_minimal_record(org):
    result = run(org, {"request_id": "r1", "timestamp": T0, "model": "claude-haiku-4-5"})
    assert result.accepted == 1
    [row] = stored(org)
    assert row == {
        "request_id": "r1",
        "timestamp": dt.datetime(2026, 10, 1, 12, tzinfo=dt.UTC),
        "workspace": None,  # the Default workspace
        "api_key": None,  # usage without a key
        "account": None,  # nobody named
        "model": "claude-haiku-4-5",
        "service_tier": "standard",
        "context_window": "0-200k",
        "status_code": 200,
        "rate_limit_type": "",
        "uncached": 0,
        "write_5m": 0,
        "write_1h": 0,
        "read": 0,
        "output": 0,
        "web_search": 0,
        "code_ms": 0,
    }
    series = Series.objects.get(org=org)
    assert series.workspace.is_default and series.api_key is None and series.account is None


def test_nulls_mean_the_defaults(org):
    record = rec(
        workspace_id=None,
        api_key_id=None,
        account_id=None,
        account_name=None,
        service_tier=None,
        status_code=None,
        rate_limit_type=None,
        code_execution_seconds=None,
        usage={
            "input_tokens": None,
            "cache_creation_input_tokens": None,
            "cache_creation": None,
            "server_tool_use": None,
        },
    )
    assert run(org, record).accepted == 1
    row = stored(org)[0]
    assert (row["workspace"], row["api_key"], row["service_tier"], row["status_code"]) == (
        None,
        None,
        "standard",
        200,
    )
    assert row["account"] is None
    assert row["uncached"] == row["write_5m"] == row["code_ms"] == 0
    assert run(org, rec(usage=None)).accepted == 1


# --- every rejection rule -----------------------------------------------------------------


def future():
    return {"timestamp": (timezone.now() + dt.timedelta(minutes=6)).isoformat()}


REJECTIONS = [
    # (record or mutation, field, message fragment)
    ([1, 2], None, "is not a JSON object"),
    ("a string", None, "is not a JSON object"),
    (b"{not json", None, "is not valid JSON (JSON is malformed"),
    (b'{"request_id": "a\\ud800"}', None, "is not valid JSON ("),
    ({"request_id": DROP}, "request_id", "is required"),
    ({"request_id": ""}, "request_id", "must be a non-empty string of at most 255 characters"),
    ({"request_id": 42}, "request_id", "must be a non-empty string"),
    ({"request_id": "x" * 256}, "request_id", "at most 255 characters"),
    ({"request_id": "a\x00b"}, "request_id", "must be a non-empty string"),
    ({"request_id": "bad\ud800"}, "request_id", "must be a non-empty string"),
    ({"timestamp": DROP}, "timestamp", "is required"),
    ({"timestamp": "2026-10-01T12:00:00"}, "timestamp", "has no UTC offset"),
    ({"timestamp": "2026-10-01T12:00:00.250"}, "timestamp", "has no UTC offset"),
    (future, "timestamp", "is more than 5 minutes in the future"),
    ({"timestamp": "2026-10-01"}, "timestamp", "must be an RFC 3339 date-time"),
    ({"timestamp": "20261001T120000Z"}, "timestamp", "must be an RFC 3339 date-time"),
    ({"timestamp": "2026-10-01T12:00Z"}, "timestamp", "must be an RFC 3339 date-time"),
    ({"timestamp": "2026-10-01T12:00:00+0530"}, "timestamp", "must be an RFC 3339 date-time"),
    ({"timestamp": "yesterday"}, "timestamp", "must be an RFC 3339 date-time"),
    ({"timestamp": 1760000000}, "timestamp", "must be an RFC 3339 date-time"),
    ({"timestamp": "2026-02-30T12:00:00Z"}, "timestamp", "is not a valid date-time"),
    ({"timestamp": "0001-01-01T00:00:00+05:00"}, "timestamp", "is out of range"),
    ({"model": DROP}, "model", "is required"),
    ({"model": ""}, "model", "must be a non-empty string of at most 128 characters"),
    ({"model": ["claude"]}, "model", "must be a non-empty string"),
    ({"model": "claude\x00"}, "model", "must be a non-empty string"),
    ({"workspace_id": "w\x00"}, "workspace_id", "must be a non-empty string"),
    ({"api_key_id": "\x00k"}, "api_key_id", "must be a non-empty string"),
    ({"workspace_id": ""}, "workspace_id", "must be a non-empty string of at most 128"),
    ({"workspace_id": 7}, "workspace_id", "or null"),
    ({"api_key_id": ""}, "api_key_id", "must be a non-empty string of at most 128"),
    ({"api_key_id": "k" * 129}, "api_key_id", "at most 128 characters"),
    ({"workspace_name": 7}, "workspace_name", "must be a string or null"),
    ({"api_key_name": {"a": 1}}, "api_key_name", "must be a string or null"),
    ({"account_id": ""}, "account_id", "must be a non-empty string of at most 255 characters"),
    ({"account_id": "a" * 256}, "account_id", "at most 255 characters, or null"),
    ({"account_id": 42}, "account_id", "must be a non-empty string"),
    ({"account_id": "a\x00b"}, "account_id", "must be a non-empty string"),
    ({"account_id": "bad\ud800"}, "account_id", "must be a non-empty string"),
    ({"account_name": ["Ada"]}, "account_name", "must be a string or null"),
    ({"service_tier": "flex"}, "service_tier", "must be one of standard, batch, priority"),
    ({"service_tier": 1}, "service_tier", "must be one of standard, batch, priority"),
    ({"status_code": "200"}, "status_code", "must be an integer HTTP status code"),
    ({"status_code": 99}, "status_code", "must be an integer HTTP status code"),
    ({"status_code": 600}, "status_code", "must be an integer HTTP status code"),
    ({"status_code": 200.0}, "status_code", "must be an integer HTTP status code"),
    (
        {"status_code": 429, "rate_limit_type": "tokens"},
        "rate_limit_type",
        "must be one of requests, input_tokens, output_tokens, or null",
    ),
    (
        {"status_code": 200, "rate_limit_type": "requests"},
        "rate_limit_type",
        "is only allowed with status_code 429",
    ),
    ({"usage": [1]}, "usage", "must be an object"),
    ({"usage": {"cache_creation": 5}}, "usage.cache_creation", "must be an object"),
    ({"usage": {"server_tool_use": 5}}, "usage.server_tool_use", "must be an object"),
    (
        {
            "usage": {
                "cache_creation_input_tokens": 500,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": 300,
                    "ephemeral_1h_input_tokens": 100,
                },
            }
        },
        "usage.cache_creation_input_tokens",
        "is 500 but usage.cache_creation adds up to 400",
    ),
    ({"code_execution_seconds": -1}, "code_execution_seconds", "must be a non-negative number"),
    ({"code_execution_seconds": "3"}, "code_execution_seconds", "must be a non-negative number"),
    ({"code_execution_seconds": True}, "code_execution_seconds", "must be a non-negative number"),
    ({"code_execution_seconds": False}, "code_execution_seconds", "must be a non-negative number"),
    ({"code_execution_seconds": math.nan}, "code_execution_seconds", "non-negative number"),
    ({"code_execution_seconds": math.inf}, "code_execution_seconds", "non-negative number"),
]
COUNT_MESSAGE = "must be a non-negative integer (at most 1000000000000)"
COUNT_FIELDS = [
    ("input_tokens", "usage.input_tokens"),
    ("output_tokens", "usage.output_tokens"),
    ("cache_read_input_tokens", "usage.cache_read_input_tokens"),
    ("cache_creation_input_tokens", "usage.cache_creation_input_tokens"),
]
for key, path in COUNT_FIELDS:
    for bad in (-1, 1.5, 2.0, "5", True, MAX_COUNT + 1, 10**30):
        REJECTIONS.append(({"usage": {key: bad}}, path, "must be a non-negative integer"))
for key in ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"):
    REJECTIONS.append(
        (
            {"usage": {"cache_creation": {key: -5}}},
            f"usage.cache_creation.{key}",
            "must be a non-negative integer",
        )
    )
REJECTIONS.append(
    (
        {"usage": {"server_tool_use": {"web_search_requests": -1}}},
        "usage.server_tool_use.web_search_requests",
        "must be a non-negative integer",
    )
)


def _is_json(change: dict) -> bool:
    try:
        json.dumps(change, allow_nan=False, ensure_ascii=False).encode()
    except (TypeError, ValueError):  # DROP, NaN, infinities, lone surrogates: not JSON
        return False
    return True


@pytest.mark.parametrize(("change", "field", "message"), REJECTIONS)
def test_rejection_names_position_request_id_field_and_reason(org, change, field, message):
    if callable(change):
        change = change()
    bad = rec(**change) if isinstance(change, dict) else change
    good = rec()
    result = run(org, good, bad)
    assert (result.accepted, result.duplicates, result.rejected) == (1, 0, 1)
    [rejection] = result.rejections
    assert rejection.position == 1
    assert rejection.field == field
    assert message in rejection.message
    expected_id = bad.get("request_id") if isinstance(bad, dict) else None
    assert rejection.request_id == (expected_id if isinstance(expected_id, str) else None)
    # The valid record of the same batch is stored, the rejected one is not.
    assert [r["request_id"] for r in stored(org)] == [good["request_id"]]
    assert IngestBatch.objects.get(org=org).rejected == 1


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (change, field, message)
        for change, field, message in REJECTIONS
        if isinstance(change, dict) and _is_json(change)
    ],
)
def test_json_text_gets_the_same_rejection_as_the_parsed_record(org, change, field, message):
    """A line of JSON (decoded straight into the schema) is refused with the same words."""
    bad = rec(**change)
    good = rec()
    result = run(org, json.dumps(good).encode(), json.dumps(bad).encode())
    assert (result.accepted, result.duplicates, result.rejected) == (1, 0, 1)
    [rejection] = result.rejections
    assert (rejection.position, rejection.field) == (1, field)
    assert message in rejection.message
    expected_id = bad.get("request_id")
    assert rejection.request_id == (expected_id if isinstance(expected_id, str) else None)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"usage": {"output_tokens": -1}}, "usage.output_tokens", COUNT_MESSAGE),
        ({"usage": {"input_tokens": 1.0}}, "usage.input_tokens", COUNT_MESSAGE),
        ({"status_code": True}, "status_code", "must be an integer HTTP status code (100-599)"),
        ({"request_id": None}, "request_id", "is required"),
        ({"timestamp": None}, "timestamp", "is required"),
        ({"model": 5}, "model", "must be a non-empty string of at most 128 characters"),
        (
            {"workspace_id": ""},
            "workspace_id",
            "must be a non-empty string of at most 128 characters, or null",
        ),
        ({"usage": {"cache_creation": []}}, "usage.cache_creation", "must be an object"),
    ],
)
def test_rejection_reasons_word_for_word(org, change, field, message):
    [rejection] = run(org, rec(**change)).rejections
    assert (rejection.field, rejection.message) == (field, message)


def test_null_cache_breakdown_fields_are_a_breakdown_of_zero(org):
    """Only an empty ``cache_creation`` says nothing; named fields, even null, must add up."""
    usage = {
        "cache_creation_input_tokens": 5,
        "cache_creation": {"ephemeral_5m_input_tokens": None},
    }
    [rejection] = run(org, rec(usage=usage)).rejections
    assert (rejection.field, rejection.message) == (
        "usage.cache_creation_input_tokens",
        "is 5 but usage.cache_creation adds up to 0",
    )


def test_the_checked_record_is_named():
    checked = check_record(rec(usage={"input_tokens": 7}), timezone.now())
    assert isinstance(checked, CheckedRecord)
    assert (checked.uncached_input_tokens, checked.status_code, checked.rate_limit_type) == (
        7,
        200,
        "",
    )
    assert checked.dimensions == (None, None, "claude-sonnet-4-5", "standard", "0-200k", None)
    assert checked.account_name is None


def test_describe_names_the_line_request_id_and_field():
    rejection = Rejection(7, "req_1", "usage.output_tokens", "must be a non-negative integer")
    assert rejection.describe("line") == (
        "line 7 (request_id 'req_1'): usage.output_tokens: must be a non-negative integer"
    )
    assert Rejection(3, None, None, "is not a JSON object").describe("index") == (
        "index 3: is not a JSON object"
    )


def test_a_timestamp_just_under_five_minutes_ahead_is_accepted(org):
    soon = (timezone.now() + dt.timedelta(minutes=4)).isoformat()
    assert run(org, rec(timestamp=soon)).accepted == 1


# --- normalisation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-10-01T17:30:00+05:30", dt.datetime(2026, 10, 1, 12, 0, tzinfo=dt.UTC)),
        ("2026-10-01T17:45:00.5+05:45", dt.datetime(2026, 10, 1, 12, 0, 0, 500000, tzinfo=dt.UTC)),
        ("2026-10-01T07:00:00-05:00", dt.datetime(2026, 10, 1, 12, 0, tzinfo=dt.UTC)),
        ("2026-10-01t12:00:00z", dt.datetime(2026, 10, 1, 12, 0, tzinfo=dt.UTC)),
        ("2026-10-01 12:00:00Z", dt.datetime(2026, 10, 1, 12, 0, tzinfo=dt.UTC)),
        (
            "2026-10-01T12:00:00.123456789Z",  # nanoseconds: microseconds are kept
            dt.datetime(2026, 10, 1, 12, 0, 0, 123456, tzinfo=dt.UTC),
        ),
        ("1999-12-31T23:59:59-01:00", dt.datetime(2000, 1, 1, 0, 59, 59, tzinfo=dt.UTC)),
    ],
)
def test_timestamps_with_any_offset_are_stored_in_utc(org, text, utc):
    assert run(org, rec(timestamp=text)).accepted == 1
    assert RequestLog.objects.get(org=org).timestamp == utc


@pytest.mark.parametrize(
    ("usage", "write_5m", "write_1h"),
    [
        ({"cache_creation_input_tokens": 700}, 700, 0),  # the total alone: 5-minute writes
        ({"cache_creation": {"ephemeral_1h_input_tokens": 300}}, 0, 300),
        (
            {
                "cache_creation_input_tokens": 900,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": 600,
                    "ephemeral_1h_input_tokens": 300,
                },
            },
            600,
            300,
        ),
        ({"cache_creation_input_tokens": 50, "cache_creation": {}}, 50, 0),  # empty: no breakdown
        ({}, 0, 0),
    ],
)
def test_cache_writes_from_total_and_breakdown(org, usage, write_5m, write_1h):
    assert run(org, rec(usage=usage)).accepted == 1
    row = stored(org)[0]
    assert (row["write_5m"], row["write_1h"]) == (write_5m, write_1h)


@pytest.mark.parametrize(
    ("usage", "window"),
    [
        ({"input_tokens": 200_000}, "0-200k"),
        ({"input_tokens": 200_001}, "200k-1M"),
        (
            {
                "input_tokens": 50_000,
                "cache_creation_input_tokens": 50_000,
                "cache_read_input_tokens": 100_000,
            },
            "0-200k",
        ),
        (
            {
                "input_tokens": 1,
                "cache_creation": {"ephemeral_1h_input_tokens": 100_000},
                "cache_read_input_tokens": 100_000,
                "output_tokens": 900_000,  # output does not count towards the window
            },
            "200k-1M",
        ),
    ],
)
def test_context_window_from_all_input(org, usage, window):
    assert run(org, rec(usage=usage)).accepted == 1
    assert stored(org)[0]["context_window"] == window


@pytest.mark.parametrize(
    ("seconds", "millis"), [(0, 0), (0.0, 0), (2, 2000), (1.25, 1250), (0.0004, 0), (3.0006, 3001)]
)
def test_code_execution_seconds_become_integer_milliseconds(org, seconds, millis):
    assert run(org, rec(code_execution_seconds=seconds)).accepted == 1
    assert RequestLog.objects.get(org=org).code_execution_ms == millis


def test_rate_limited_requests_keep_their_limit_type(org):
    result = run(
        org,
        rec(status_code=429, rate_limit_type="input_tokens"),
        rec(status_code=429),
        rec(status_code=500),
    )
    assert result.accepted == 3
    assert sorted((r["status_code"], r["rate_limit_type"]) for r in stored(org)) == [
        (429, ""),
        (429, "input_tokens"),
        (500, ""),
    ]


# --- parsing bytes ------------------------------------------------------------------------


def test_parse_body_json_array_positions_are_indexes():
    label, pairs = parse_body(b' [{"a": 1}, 2, "x"]')
    assert label == "index"
    assert [(position, bytes(text)) for position, text in pairs] == [
        (0, b'{"a": 1}'),
        (1, b"2"),
        (2, b'"x"'),
    ]


def test_parse_body_ndjson_positions_are_line_numbers_and_blank_lines_are_skipped():
    label, pairs = parse_body(b'{"a": 1}\n\n  \n{"b": 2}\r\nnot json\n[1]\n')
    assert label == "line"
    assert list(pairs) == [(1, b'{"a": 1}'), (4, b'{"b": 2}\r'), (5, b"not json"), (6, b"[1]")]


def test_ndjson_lines_are_rejected_one_by_one(org):
    good = json.dumps(rec()).encode()
    _, pairs = parse_body(b"\n".join([good, b"", b"not json", b'{"a": "\xff"}', b"[1]", b"\t"]))
    result = ingest_records(org, pairs, source="http")
    assert result.accepted == 1
    assert [(r.position, r.field) for r in result.rejections] == [(3, None), (4, None), (5, None)]
    assert result.rejections[0].message.startswith("is not valid JSON (")
    assert result.rejections[1].message.startswith("is not valid JSON (")
    assert result.rejections[2].message == "is not a JSON object"


@pytest.mark.parametrize(
    "body", [b"", b"  \n ", b"[1, 2", b'[{"a": 1}] trailing', b'[{"a": "\xff"}]']
)
def test_parse_body_unreadable(body):
    with pytest.raises(BodyError):
        parse_body(body)


def test_positions_from_an_ndjson_body_reach_the_rejections(org):
    _, pairs = parse_body(b'\n{"request_id": "a", "timestamp": "x", "model": "m"}\n')
    result = ingest_records(org, pairs, source="http")
    assert [(r.position, r.request_id, r.field) for r in result.rejections] == [
        (2, "a", "timestamp")
    ]


# --- property: arbitrary valid records round-trip their counts ----------------------------

HOURS_3 = dt.timedelta(hours=3)
COUNT_KEYS = ("input_tokens", "output_tokens", "cache_read_input_tokens")
valid_records = st.fixed_dictionaries(
    {
        "request_id": st.sampled_from([f"r{i}" for i in range(12)]),
        "timestamp": st.datetimes(
            min_value=dt.datetime(2000, 1, 1),
            max_value=dt.datetime(2026, 1, 1),
            timezones=st.sampled_from(
                [
                    dt.UTC,
                    dt.timezone(dt.timedelta(hours=5, minutes=45)),
                    dt.timezone(-dt.timedelta(hours=3)),
                ]
            ),
        ).map(lambda d: d.isoformat()),
        "model": st.sampled_from(["claude-a", "claude-b"]),
        "workspace_id": st.sampled_from([None, "w1", "w2"]),
        "service_tier": st.sampled_from(["standard", "batch", "priority"]),
        "usage": st.fixed_dictionaries(
            {key: st.integers(0, 300_000) for key in COUNT_KEYS},
            optional={
                "cache_creation": st.fixed_dictionaries(
                    {
                        "ephemeral_5m_input_tokens": st.integers(0, 10_000),
                        "ephemeral_1h_input_tokens": st.integers(0, 10_000),
                    }
                )
            },
        ),
        "code_execution_seconds": st.integers(0, 100) | st.floats(0, 100),
    },
    optional={"api_key_id": st.sampled_from(["k1", "k2"]), "junk": st.text(max_size=5)},
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(st.lists(valid_records, max_size=15), min_size=1, max_size=4))
def test_valid_records_round_trip_their_counts(org, batches):
    # Keys belong to one workspace: derive it so that every record is valid.
    RequestLog.objects.filter(org=org).delete()
    RequestId.objects.filter(org=org).delete()
    ApiKey.objects.filter(org=org).delete()
    first_copy = {}
    claims = {}
    expected = Counter()
    accepted = duplicates = 0
    for records in batches:
        for record in records:
            if "api_key_id" in record:
                record["workspace_id"] = claims.setdefault(
                    record["api_key_id"], record["workspace_id"]
                )
        result = run(org, *records)
        assert result.rejected == 0, result.rejections
        for record in records:
            if record["request_id"] in first_copy:
                duplicates += 1
                continue
            first_copy[record["request_id"]] = record
            accepted += 1
            usage = record["usage"]
            expected["uncached"] += usage["input_tokens"]
            expected["output"] += usage["output_tokens"]
            expected["read"] += usage["cache_read_input_tokens"]
            expected["write_1h"] += usage.get("cache_creation", {}).get(
                "ephemeral_1h_input_tokens", 0
            )
        assert result.accepted + result.duplicates == len(records)
    rows = stored(org)
    assert len(rows) == accepted == len(first_copy)
    assert RequestId.objects.filter(org=org).count() == accepted
    totals = Counter()
    for row in rows:
        for key in ("uncached", "output", "read", "write_1h"):
            totals[key] += row[key]
        original = first_copy[row["request_id"]]
        assert row["timestamp"] == dt.datetime.fromisoformat(original["timestamp"])
        assert row["workspace"] == original["workspace_id"]
        assert row["api_key"] == original.get("api_key_id")
    assert +totals == +expected
    assert duplicates == sum(len(b) for b in batches) - accepted
