"""Claude Code's ``claude_code.api_request`` and ``claude_code.api_error`` log events as records.

Claude Code's events are documented at https://code.claude.com/docs/en/monitoring-usage;
every other log record is skipped and counted.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping
from functools import partial

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from usage.ingest.sources.otlp import (
    RESOURCE_ORIGINS,
    Invalid,
    Mapped,
    Skip,
    attributes,
    canonical,
    count,
    digest,
    dollars,
    first,
    map_items,
    placement,
    rfc3339,
    text,
)

WORKSPACE_ID = "claude-code"
WORKSPACE_NAME = "Claude Code"
API_REQUEST = "claude_code.api_request"
API_ERROR = "claude_code.api_error"


def map_logs(request: ExportLogsServiceRequest) -> Mapped:
    """Claude Code's API events of an export request as records; other log records skipped."""
    return map_items(
        (
            f"resource_logs[{r}].scope_logs[{s}].log_records[{i}]",
            partial(_record, log_record, resource),
        )
        for r, resource_logs in enumerate(request.resource_logs)
        for resource in [attributes(resource_logs.resource.attributes)]
        for s, scope_logs in enumerate(resource_logs.scope_logs)
        for i, log_record in enumerate(scope_logs.log_records)
    )


def _event_name(log_record, attrs: Mapping[str, AnyValue]) -> str | None:
    """The event's name: the record's event_name, its body, or ``event.name`` (unprefixed)."""
    if log_record.event_name:
        return log_record.event_name
    body = log_record.body
    if body.WhichOneof("value") == "string_value" and body.string_value.startswith("claude_code."):
        return body.string_value
    name = attrs.get("event.name")
    if name is not None and name.WhichOneof("value") == "string_value":
        value = name.string_value
        return value if value.startswith("claude_code.") else f"claude_code.{value}"
    return None


def _record(log_record, resource: Mapping[str, AnyValue], origins: dict) -> dict:
    # Claude Code does not say which of its standard attributes are on the resource and which
    # on the event: read the event's first.
    attrs = ChainMap(attributes(log_record.attributes), resource)
    event = _event_name(log_record, attrs)
    if event not in (API_REQUEST, API_ERROR):
        raise Skip("log records that are not Claude Code API events")
    if event == API_ERROR:
        status = count(attrs, "status_code")
        if status is None:
            raise Skip("claude_code.api_error events without status_code (no HTTP answer)")
        origins["status_code"] = "attribute status_code"
    else:
        status = 200

    request_id = text(attrs, "request_id")
    origins["request_id"] = "attribute request_id"
    if request_id is None or len(request_id) > 255:
        session, sequence = attrs.get("session.id"), attrs.get("event.sequence")
        if session is not None and sequence is not None:
            # event.sequence orders the events of one session, so the three name one event.
            # Their encoded values, whatever their kind (a number may come as an int or a double).
            request_id = digest(
                "cc",
                *(
                    attrs[key].SerializeToString(deterministic=True) if key in attrs else b""
                    for key in ("organization.id", "session.id")
                ),
                event,
                sequence.SerializeToString(deterministic=True),
            )
        else:
            request_id = digest(
                "cc",
                canonical(resource),
                canonical(attributes(log_record.attributes)),
                log_record.time_unix_nano,
                log_record.body.SerializeToString(deterministic=True),
            )

    timestamp = text(attrs, "event.timestamp")
    origins["timestamp"] = "attribute event.timestamp"
    if timestamp is None:
        nanos = log_record.time_unix_nano or log_record.observed_time_unix_nano
        if not nanos:
            raise Invalid("field time_unix_nano", "is required (no event.timestamp either)")
        origins["timestamp"] = "field time_unix_nano"
        timestamp = rfc3339(nanos)

    email = text(attrs, "user.email")
    account_key, account = first(
        attrs, ("user.account_id", "user.account_uuid", "user.email"), text
    )
    origins.update(
        model="attribute model",
        account_id=f"attribute {account_key}",
        account_name="attribute user.email",
        **RESOURCE_ORIGINS,
    )
    record = {
        "request_id": request_id,
        "timestamp": timestamp,
        "model": text(attrs, "model"),
        "workspace_id": WORKSPACE_ID,
        "workspace_name": WORKSPACE_NAME,
        **placement(resource),
        "account_id": account,
        "account_name": email,
        "status_code": status,
    }
    if event == API_REQUEST:
        # Claude Code's input_tokens is Anthropic's uncached input; its cache_creation_tokens
        # has no 5m/1h split, so they count as 5-minute writes.
        usage = {}
        for name, key in (
            ("input_tokens", "input_tokens"),
            ("output_tokens", "output_tokens"),
            ("cache_read_input_tokens", "cache_read_tokens"),
            ("cache_creation_input_tokens", "cache_creation_tokens"),
        ):
            usage[name] = count(attrs, key)
            origins[f"usage.{name}"] = f"attribute {key}"
        record["usage"] = usage
        # Claude Code's own estimate: kept beside our pricing, so a team sees where they differ.
        record["client_cost_usd"] = dollars(attrs, "cost_usd")
        origins["client_cost_usd"] = "attribute cost_usd"
    return record
