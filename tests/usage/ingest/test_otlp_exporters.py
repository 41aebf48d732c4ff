"""The OpenTelemetry SDK's own exporters (protobuf and JSON) against a live server, checked
on the Usage and Cost figures against sums computed from the payloads themselves."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from opentelemetry.exporter.otlp.common.http import Compression as JsonCompression
from opentelemetry.exporter.otlp.json.http._log_exporter import OTLPLogExporter as JsonLogs
from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter as JsonSpans
from opentelemetry.exporter.otlp.proto.http import Compression as ProtoCompression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as ProtoLogs
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as ProtoSpans
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from costs.models import ModelPrice
from costs.selectors import cost_report
from tests import factories
from usage.ingest.keys import create_ingest_key
from usage.models import RequestLog
from usage.rollups import rollup_pending
from usage.selectors import Scope, UsageQuery, usage_report

pytestmark = pytest.mark.django_db(transaction=True)

UTC = ZoneInfo("UTC")
NOV = dt.datetime(2026, 11, 3, 14, 5, tzinfo=dt.UTC)
# Our own rates (per million tokens) for the test models, so that the expected cost is
# computed here from the payloads, not read back from the catalogue.
RATES = {"input": "3", "write_5m": "3.75", "read": "0.3", "output": "15"}
CLAUDE_CODE_MODEL = "claude-otlp-code-1"
SPAN_MODEL = "claude-otlp-span-1"


def nanos(minutes: int) -> int:
    return int((NOV + dt.timedelta(minutes=minutes)).timestamp()) * 10**9


@pytest.fixture
def org_and_secret(transactional_db):
    org = factories.make_org()
    for model in (CLAUDE_CODE_MODEL, SPAN_MODEL):
        for window in ("0-200k", "200k-1M"):
            ModelPrice.objects.create(
                org=org,
                model_pattern=model,
                service_tier="standard",
                context_window=window,
                effective_from=dt.date(2026, 1, 1),
                input_per_mtok=Decimal(RATES["input"]),
                cache_write_5m_per_mtok=Decimal(RATES["write_5m"]),
                cache_write_1h_per_mtok=Decimal("6"),
                cache_read_per_mtok=Decimal(RATES["read"]),
                output_per_mtok=Decimal(RATES["output"]),
            )
    return org, create_ingest_key(org, "otel")[1]


# --- the payloads, as plain data: what the test sends and sums ----------------------------

# (minute, attributes) of Claude Code events; counts as Claude Code may send them: strings,
# integers and an integral double.
CLAUDE_CODE_EVENTS = [
    (
        1,
        "claude_code.api_request",
        {
            "event.name": "api_request",
            "request_id": "req_011otlp_a",
            "input_tokens": "120",
            "output_tokens": "35",
            "cache_read_tokens": "3000",
            "cache_creation_tokens": "500",
            "cost_usd": "0.0123",
        },
    ),
    (
        2,
        "claude_code.api_request",
        {
            "event.name": "api_request",
            "event.sequence": 8,
            "input_tokens": 40,
            "output_tokens": 700.0,
            "cache_read_tokens": 9000,
            "cache_creation_tokens": 0,
        },
    ),
    (3, "claude_code.api_error", {"event.name": "api_error", "status_code": 429, "attempt": 1}),
    (4, "claude_code.user_prompt", {"event.name": "user_prompt", "prompt_length": 12}),
]


def emit_claude_code(prefix: str) -> list:
    """Claude Code-shaped log records, built by the SDK; returns the batch to export."""
    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider(
        resource=Resource.create({"service.name": "claude-code", "organization.id": "org-1"})
    )
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    logger = provider.get_logger("com.anthropic.claude_code.events")
    for minute, event, attributes in CLAUDE_CODE_EVENTS:
        extra = {
            "session.id": f"{prefix}-session",
            "model": CLAUDE_CODE_MODEL,
            "user.account_id": "user_01ada",
            "user.email": "ada@example.com",
        }
        if "request_id" in attributes:
            attributes = {**attributes, "request_id": f"{prefix}-{attributes['request_id']}"}
        logger.emit(
            event_name=event,
            body=event,
            timestamp=nanos(minute),
            attributes={"event.sequence": minute, **extra, **attributes},
        )
    provider.force_flush()
    return [exported for exported in memory.get_finished_logs()]


# (minute, span attributes, scope/resource flavour)
SPANS = [
    # OpenLLMetry, current names: input_tokens includes the cache (uncached = 1620 - 1500).
    {
        "minute": 5,
        "attributes": {
            "gen_ai.provider.name": "anthropic",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": SPAN_MODEL,
            "gen_ai.response.model": SPAN_MODEL,
            "gen_ai.response.id": "msg_otlp_1",
            "gen_ai.usage.input_tokens": 1620,
            "gen_ai.usage.output_tokens": 80,
            "gen_ai.usage.cache_read.input_tokens": 1000,
            "gen_ai.usage.cache_creation.input_tokens": 500,
        },
        "uncached": 120,
    },
    # Older names (gen_ai.system, prompt/completion tokens, underscore cache names).
    {
        "minute": 6,
        "attributes": {
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": SPAN_MODEL,
            "gen_ai.usage.prompt_tokens": 300,
            "gen_ai.usage.completion_tokens": 12,
            "gen_ai.usage.cache_read_input_tokens": 200,
        },
        "uncached": 100,
    },
    # A 429 from the Anthropic SDK: no usage, error.type is the exception's class.
    {
        "minute": 7,
        "attributes": {
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": SPAN_MODEL,
            "error.type": "RateLimitError",
        },
        "error": True,
    },
    # An agent span summing its children, and a span that is not GenAI at all: skipped.
    {
        "minute": 8,
        "attributes": {
            "gen_ai.provider.name": "anthropic",
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.request.model": SPAN_MODEL,
            "gen_ai.usage.input_tokens": 1920,
            "gen_ai.usage.output_tokens": 92,
        },
        "skipped": True,
    },
    {"minute": 9, "attributes": {"http.request.method": "GET"}, "skipped": True},
]


def emit_spans(prefix: str) -> list:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "chat-app"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("opentelemetry.instrumentation.anthropic")
    for spec in SPANS:
        attributes = dict(spec["attributes"])
        if "gen_ai.response.id" in attributes:
            attributes["gen_ai.response.id"] = f"{prefix}-{attributes['gen_ai.response.id']}"
        span = tracer.start_span(
            f"chat {SPAN_MODEL}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            start_time=nanos(spec["minute"]) - 10**9,
        )
        if spec.get("error"):
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=nanos(spec["minute"]))
    provider.force_flush()
    return list(memory.get_finished_spans())


def expected_totals() -> dict:
    """The Usage figures the payloads above add up to, computed from the plain data."""
    totals = dict(requests=0, rate_limited=0, uncached=0, read=0, write=0, output=0)
    for _minute, event, attributes in CLAUDE_CODE_EVENTS:
        if event == "claude_code.api_request":
            totals["requests"] += 1
            totals["uncached"] += int(attributes["input_tokens"])
            totals["read"] += int(attributes["cache_read_tokens"])
            totals["write"] += int(attributes["cache_creation_tokens"])
            totals["output"] += int(attributes["output_tokens"])
        elif event == "claude_code.api_error":
            totals["requests"] += 1
            totals["rate_limited"] += 1
    for spec in SPANS:
        if spec.get("skipped"):
            continue
        totals["requests"] += 1
        if spec.get("error"):
            totals["rate_limited"] += 1
            continue
        a = spec["attributes"]
        totals["uncached"] += spec["uncached"]
        totals["read"] += a.get("gen_ai.usage.cache_read.input_tokens", 0) + a.get(
            "gen_ai.usage.cache_read_input_tokens", 0
        )
        totals["write"] += a.get("gen_ai.usage.cache_creation.input_tokens", 0)
        totals["output"] += a.get("gen_ai.usage.output_tokens", 0) + a.get(
            "gen_ai.usage.completion_tokens", 0
        )
    return totals


def expected_cost(totals: dict) -> Decimal:
    per_token = {name: Decimal(rate) / 10**6 for name, rate in RATES.items()}
    return (
        totals["uncached"] * per_token["input"]
        + totals["write"] * per_token["write_5m"]
        + totals["read"] * per_token["read"]
        + totals["output"] * per_token["output"]
    )


ENCODINGS = {
    "protobuf+gzip": (ProtoLogs, ProtoSpans, ProtoCompression.Gzip),
    "protobuf+deflate": (ProtoLogs, ProtoSpans, ProtoCompression.Deflate),
    "json+gzip": (JsonLogs, JsonSpans, JsonCompression.GZIP),
    "json": (JsonLogs, JsonSpans, JsonCompression.NONE),
}


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_exported_batches_add_up_on_usage_and_cost_and_a_retry_counts_once(
    live_server, org_and_secret, shipped_prices, encoding
):
    org, secret = org_and_secret
    log_exporter, span_exporter, compression = ENCODINGS[encoding]
    headers = {"Authorization": f"Bearer {secret}"}
    logs = log_exporter(
        endpoint=f"{live_server.url}/otlp/v1/logs", headers=headers, compression=compression
    )
    spans = span_exporter(
        endpoint=f"{live_server.url}/otlp/v1/traces", headers=headers, compression=compression
    )
    log_batch, span_batch = emit_claude_code(encoding), emit_spans(encoding)

    # An exporter retries a whole batch after a timeout: the second export is the retry.
    for _ in range(2):
        assert logs.export(log_batch) == LogRecordExportResult.SUCCESS
        assert spans.export(span_batch) == SpanExportResult.SUCCESS
    rollup_pending(org.pk)

    want = expected_totals()
    assert RequestLog.objects.filter(org=org).count() == want["requests"]
    report = usage_report(UsageQuery(scope=Scope(org_id=org.pk), zone=UTC, year=2026, month=11))
    totals = report["totals"]
    assert totals["requests"] == want["requests"]
    assert totals["rate_limited_requests"] == want["rate_limited"]
    assert totals["uncached_input_tokens"] == want["uncached"]
    assert totals["cache_read_tokens"] == want["read"]
    assert totals["cache_write_5m_tokens"] == want["write"]
    assert totals["cache_write_1h_tokens"] == 0
    assert totals["output_tokens"] == want["output"]

    cost = cost_report(org, zone=UTC, year=2026, month=11)
    assert cost.totals.total == expected_cost(want)
    assert cost.totals.unpriced_tokens == 0
    # Claude Code's own estimate is kept beside ours, counted once despite the retry.
    estimates = [Decimal(a["cost_usd"]) for _m, _e, a in CLAUDE_CODE_EVENTS if "cost_usd" in a]
    assert cost.client_estimate == sum(estimates) > 0
    assert cost.client_difference == (cost.totals.total - sum(estimates)) / sum(estimates)
