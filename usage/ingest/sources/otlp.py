"""OTLP/HTTP payloads: decoded with the OpenTelemetry project's own protobuf classes, and
what the sources mapping their items share (attribute values "as they come", ids, placement).

``claude_code`` maps Claude Code's log events and ``genai`` the GenAI spans; the README's
"Send from Claude Code" and "Send from an OpenTelemetry SDK or Collector" have the mapping
tables. Every record gets a request_id that a re-sent batch reproduces, so an exporter's
retry comes back as duplicates.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from usage.ingest.contract import MAX_COUNT

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

# Resource attributes (OTEL_RESOURCE_ATTRIBUTES) that place an exporter's records; neither
# Claude Code nor the GenAI conventions define such keys, so they are ours.
WORKSPACE_ID = "meterboard.workspace.id"
WORKSPACE_NAME = "meterboard.workspace.name"
API_KEY_ID = "meterboard.api_key.id"
API_KEY_NAME = "meterboard.api_key.name"

_ID_LENGTHS = {"traceId": 16, "trace_id": 16, "spanId": 8, "span_id": 8}
_SPAN_ID_LENGTHS = {**_ID_LENGTHS, "parentSpanId": 8, "parent_span_id": 8}


class Undecodable(ValueError):
    """The body is not an OTLP export request in the encoding it claims."""


class Invalid(Exception):
    """An item cannot become a record: what it came from (``attribute x``) and why."""

    def __init__(self, source: str, message: str):
        self.source = source
        self.message = message


class Skip(Exception):
    """An item that is not a request (counted under its reason)."""

    def __init__(self, reason: str):
        self.reason = reason


@dataclass
class Item:
    """One log record or span that is (or failed to become) a record of the contract."""

    label: str  # resource_logs[0].scope_logs[0].log_records[3]
    record: dict | None = None
    # Record field -> where its value came from, to name the attribute in a rejection.
    origins: dict[str, str] = field(default_factory=dict)
    rejection: Invalid | None = None


@dataclass
class Mapped:
    """The items of one export request that became records or were rejected, and the skips."""

    items: list[Item] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


# ---------------------------------------------------------------------------------------
# Decoding


def decode(body: bytes, content_type: str, message: type[Message]) -> Message:
    """Parse an export request (``ExportLogsServiceRequest``...) from protobuf or OTLP JSON."""
    request = message()
    if content_type == PROTOBUF:
        try:
            request.ParseFromString(body)
        except (DecodeError, RecursionError, ValueError) as exc:
            raise Undecodable(f"The body is not a protobuf {message.__name__}: {exc}") from None
        return request
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise Undecodable(f"The body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise Undecodable(f"The body must be a JSON object (an {message.__name__}).")
    _hex_ids_to_base64(data)
    try:
        # OTLP JSON: receivers MUST ignore unknown fields.
        json_format.ParseDict(data, request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise Undecodable(f"The body is not an OTLP JSON {message.__name__}: {exc}") from None
    return request


def _hex_ids_to_base64(data: dict) -> None:
    """Rewrite OTLP JSON's hex trace and span ids as the base64 that json_format expects.

    OTLP JSON writes ids as hex, where the protobuf JSON mapping has base64; a hex string is
    valid base64 too, so json_format would silently decode it to wrong bytes.
    """
    for kind, scopes, items, lengths in (
        ("resourceLogs", "scopeLogs", "logRecords", _ID_LENGTHS),
        ("resourceSpans", "scopeSpans", "spans", _SPAN_ID_LENGTHS),
    ):
        for r, resource in _objects(data.get(kind)):
            for s, scope in _objects(resource.get(scopes)):
                for i, item in _objects(scope.get(items)):
                    label = f"{kind}[{r}].{scopes}[{s}].{items}[{i}]"
                    _fix_ids(item, lengths, label)
                    for n, link in _objects(item.get("links")):
                        _fix_ids(link, _ID_LENGTHS, f"{label}.links[{n}]")


def _objects(value) -> Iterator[tuple[int, dict]]:
    """The (index, object) pairs of a JSON list; other shapes are json_format's to refuse."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict):
                yield index, item


def _fix_ids(item: dict, lengths: Mapping[str, int], label: str) -> None:
    for key, length in lengths.items():
        value = item.get(key)
        if not isinstance(value, str):
            continue
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raw = None
        if raw is None or len(raw) not in (0, length):
            raise Undecodable(f"{label}.{key} must be {2 * length} hex digits, not {value!r:.60}")
        item[key] = base64.b64encode(raw).decode()


# ---------------------------------------------------------------------------------------
# Attribute values "as they come"


def attributes(key_values) -> dict[str, AnyValue]:
    """An OTLP attribute list as a dict (a repeated key: the last one)."""
    return {kv.key: kv.value for kv in key_values}


def count(attrs: Mapping[str, AnyValue], key: str) -> int | None:
    """A token count: intValue, an integral doubleValue or a numeric stringValue; None if absent."""
    value = attrs.get(key)
    kind = value.WhichOneof("value") if value is not None else None
    if kind is None:
        return None
    if kind == "int_value":
        number = value.int_value
    elif kind == "double_value":
        double = value.double_value
        if not math.isfinite(double) or double != int(double):
            raise Invalid(f"attribute {key}", f"must be a whole number, not {double!r}")
        number = int(double)
    elif kind == "string_value":
        text = value.string_value.strip()
        try:
            decimal = Decimal(text)
        except InvalidOperation:
            raise Invalid(f"attribute {key}", f"must be a number, not {text!r:.40}") from None
        if not decimal.is_finite() or decimal != decimal.to_integral_value():
            raise Invalid(f"attribute {key}", f"must be a whole number, not {text!r:.40}")
        if decimal > MAX_COUNT:
            raise Invalid(f"attribute {key}", f"must be at most {MAX_COUNT}")
        number = int(decimal)
    else:
        raise Invalid(
            f"attribute {key}", "must be a number (intValue, doubleValue or a numeric stringValue)"
        )
    if number < 0:
        raise Invalid(f"attribute {key}", f"must not be negative ({number})")
    if number > MAX_COUNT:
        raise Invalid(f"attribute {key}", f"must be at most {MAX_COUNT}")
    return number


def dollars(attrs: Mapping[str, AnyValue], key: str) -> float | None:
    """An amount of US dollars: a doubleValue, an intValue or a numeric stringValue; None if
    absent. A float as the record contract takes it (``client_cost_usd``), whose shortest
    decimal form is the amount sent."""
    value = attrs.get(key)
    kind = value.WhichOneof("value") if value is not None else None
    if kind is None:
        return None
    if kind == "double_value":
        amount = value.double_value
    elif kind == "int_value":
        amount = float(value.int_value)
    elif kind == "string_value":
        text = value.string_value.strip()
        try:
            amount = float(Decimal(text))
        except (InvalidOperation, ValueError):
            raise Invalid(f"attribute {key}", f"must be a number, not {text!r:.40}") from None
    else:
        raise Invalid(
            f"attribute {key}", "must be a number (doubleValue, intValue or a numeric stringValue)"
        )
    if not math.isfinite(amount) or amount < 0:
        raise Invalid(f"attribute {key}", f"must be a non-negative number of dollars ({amount!r})")
    return amount


def text(attrs: Mapping[str, AnyValue], key: str) -> str | None:
    """A string attribute (an integer is taken as its digits); None if absent or empty."""
    value = attrs.get(key)
    kind = value.WhichOneof("value") if value is not None else None
    if kind is None:
        return None
    if kind == "string_value":
        return value.string_value or None
    if kind == "int_value":
        return str(value.int_value)
    raise Invalid(f"attribute {key}", "must be a string")


def first(attrs: Mapping[str, AnyValue], keys: tuple[str, ...], read) -> tuple[str, object]:
    """The first of ``keys`` present, with its value read by ``read`` (count or text)."""
    for key in keys:
        value = read(attrs, key)
        if value is not None:
            return key, value
    return keys[0], None


def rfc3339(nanos: int) -> str:
    """A Unix time in nanoseconds as an RFC 3339 UTC date-time, to the nanosecond."""
    seconds, fraction = divmod(nanos, 10**9)
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{fraction:09d}Z"


def digest(prefix: str, *parts) -> str:
    """A request id from an item's identity: what a re-sent batch reproduces byte for byte."""
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part if isinstance(part, bytes) else str(part).encode())
        hasher.update(b"\x1f")
    return f"{prefix}-{hasher.hexdigest()}"


def canonical(attrs: Mapping[str, AnyValue]) -> bytes:
    """Attributes in a fixed order and encoding, for a digest."""
    return b"".join(
        key.encode() + b"=" + attrs[key].SerializeToString(deterministic=True) + b";"
        for key in sorted(attrs)
    )


def placement(resource: Mapping[str, AnyValue]) -> dict:
    """Workspace and API key fields from our resource attributes (absent ones are left out).

    A name without an id serves as the id too, so that naming a workspace is enough.
    """
    fields = {}
    for kind, id_key, name_key in (
        ("workspace", WORKSPACE_ID, WORKSPACE_NAME),
        ("api_key", API_KEY_ID, API_KEY_NAME),
    ):
        external_id, name = text(resource, id_key), text(resource, name_key)
        if external_id is not None or name is not None:
            fields[f"{kind}_id"] = external_id or name
            fields[f"{kind}_name"] = name
    return fields


RESOURCE_ORIGINS = {
    "workspace_id": f"resource attribute {WORKSPACE_ID}",
    "workspace_name": f"resource attribute {WORKSPACE_NAME}",
    "api_key_id": f"resource attribute {API_KEY_ID}",
    "api_key_name": f"resource attribute {API_KEY_NAME}",
}


def map_items(
    groups: Iterator[tuple[str, Callable[[dict], dict]]],
) -> Mapped:
    """Map (label, item mapper) pairs: a record, a rejection or a counted skip each."""
    mapped = Mapped()
    for label, to_record in groups:
        item = Item(label)
        try:
            item.record = to_record(item.origins)
        except Invalid as exc:
            item.rejection = exc
        except Skip as skip:
            mapped.skipped[skip.reason] += 1
            continue
        mapped.items.append(item)
    return mapped
