"""POST /otlp/v1/{logs,traces,metrics}: answers as the OTLP specification says, in the
request's encoding, for every kind of bad input."""

import gzip
import json
import zlib

import pytest
from django.db import OperationalError
from django.test import Client
from django.urls import reverse
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from tests.usage.ingest.otlp import (
    SPAN_ID,
    TRACE_ID,
    api_request,
    genai_span,
    logs_request,
    otlp_json,
    traces_request,
)
from usage.ingest import otlp_api
from usage.ingest.keys import create_ingest_key
from usage.models import RequestLog

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("nudges")]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
LOGS, TRACES, METRICS = "/otlp/v1/logs", "/otlp/v1/traces", "/otlp/v1/metrics"


@pytest.fixture
def secret(org):
    return create_ingest_key(org, "otel")[1]


def post(client, url, body: bytes, secret, content_type=PROTOBUF, **headers):
    if secret is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    # The test client leaves out the Content-Type of an empty body; exporters send it.
    return client.post(url, body, content_type=content_type, CONTENT_TYPE=content_type, **headers)


def status_of(response) -> Status:
    """The google.rpc.Status of an error answer, read in the answer's own encoding."""
    if response["Content-Type"] == JSON:
        return json_format.Parse(response.content, Status())
    assert response["Content-Type"] == PROTOBUF
    return Status.FromString(response.content)


def logs_answer(response) -> ExportLogsServiceResponse:
    assert response.status_code == 200
    if response["Content-Type"] == JSON:
        return json_format.Parse(response.content, ExportLogsServiceResponse())
    assert response["Content-Type"] == PROTOBUF
    return ExportLogsServiceResponse.FromString(response.content)


def test_the_urls_are_named_and_take_a_trailing_slash(client, secret):
    assert reverse("otlp:logs") == LOGS
    assert reverse("otlp:traces") == TRACES
    assert reverse("otlp:metrics") == METRICS
    body = logs_request(api_request()).SerializeToString()
    assert post(client, LOGS + "/", body, secret).status_code == 200
    assert RequestLog.objects.count() == 1


def test_no_csrf_token_needed(secret):
    client = Client(enforce_csrf_checks=True)
    body = traces_request(genai_span()).SerializeToString()
    assert post(client, TRACES, body, secret).status_code == 200


# --- success ------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_full_success_leaves_partial_success_unset(client, secret, content_type):
    message = logs_request(api_request())
    body = otlp_json(message) if content_type == JSON else message.SerializeToString()
    response = post(client, LOGS, body, secret, content_type=content_type)
    assert response["Content-Type"] == content_type
    assert response.content == (b"{}" if content_type == JSON else b"")
    assert RequestLog.objects.count() == 1


def test_an_empty_request_is_a_success(client, secret):
    response = post(client, LOGS, b"", secret)
    assert response.status_code == 200
    assert response.content == b""


def test_a_retried_batch_is_stored_once(client, secret):
    body = logs_request(api_request(request_id=None)).SerializeToString()
    assert post(client, LOGS, body, secret).content == b""
    assert logs_answer(post(client, LOGS, body, secret)).partial_success.rejected_log_records == 0
    assert RequestLog.objects.count() == 1


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_partial_success_names_the_item_and_the_attribute(client, secret, content_type):
    message = logs_request(
        api_request(request_id="good"),
        api_request(request_id="bad", output_tokens="thirty"),
        api_request(request_id="ahead", **{"event.timestamp": "2099-01-01T00:00:00Z"}),
    )
    body = otlp_json(message) if content_type == JSON else message.SerializeToString()
    answer = logs_answer(post(client, LOGS, body, secret, content_type=content_type))
    assert answer.partial_success.rejected_log_records == 2
    assert answer.partial_success.error_message == (
        "resource_logs[0].scope_logs[0].log_records[1]: attribute output_tokens: "
        "must be a number, not 'thirty'; "
        "resource_logs[0].scope_logs[0].log_records[2] (request_id 'ahead'): "
        "attribute event.timestamp: is more than 5 minutes in the future"
    )
    assert list(RequestLog.objects.values_list("request_id", flat=True)) == ["good"]


def test_json_partial_success_is_otlp_json(client, secret):
    body = otlp_json(logs_request(api_request(output_tokens="-3")))
    response = post(client, LOGS, body, secret, content_type=JSON)
    assert response.status_code == 200
    assert json.loads(response.content) == {
        "partialSuccess": {
            "rejectedLogRecords": "1",
            "errorMessage": "resource_logs[0].scope_logs[0].log_records[0]: "
            "attribute output_tokens: must not be negative (-3)",
        }
    }


def test_every_item_rejected_is_200_with_all_of_them_counted(client, secret):
    body = traces_request(
        genai_span(**{"gen_ai.usage.input_tokens": 10}),  # less than its cache tokens
        genai_span(**{"gen_ai.request.model": None}),
    ).SerializeToString()
    response = post(client, TRACES, body, secret)
    assert response.status_code == 200
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 2
    assert "spans[0]: attribute gen_ai.usage.input_tokens: is 10, less than" in (
        answer.partial_success.error_message
    )
    assert "spans[1]: attribute gen_ai.request.model: is required" in (
        answer.partial_success.error_message
    )
    assert not RequestLog.objects.exists()


def test_skipped_items_are_counted_in_the_message_not_rejected(client, secret):
    other = api_request()
    other.event_name = "claude_code.user_prompt"
    other.body.string_value = "claude_code.user_prompt"
    other.attributes[0].value.string_value = "user_prompt"
    body = logs_request(api_request(), other).SerializeToString()
    answer = logs_answer(post(client, LOGS, body, secret))
    assert answer.partial_success.rejected_log_records == 0
    assert answer.partial_success.error_message == (
        "skipped (not requests, not errors): 1 log records that are not Claude Code API events"
    )
    assert RequestLog.objects.count() == 1


def test_the_message_names_the_first_twenty_reasons(client, secret):
    spans = [
        genai_span(span_id=bytes([0] * 7 + [n]), **{"gen_ai.usage.output_tokens": -1})
        for n in range(25)
    ]
    answer = ExportTraceServiceResponse.FromString(
        post(client, TRACES, traces_request(*spans).SerializeToString(), secret).content
    )
    assert answer.partial_success.rejected_spans == 25
    assert answer.partial_success.error_message.count("must not be negative") == 20
    assert answer.partial_success.error_message.endswith("; and 5 more rejected")


def test_json_hex_ids_are_read_as_hex(client, secret):
    span = genai_span(**{"gen_ai.response.id": None})
    response = post(client, TRACES, otlp_json(traces_request(span)), secret, content_type=JSON)
    assert response.content == b"{}"
    (row,) = RequestLog.objects.all()
    assert row.request_id == f"otel-{TRACE_ID.hex()}{SPAN_ID.hex()}"


def test_metrics_are_answered_with_success_and_not_stored(client, secret):
    response = post(client, METRICS, ExportMetricsServiceRequest().SerializeToString(), secret)
    assert response.status_code == 200
    assert response.content == b""
    response = post(client, METRICS, b'{"resourceMetrics": []}', secret, content_type=JSON)
    assert response.content == b"{}"
    assert not RequestLog.objects.exists()


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_bodies(client, secret, encoding):
    body = logs_request(api_request()).SerializeToString()
    packed = gzip.compress(body) if encoding == "gzip" else zlib.compress(body)
    response = post(client, LOGS, packed, secret, HTTP_CONTENT_ENCODING=encoding)
    assert response.status_code == 200
    assert RequestLog.objects.count() == 1


# --- errors: a google.rpc.Status in the request's encoding ---------------------------------


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
@pytest.mark.parametrize("authorization", [None, "Bearer mbi_wrong", "Basic dXNlcjpwYXNz"])
def test_no_valid_key_is_401(client, org, content_type, authorization):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = client.post(LOGS, b"x", content_type=content_type, **headers)
    assert response.status_code == 401
    assert response["Content-Type"] == content_type
    assert response["WWW-Authenticate"].startswith('Bearer realm="meterboard"')
    assert status_of(response).message.startswith("A valid ingest key is required")


def test_get_is_405(client, secret):
    response = client.get(LOGS, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert status_of(response).message == "Use POST."


def test_another_content_type_is_415(client, secret):
    response = post(client, LOGS, b"x", secret, content_type="text/plain")
    assert response.status_code == 415
    assert "'text/plain' is not supported" in status_of(response).message


def test_another_encoding_is_415(client, secret):
    response = post(client, LOGS, b"x", secret, HTTP_CONTENT_ENCODING="br")
    assert response.status_code == 415
    assert response["Content-Type"] == PROTOBUF
    assert "Content-Encoding 'br' is not supported" in status_of(response).message


@pytest.mark.parametrize(
    "body, content_type, message",
    [
        (b"\xff\xff\xff", PROTOBUF, "The body is not a protobuf ExportLogsServiceRequest"),
        (b"{not json", JSON, "The body is not JSON"),
        (b"[]", JSON, "The body must be a JSON object"),
        (
            b'{"resourceLogs": "nope"}',
            JSON,
            "The body is not an OTLP JSON ExportLogsServiceRequest",
        ),
        (
            b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "xyz"}]}]}]}',
            JSON,
            "resourceLogs[0].scopeLogs[0].logRecords[0].traceId must be 32 hex digits",
        ),
    ],
)
def test_undecodable_is_400(client, secret, body, content_type, message):
    response = post(client, LOGS, body, secret, content_type=content_type)
    assert response.status_code == 400
    assert response["Content-Type"] == content_type
    assert status_of(response).message.startswith(message)


def test_broken_gzip_is_400(client, secret):
    response = post(client, LOGS, b"not gzip", secret, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400
    assert status_of(response).message.startswith("The body is not valid gzip")


def test_too_large_is_413_as_sent_and_once_decompressed(client, secret, settings):
    settings.INGEST_MAX_BODY_BYTES = 2048
    response = post(client, LOGS, b"\x00" * 2049, secret)
    assert response.status_code == 413
    assert "larger than 2048 bytes" in status_of(response).message
    bomb = gzip.compress(b"\x00" * 100_000)
    assert len(bomb) < 2048
    response = post(client, LOGS, bomb, secret, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413


def test_database_unavailable_is_503_with_retry_after(client, secret, monkeypatch):
    def unavailable(*args, **kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(otlp_api, "ingest_records", unavailable)
    response = post(client, LOGS, logs_request(api_request()).SerializeToString(), secret)
    assert response.status_code == 503
    assert response["Retry-After"] == str(otlp_api.RETRY_AFTER_SECONDS)
    assert status_of(response).message == "The database is unavailable; retry later."


def nested_attribute_json(depth: int) -> bytes:
    value = '{"stringValue": "x"}'
    for _ in range(depth):
        value = '{"arrayValue": {"values": [' + value + "]}}"
    record = '{"attributes": [{"key": "deep", "value": ' + value + "}]}"
    return ('{"resourceLogs": [{"scopeLogs": [{"logRecords": [' + record + "]}]}]}").encode()


def nested_attribute_protobuf(depth: int) -> bytes:
    value = AnyValue(string_value="x")
    for _ in range(depth):
        value = AnyValue(array_value=ArrayValue(values=[value]))
    record = LogRecord(attributes=[KeyValue(key="deep", value=value)])
    return logs_request(record).SerializeToString()


@pytest.mark.parametrize("depth", [40, 400, 5000])
def test_deeply_nested_values_are_never_a_500(client, secret, depth):
    response = post(client, LOGS, nested_attribute_json(depth), secret, content_type=JSON)
    assert response.status_code == (200 if depth == 40 else 400)


def test_nesting_within_protobufs_limit_is_read(client, secret):
    # Two message levels per array: 40 of them stay within protobuf's limit of 100.
    response = post(client, LOGS, nested_attribute_protobuf(40), secret)
    assert response.status_code == 200
