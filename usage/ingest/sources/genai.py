"""GenAI inference spans (the OpenTelemetry GenAI semantic conventions) as records.

A span is a model call when it names a provider (``gen_ai.provider.name`` or the older
``gen_ai.system``), is of an inference operation (or names none) and carries usage or a
rate-limit error; every other span is skipped and counted.
"""

from __future__ import annotations

import json
from collections import ChainMap
from collections.abc import Mapping
from functools import partial

import msgspec
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from usage.ingest.contract import Usage
from usage.ingest.sources.otlp import (
    RESOURCE_ORIGINS,
    Invalid,
    Mapped,
    Skip,
    attributes,
    count,
    first,
    map_items,
    placement,
    rfc3339,
    text,
)

# GenAI operations that are one call to a model; agent and workflow spans (invoke_agent...)
# may carry the sum of their children's usage and would count it twice.
INFERENCE_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})
# error.type is the provider's code or the exception's class name (OpenLLMetry and OpenLIT
# set RateLimitError for the Anthropic SDK's 429; OpenLIT also documents rate_limited).
RATE_LIMIT_ERRORS = frozenset({"429", "ratelimiterror", "rate_limit_error", "rate_limited"})
# Newest name first: emitters on older conventions still send the deprecated ones.
INPUT = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
OUTPUT = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
CACHE_READ = ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens")
CACHE_WRITE = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
)
RAW_USAGE = "gen_ai.usage.raw"


def map_spans(request: ExportTraceServiceRequest) -> Mapped:
    """GenAI inference spans of an export request as records; other spans skipped."""
    return map_items(
        (
            f"resource_spans[{r}].scope_spans[{s}].spans[{i}]",
            partial(_record, span, resource, _is_openlit(resource, scope_spans.scope.name)),
        )
        for r, resource_spans in enumerate(request.resource_spans)
        for resource in [attributes(resource_spans.resource.attributes)]
        for s, scope_spans in enumerate(resource_spans.scope_spans)
        for i, span in enumerate(scope_spans.spans)
    )


def _is_openlit(resource: Mapping[str, AnyValue], scope_name: str) -> bool:
    """OpenLIT sends Anthropic's own input_tokens, which already leaves the cache out."""
    sdk = resource.get("telemetry.sdk.name")
    # string_value is "" when the value is of another kind.
    return scope_name.startswith("openlit") or (sdk is not None and sdk.string_value == "openlit")


def _record(span, resource: Mapping[str, AnyValue], openlit: bool, origins: dict) -> dict:
    attrs = attributes(span.attributes)
    if text(attrs, "gen_ai.provider.name") is None and text(attrs, "gen_ai.system") is None:
        raise Skip("spans without gen_ai.provider.name or gen_ai.system")
    operation = text(attrs, "gen_ai.operation.name")
    if operation is not None and operation not in INFERENCE_OPERATIONS:
        raise Skip(f"GenAI spans of operation {operation!r:.40} (not one model call)")

    error_type = text(attrs, "error.type")
    http_status = count(attrs, "http.response.status_code")
    rate_limited = http_status == 429 or (
        error_type is not None and error_type.lower() in RATE_LIMIT_ERRORS
    )
    raw = _raw_usage(attrs)
    input_key, inp = first(attrs, INPUT, count)
    output_key, output = first(attrs, OUTPUT, count)
    read_key, read = first(attrs, CACHE_READ, count)
    write_key, write = first(attrs, CACHE_WRITE, count)
    if rate_limited:
        status, usage = 429, None
        origins["status_code"] = "attribute error.type"
    elif raw is None and inp is None and output is None and read is None and write is None:
        raise Skip("spans without gen_ai.usage attributes")
    else:
        status = http_status or 200
        origins["status_code"] = "attribute http.response.status_code"
        usage = _span_usage(raw, (input_key, inp), read, write, openlit)
        usage["output_tokens"] = output
        origins.update(
            {
                "usage.input_tokens": f"attribute {input_key}",
                "usage.output_tokens": f"attribute {output_key}",
                "usage.cache_read_input_tokens": f"attribute {read_key}",
                "usage.cache_creation_input_tokens": f"attribute {write_key}",
                "usage.cache_creation": f"attribute {RAW_USAGE}",
            }
        )

    model_key, model = first(attrs, ("gen_ai.response.model", "gen_ai.request.model"), text)
    if model is None:
        raise Invalid("attribute gen_ai.request.model", "is required on a GenAI span")
    request_id = text(attrs, "gen_ai.response.id")
    origins["request_id"] = "attribute gen_ai.response.id"
    if request_id is None or len(request_id) > 255:
        request_id = "otel-" + span.trace_id.hex() + span.span_id.hex()
    nanos = span.end_time_unix_nano or span.start_time_unix_nano
    if not nanos:
        raise Invalid("field end_time_unix_nano", "is required")
    context = ChainMap(attrs, resource)
    account_key, account = first(context, ("user.id", "enduser.id"), text)
    origins.update(
        model=f"attribute {model_key}",
        timestamp="field end_time_unix_nano",
        account_id=f"attribute {account_key}",
        account_name="attribute user.email",
        **RESOURCE_ORIGINS,
    )
    record = {
        "request_id": request_id,
        "timestamp": rfc3339(nanos),
        "model": model,
        **placement(resource),
        "account_id": account,
        "account_name": text(context, "user.email"),
        "status_code": status,
    }
    if usage is not None:
        record["usage"] = usage
    return record


def _raw_usage(attrs: Mapping[str, AnyValue]) -> Usage | None:
    """Logfire's ``gen_ai.usage.raw``: Anthropic's usage object as a JSON string."""
    raw = text(attrs, RAW_USAGE)
    if raw is None:
        return None
    try:
        return msgspec.convert(json.loads(raw), Usage)
    except (ValueError, RecursionError, msgspec.ValidationError) as exc:
        raise Invalid(f"attribute {RAW_USAGE}", f"is not Anthropic's usage object: {exc}") from None


def _span_usage(raw: Usage | None, inp: tuple[str, int | None], read, write, openlit) -> dict:
    """The usage of a span, with uncached input as the contract counts it.

    By the GenAI conventions gen_ai.usage.input_tokens includes cache reads and writes (the
    Anthropic page spells out the sum), so uncached input is the difference; OpenLIT sends
    Anthropic's own input_tokens (already uncached) and Logfire's raw usage has it too.
    """
    input_key, total = inp
    if raw is not None:
        if read is None:
            read = raw.cache_read_input_tokens
        if write is None:
            write = raw.cache_creation_input_tokens
    usage = {"cache_read_input_tokens": read, "cache_creation_input_tokens": write}
    if raw is not None and raw.cache_creation is not None:
        usage["cache_creation"] = msgspec.to_builtins(raw.cache_creation)
    if raw is not None and raw.input_tokens is not None:
        usage["input_tokens"] = raw.input_tokens
    elif openlit or total is None:
        usage["input_tokens"] = total
    else:
        cached = (read or 0) + (write or 0)
        if total < cached:
            raise Invalid(
                f"attribute {input_key}",
                f"is {total}, less than the cache reads and writes it includes ({cached})",
            )
        usage["input_tokens"] = total - cached
    return usage
