"""OTLP export requests for the tests, built with the OpenTelemetry project's protobuf classes."""

import base64
import json

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span

T0_NANOS = 1_793_714_709_000_000_000  # 2026-11-03T14:05:09Z
TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN_ID = bytes.fromhex("eee19b7ec3c1b174")


def value(v) -> AnyValue:
    """An AnyValue of the Python value's kind (str, bool, int, float)."""
    if isinstance(v, AnyValue):
        return v
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    return AnyValue(string_value=v)


def key_values(attributes: dict) -> list[KeyValue]:
    return [KeyValue(key=k, value=value(v)) for k, v in attributes.items()]


def api_request(**attributes) -> LogRecord:
    """A claude_code.api_request event; keyword arguments override or (None) remove."""
    base = {
        "event.name": "api_request",
        "event.timestamp": "2026-11-03T14:05:09.123Z",
        "event.sequence": 1,
        "session.id": "session-1",
        "model": "claude-sonnet-4-5",
        "input_tokens": "120",
        "output_tokens": "35",
        "cache_read_tokens": "3000",
        "cache_creation_tokens": "500",
        "cost_usd": "0.0123",
        "request_id": "req_011a",
        "user.account_uuid": "uuid-ada",
        "user.email": "ada@example.com",
    }
    base.update(attributes)
    return LogRecord(
        event_name="claude_code.api_request",
        time_unix_nano=T0_NANOS,
        body=AnyValue(string_value="claude_code.api_request"),
        attributes=key_values({k: v for k, v in base.items() if v is not None}),
    )


def logs_request(*records: LogRecord, resource: dict | None = None) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.extend(key_values(resource or {"service.name": "cc"}))
    resource_logs.scope_logs.add().log_records.extend(records)
    return request


def genai_span(span_id: bytes = SPAN_ID, **attributes) -> Span:
    """A GenAI chat span with usage; keyword arguments override or (None) remove."""
    base = {
        "gen_ai.provider.name": "anthropic",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.response.id": "msg_01",
        "gen_ai.usage.input_tokens": 1620,
        "gen_ai.usage.output_tokens": 80,
        "gen_ai.usage.cache_read.input_tokens": 1000,
        "gen_ai.usage.cache_creation.input_tokens": 500,
    }
    base.update(attributes)
    return Span(
        trace_id=TRACE_ID,
        span_id=span_id,
        name="chat claude-sonnet-4-5",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=T0_NANOS - 10**9,
        end_time_unix_nano=T0_NANOS,
        attributes=key_values({k: v for k, v in base.items() if v is not None}),
    )


def traces_request(
    *spans: Span, resource: dict | None = None, scope: str = "opentelemetry.instrumentation.x"
) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(key_values(resource or {"service.name": "app"}))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = scope
    scope_spans.spans.extend(spans)
    return request


def otlp_json(message) -> bytes:
    """OTLP JSON as the specification writes it: hex ids, integer enums, int64 as strings."""
    data = json_format.MessageToDict(message, use_integers_for_enums=True)
    for resource in data.get("resourceSpans", []) + data.get("resourceLogs", []):
        for scope in resource.get("scopeSpans", []) + resource.get("scopeLogs", []):
            for item in scope.get("spans", []) + scope.get("logRecords", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in item:
                        item[key] = base64.b64decode(item[key]).hex()
    return json.dumps(data).encode()
