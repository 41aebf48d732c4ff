"""From OTLP items to records of the contract: Claude Code's events and GenAI spans."""

import json

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue

from tests.usage.ingest.otlp import (
    SPAN_ID,
    T0_NANOS,
    TRACE_ID,
    api_request,
    genai_span,
    logs_request,
    traces_request,
)
from usage.ingest.sources import otlp
from usage.ingest.sources.claude_code import map_logs
from usage.ingest.sources.genai import map_spans


def one_log(*records, resource=None) -> dict:
    """The record of the only item, which must have been mapped."""
    mapped = map_logs(logs_request(*records, resource=resource))
    (item,) = mapped.items
    assert item.rejection is None, item.rejection.message
    return item.record


def one_span(*spans, resource=None, scope="opentelemetry.instrumentation.anthropic") -> dict:
    mapped = map_spans(traces_request(*spans, resource=resource, scope=scope))
    (item,) = mapped.items
    assert item.rejection is None, item.rejection.message
    return item.record


def rejection_of(mapped) -> tuple[str, str]:
    (item,) = mapped.items
    assert item.record is None
    return item.rejection.source, item.rejection.message


# --- values as they come ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, number",
    [
        (AnyValue(int_value=12), 12),
        (AnyValue(double_value=12.0), 12),
        (AnyValue(string_value="12"), 12),
        (AnyValue(string_value=" 12 "), 12),
        (AnyValue(string_value="12.0"), 12),
        (AnyValue(), None),
    ],
)
def test_a_count_may_be_an_int_an_integral_double_or_a_numeric_string(value, number):
    assert otlp.count({"n": value}, "n") == number
    assert otlp.count({}, "n") is None


@pytest.mark.parametrize(
    "value, message",
    [
        (AnyValue(int_value=-1), "must not be negative (-1)"),
        (AnyValue(string_value="-1"), "must not be negative (-1)"),
        (AnyValue(double_value=1.5), "must be a whole number, not 1.5"),
        (AnyValue(double_value=float("nan")), "must be a whole number, not nan"),
        (AnyValue(string_value="1.5"), "must be a whole number, not '1.5'"),
        (AnyValue(string_value="twelve"), "must be a number, not 'twelve'"),
        (AnyValue(string_value="NaN"), "must be a whole number, not 'NaN'"),
        (AnyValue(string_value="1e13"), "must be at most 1000000000000"),
        (AnyValue(int_value=10**13), "must be at most 1000000000000"),
        (
            AnyValue(bool_value=True),
            "must be a number (intValue, doubleValue or a numeric stringValue)",
        ),
        (
            AnyValue(array_value=ArrayValue()),
            "must be a number (intValue, doubleValue or a numeric stringValue)",
        ),
    ],
)
def test_a_bad_count_is_rejected_naming_the_attribute(value, message):
    with pytest.raises(otlp.Invalid) as caught:
        otlp.count({"output_tokens": value}, "output_tokens")
    assert (caught.value.source, caught.value.message) == ("attribute output_tokens", message)


# --- Claude Code --------------------------------------------------------------------------


def test_an_api_request_event_is_a_record():
    assert one_log(api_request()) == {
        "request_id": "req_011a",
        "timestamp": "2026-11-03T14:05:09.123Z",
        "model": "claude-sonnet-4-5",
        "workspace_id": "claude-code",
        "workspace_name": "Claude Code",
        "account_id": "uuid-ada",
        "account_name": "ada@example.com",
        "status_code": 200,
        "usage": {
            "input_tokens": 120,
            "output_tokens": 35,
            "cache_read_input_tokens": 3000,
            "cache_creation_input_tokens": 500,
        },
        "client_cost_usd": 0.0123,  # Claude Code's own estimate, kept beside our pricing
    }


@pytest.mark.parametrize(
    "value, dollars",
    [
        (AnyValue(double_value=0.0123), 0.0123),
        (AnyValue(string_value="0.0123"), 0.0123),  # Claude Code sends numbers as strings
        (AnyValue(int_value=2), 2.0),
    ],
)
def test_the_cost_estimate_is_read_in_each_number_form(value, dollars):
    assert otlp.dollars({"cost_usd": value}, "cost_usd") == dollars


@pytest.mark.parametrize(
    "value", [AnyValue(double_value=-0.5), AnyValue(string_value="lots"), AnyValue(bool_value=True)]
)
def test_a_bad_cost_estimate_is_rejected_naming_the_attribute(value):
    with pytest.raises(otlp.Invalid) as caught:
        otlp.dollars({"cost_usd": value}, "cost_usd")
    assert caught.value.source == "attribute cost_usd"


def test_the_account_prefers_the_admin_api_account_id_then_the_uuid_then_the_email():
    assert one_log(api_request(**{"user.account_id": "user_01ada"}))["account_id"] == "user_01ada"
    assert one_log(api_request())["account_id"] == "uuid-ada"
    record = one_log(api_request(**{"user.account_uuid": None}))
    assert (record["account_id"], record["account_name"]) == ("ada@example.com", "ada@example.com")
    record = one_log(api_request(**{"user.account_uuid": None, "user.email": None}))
    assert (record["account_id"], record["account_name"]) == (None, None)


def test_standard_attributes_may_come_on_the_resource():
    record = one_log(
        api_request(**{"user.account_uuid": None, "user.email": None}),
        resource={"user.account_uuid": "uuid-bo", "user.email": "bo@example.com"},
    )
    assert (record["account_id"], record["account_name"]) == ("uuid-bo", "bo@example.com")


def test_resource_attributes_name_the_workspace_and_the_api_key():
    record = one_log(
        api_request(),
        resource={
            "meterboard.workspace.id": "wrkspc_platform",
            "meterboard.workspace.name": "Platform",
            "meterboard.api_key.name": "laptops",
        },
    )
    assert (record["workspace_id"], record["workspace_name"]) == ("wrkspc_platform", "Platform")
    assert (record["api_key_id"], record["api_key_name"]) == ("laptops", "laptops")
    assert "api_key_id" not in one_log(api_request())


def test_without_request_id_the_id_is_a_digest_of_session_event_and_sequence():
    first = one_log(api_request(request_id=None))["request_id"]
    assert first.startswith("cc-") and len(first) == 67
    # The same event re-sent (another batch, another export time) keeps its id...
    again = api_request(request_id=None, input_tokens="1")
    again.observed_time_unix_nano = T0_NANOS + 5
    assert one_log(again)["request_id"] == first
    # ...and the next event of the session, or another session, gets another.
    assert one_log(api_request(request_id=None, **{"event.sequence": 2}))["request_id"] != first
    assert one_log(api_request(request_id=None, **{"session.id": "s2"}))["request_id"] != first


def test_without_session_the_id_is_a_digest_of_the_whole_event():
    bare = {"request_id": None, "session.id": None, "event.sequence": None}
    first = one_log(api_request(**bare))["request_id"]
    assert first.startswith("cc-")
    assert one_log(api_request(**bare))["request_id"] == first
    assert one_log(api_request(**bare, output_tokens="36"))["request_id"] != first


def test_without_event_timestamp_the_time_is_the_records_in_nanoseconds():
    record = api_request(**{"event.timestamp": None})
    record.time_unix_nano = T0_NANOS + 123_456_789
    assert one_log(record)["timestamp"] == "2026-11-03T14:05:09.123456789Z"
    record.time_unix_nano = 0
    record.observed_time_unix_nano = T0_NANOS
    assert one_log(record)["timestamp"] == "2026-11-03T14:05:09.000000000Z"
    record.observed_time_unix_nano = 0
    assert rejection_of(map_logs(logs_request(record))) == (
        "field time_unix_nano",
        "is required (no event.timestamp either)",
    )


@pytest.mark.parametrize("how", ["event_name", "body", "event.name"])
def test_the_event_is_recognised_by_its_name_its_body_or_event_name(how):
    record = api_request()
    if how != "event_name":
        record.event_name = ""
    if how != "body":
        record.body.Clear()
    if how != "event.name":
        del record.attributes[0]  # event.name
    assert one_log(record)["request_id"] == "req_011a"


def test_an_api_error_with_429_is_a_rate_limited_request():
    error = api_request(**{"event.name": "api_error", "status_code": 429, "error": "rate limit"})
    error.event_name = "claude_code.api_error"
    record = one_log(error)
    assert record["status_code"] == 429
    assert "usage" not in record


def test_other_events_and_errors_without_status_are_skipped_and_counted():
    prompt = api_request(**{"event.name": "user_prompt"})
    prompt.event_name = "claude_code.user_prompt"
    no_status = api_request(**{"event.name": "api_error", "error": "ECONNRESET"})
    no_status.event_name = "claude_code.api_error"
    mapped = map_logs(logs_request(prompt, no_status, prompt))
    assert mapped.items == []
    assert mapped.skipped == {
        "log records that are not Claude Code API events": 2,
        "claude_code.api_error events without status_code (no HTTP answer)": 1,
    }


# --- GenAI spans --------------------------------------------------------------------------


def test_a_chat_span_is_a_record_with_uncached_input_the_difference():
    assert one_span(genai_span(), resource={"user.id": "u-7", "user.email": "cy@example.com"}) == {
        "request_id": "msg_01",
        "timestamp": "2026-11-03T14:05:09.000000000Z",
        "model": "claude-sonnet-4-5",
        "account_id": "u-7",
        "account_name": "cy@example.com",
        "status_code": 200,
        "usage": {
            "input_tokens": 120,
            "output_tokens": 80,
            "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 500,
        },
    }


def test_the_older_attribute_names_are_read():
    span = genai_span(
        **{
            "gen_ai.provider.name": None,
            "gen_ai.system": "anthropic",
            "gen_ai.usage.input_tokens": None,
            "gen_ai.usage.output_tokens": None,
            "gen_ai.usage.cache_read.input_tokens": None,
            "gen_ai.usage.cache_creation.input_tokens": None,
            "gen_ai.usage.prompt_tokens": 300,
            "gen_ai.usage.completion_tokens": 12,
            "gen_ai.usage.cache_read_input_tokens": 200,
            "gen_ai.usage.cache_creation_input_tokens": 50,
        }
    )
    assert one_span(span)["usage"] == {
        "input_tokens": 50,
        "output_tokens": 12,
        "cache_read_input_tokens": 200,
        "cache_creation_input_tokens": 50,
    }


def test_the_response_model_wins_and_other_providers_come_through():
    span = genai_span(
        **{
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.cache_creation.input_tokens": None,
        }
    )
    record = one_span(span)
    assert record["model"] == "gpt-4o-2024-08-06"
    assert record["usage"]["input_tokens"] == 620


def test_openlit_sends_anthropics_uncached_input():
    span = genai_span(**{"gen_ai.usage.input_tokens": 120})
    record = one_span(span, resource={"telemetry.sdk.name": "openlit"})
    assert record["usage"]["input_tokens"] == 120
    assert one_span(span, scope="openlit.otel.tracing")["usage"]["input_tokens"] == 120


def test_logfire_raw_usage_gives_the_uncached_input_and_the_cache_split():
    raw = {
        "input_tokens": 120,
        "output_tokens": 80,
        "cache_read_input_tokens": 1000,
        "cache_creation_input_tokens": 500,
        "cache_creation": {"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 300},
    }
    span = genai_span(
        **{
            "gen_ai.usage.cache_read.input_tokens": None,
            "gen_ai.usage.cache_creation.input_tokens": None,
            "gen_ai.usage.raw": json.dumps(raw),
        }
    )
    assert one_span(span)["usage"] == {
        "input_tokens": 120,
        "output_tokens": 80,
        "cache_read_input_tokens": 1000,
        "cache_creation_input_tokens": 500,
        "cache_creation": {"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 300},
    }
    bad = genai_span(**{"gen_ai.usage.raw": '{"input_tokens": -1}'})
    source, message = rejection_of(map_spans(traces_request(bad)))
    assert source == "attribute gen_ai.usage.raw"
    assert message.startswith("is not Anthropic's usage object")


def test_input_below_its_cache_tokens_is_rejected_naming_the_attribute():
    span = genai_span(**{"gen_ai.usage.input_tokens": "1499"})
    assert rejection_of(map_spans(traces_request(span))) == (
        "attribute gen_ai.usage.input_tokens",
        "is 1499, less than the cache reads and writes it includes (1500)",
    )


@pytest.mark.parametrize(
    "error",
    [
        {"error.type": "RateLimitError"},
        {"error.type": "rate_limit_error"},
        {"error.type": "429"},
        {"error.type": "rate_limited"},
        {"http.response.status_code": 429},
    ],
)
def test_a_rate_limit_error_is_a_429_without_usage(error):
    span = genai_span(
        **{
            "gen_ai.response.id": None,
            "gen_ai.usage.input_tokens": None,
            "gen_ai.usage.output_tokens": None,
            "gen_ai.usage.cache_read.input_tokens": None,
            "gen_ai.usage.cache_creation.input_tokens": None,
            **error,
        }
    )
    record = one_span(span)
    assert record["status_code"] == 429
    assert "usage" not in record
    assert record["request_id"] == f"otel-{TRACE_ID.hex()}{SPAN_ID.hex()}"


def test_spans_that_are_not_one_model_call_with_usage_are_skipped_and_counted():
    no_usage = genai_span(
        span_id=b"\x00" * 7 + b"\x01",
        **{
            "gen_ai.usage.input_tokens": None,
            "gen_ai.usage.output_tokens": None,
            "gen_ai.usage.cache_read.input_tokens": None,
            "gen_ai.usage.cache_creation.input_tokens": None,
            "error.type": "timeout",
        },
    )
    agent = genai_span(**{"gen_ai.operation.name": "invoke_agent"})
    plain = genai_span(**{"gen_ai.provider.name": None})
    mapped = map_spans(traces_request(no_usage, agent, plain, agent))
    assert mapped.items == []
    assert mapped.skipped == {
        "spans without gen_ai.usage attributes": 1,
        "GenAI spans of operation 'invoke_agent' (not one model call)": 2,
        "spans without gen_ai.provider.name or gen_ai.system": 1,
    }


def test_a_span_without_a_model_is_rejected():
    span = genai_span(**{"gen_ai.request.model": None})
    assert rejection_of(map_spans(traces_request(span))) == (
        "attribute gen_ai.request.model",
        "is required on a GenAI span",
    )


def test_spans_go_to_the_default_workspace_unless_the_resource_names_one():
    assert "workspace_id" not in one_span(genai_span())
    record = one_span(genai_span(), resource={"meterboard.workspace.name": "Search"})
    assert (record["workspace_id"], record["workspace_name"]) == ("Search", "Search")


def test_the_sequence_digest_takes_a_sequence_of_any_kind():
    record = one_log(api_request(request_id=None, **{"event.sequence": 3.0}))
    assert record["request_id"] != one_log(api_request(request_id=None))["request_id"]
    assert record["request_id"].startswith("cc-")
