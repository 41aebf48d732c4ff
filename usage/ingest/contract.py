"""The record contract: what a request log may be, declared as msgspec Structs.

``RawRecord`` is the record as sent (the README's "The record"): each field's type and range
is declared, so msgspec decodes and validates it in C (an integer is never a float or a
bool). ``check_record`` adds the rules a declaration cannot state (the timestamp's shape and
offset, the cache breakdown's sum, a rate-limit type only with 429, identifiers without NUL)
and returns a ``CheckedRecord``. Each field's reason for a rejection is in ``REASONS``; a
``Rejection`` names the record's position, request_id, field and reason. Checking touches no
database. ``parse_body`` and ``parse_lines`` cut an HTTP body or JSONL lines into
(position, JSON text) pairs; records already parsed (dicts) are checked too.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any, Literal, NamedTuple

import msgspec
from msgspec import UNSET, Meta, Raw, Struct, UnsetType

from usage.models import LONG_CONTEXT_THRESHOLD, ContextWindow

MAX_FUTURE = dt.timedelta(minutes=5)
# A single request cannot have used a trillion tokens; larger values would only be typos
# that overflow sums.
MAX_COUNT = 10**12
MAX_CODE_EXECUTION_SECONDS = 10**9
# A client's own estimate of one request's cost (USD); stored in whole nano-dollars.
MAX_CLIENT_COST_USD = 10**6
NANOS_PER_USD = 10**9
NAME_LENGTH = 200
LIMIT_TYPES = frozenset({"requests", "input_tokens", "output_tokens"})

_RFC3339 = re.compile(
    r"(?P<head>\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d)(?P<fraction>\.\d+)?"
    r"(?P<offset>[Zz]|[+-]\d\d:\d\d)?"
)
_TIMESTAMP_MESSAGE = "must be an RFC 3339 date-time string, e.g. 2026-11-03T14:05:09Z"
_fromisoformat = dt.datetime.fromisoformat
_UTC = dt.UTC
_SMALL = ContextWindow.UP_TO_200K.value
_LARGE = ContextWindow.OVER_200K.value


# ---------------------------------------------------------------------------------------
# The record as sent

Count = Annotated[int, Meta(ge=0, le=MAX_COUNT)]
RequestIdText = Annotated[str, Meta(min_length=1, max_length=255)]
Identifier = Annotated[str, Meta(min_length=1, max_length=128)]
AccountId = Annotated[str, Meta(min_length=1, max_length=255)]


class CacheCreation(Struct, gc=False):
    """``usage.cache_creation``: absent fields stay UNSET, so an empty object says nothing."""

    ephemeral_5m_input_tokens: Count | None | UnsetType = UNSET
    ephemeral_1h_input_tokens: Count | None | UnsetType = UNSET


class ServerToolUse(Struct, gc=False):
    web_search_requests: Count | None = None


class Usage(Struct, gc=False):
    """The Messages API's ``usage`` object; a null count is 0."""

    input_tokens: Count | None = None
    output_tokens: Count | None = None
    cache_read_input_tokens: Count | None = None
    cache_creation_input_tokens: Count | None = None
    cache_creation: CacheCreation | None = None
    server_tool_use: ServerToolUse | None = None


class RawRecord(Struct, gc=False):
    """One request log as sent; unknown fields are ignored, null means the default."""

    request_id: RequestIdText
    # Parsed by check_record: msgspec's datetimes round nanoseconds and accept offsets
    # without a colon, where the contract cuts and refuses them.
    timestamp: str
    model: Identifier
    workspace_id: Identifier | None = None
    workspace_name: str | None = None
    api_key_id: Identifier | None = None
    api_key_name: str | None = None
    account_id: AccountId | None = None
    account_name: str | None = None
    service_tier: Literal["standard", "batch", "priority"] | None = None
    status_code: Annotated[int, Meta(ge=100, le=599)] | None = None
    rate_limit_type: Literal["requests", "input_tokens", "output_tokens"] | None = None
    usage: Usage | None = None
    code_execution_seconds: Annotated[float, Meta(ge=0, le=MAX_CODE_EXECUTION_SECONDS)] | None = (
        None
    )
    # What the client itself says the request cost (Claude Code's cost_usd, LiteLLM's
    # response_cost): shown beside our own pricing, never used for it.
    client_cost_usd: Annotated[float, Meta(ge=0, le=MAX_CLIENT_COST_USD)] | None = None


_COUNT = f"must be a non-negative integer (at most {MAX_COUNT})"
_OBJECT = "must be an object"
# Why a field's value is refused, whatever msgspec found wrong with it (the API's wording).
REASONS = {
    "request_id": "must be a non-empty string of at most 255 characters",
    "timestamp": _TIMESTAMP_MESSAGE,
    "model": "must be a non-empty string of at most 128 characters",
    "workspace_id": "must be a non-empty string of at most 128 characters, or null",
    "workspace_name": "must be a string or null",
    "api_key_id": "must be a non-empty string of at most 128 characters, or null",
    "api_key_name": "must be a string or null",
    "account_id": "must be a non-empty string of at most 255 characters, or null",
    "account_name": "must be a string or null",
    "service_tier": "must be one of standard, batch, priority",
    "status_code": "must be an integer HTTP status code (100-599)",
    "rate_limit_type": "must be one of requests, input_tokens, output_tokens, or null",
    "code_execution_seconds": (
        f"must be a non-negative number (at most {MAX_CODE_EXECUTION_SECONDS})"
    ),
    "client_cost_usd": (
        f"must be a non-negative number of US dollars (at most {MAX_CLIENT_COST_USD})"
    ),
    "usage": _OBJECT,
    "usage.input_tokens": _COUNT,
    "usage.output_tokens": _COUNT,
    "usage.cache_read_input_tokens": _COUNT,
    "usage.cache_creation_input_tokens": _COUNT,
    "usage.cache_creation": _OBJECT,
    "usage.cache_creation.ephemeral_5m_input_tokens": _COUNT,
    "usage.cache_creation.ephemeral_1h_input_tokens": _COUNT,
    "usage.server_tool_use": _OBJECT,
    "usage.server_tool_use.web_search_requests": _COUNT,
}
_REQUIRED = frozenset({"request_id", "timestamp", "model"})

_decode = msgspec.json.Decoder(RawRecord).decode
_convert = msgspec.convert


class CheckedRecord(NamedTuple):
    """A record that passed, normalised: what the registry and the store need."""

    request_id: str
    timestamp: dt.datetime  # UTC
    # (workspace external id or None, API key external id or None, model id, service tier,
    # context window, account external id or None): the series a record belongs to.
    dimensions: tuple[str | None, str | None, str, str, str, str | None]
    workspace_name: str | None  # cleaned when used, on first sight only
    api_key_name: str | None
    status_code: int
    rate_limit_type: str  # "" when not rate limited
    uncached_input_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    cache_read_tokens: int
    output_tokens: int
    web_search_requests: int
    code_execution_ms: int
    client_cost_nanos: int  # the client's own estimate, in 1e-9 USD (0: none given)
    # Last, as in the rows encoded for COPY (store.encoded): the registry reads it as row[-1].
    account_name: str | None


@dataclass(frozen=True)
class Rejection:
    """One record that was not stored: where it was, its request_id, the field, why."""

    position: int
    request_id: str | None
    field: str | None
    message: str

    def describe(self, label: str = "record") -> str:
        where = f"{label} {self.position}"
        if self.request_id is not None:
            where += f" (request_id {self.request_id!r})"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )

    def as_dict(self) -> dict:
        return {
            "position": self.position,
            "request_id": self.request_id,
            "field": self.field,
            "message": self.message,
        }


class BodyError(ValueError):
    """The body as a whole cannot be read (not a JSON array...)."""


class Invalid(Exception):
    """A record breaks the contract: the field (None for the record itself) and why."""

    def __init__(self, field_name: str | None, message: str):
        self.field = field_name
        self.message = message


# ---------------------------------------------------------------------------------------
# Cutting bytes into (position, JSON text) pairs


def parse_lines(lines: Iterable[bytes], start: int = 1) -> Iterator[tuple[int, bytes]]:
    """Yield (line number, line) for NDJSON lines; blank lines are skipped."""
    for number, line in enumerate(lines, start):
        # isspace() stops at the first other character: no copy of the line.
        if line and not line.isspace():
            yield number, line


def parse_body(data: bytes) -> tuple[str, Iterator[tuple[int, bytes | Raw]]]:
    """Return ("index", pairs) for a JSON array body or ("line", pairs) for NDJSON.

    A body whose first non-blank character is ``[`` is a JSON array (positions are 0-based
    indexes); anything else is NDJSON (positions are 1-based line numbers).
    """
    stripped = data.lstrip()
    if not stripped:
        raise BodyError("The body is empty; send a JSON array or NDJSON lines.")
    if stripped[:1] == b"[":
        try:
            if not stripped.isascii():
                stripped.decode()  # JSON is UTF-8; msgspec does not read unknown fields
            values = msgspec.json.decode(stripped, type=list[Raw])
        except (msgspec.MsgspecError, UnicodeDecodeError) as exc:
            raise BodyError(f"The body starts with '[' but is not a JSON array: {exc}") from None
        return "index", iter(enumerate(values))
    return "line", parse_lines(data.split(b"\n"))


# ---------------------------------------------------------------------------------------
# Checking one record (no database)


def check_record(value: Any, latest: dt.datetime) -> CheckedRecord:
    """Validate one record (JSON text, or a parsed object) and return it normalised.

    Raises ``Invalid`` naming the field and the reason.
    """
    escaped = True
    try:
        if type(value) is bytes:
            if not value.isascii():
                # JSON is UTF-8, and msgspec skips unknown fields without reading them.
                value.decode()
            record = _decode(value)
            # A NUL or a lone surrogate can only come as a \u escape: JSON refuses raw
            # control characters, and invalid UTF-8 was refused just above.
            escaped = b"\\u" in value
        elif type(value) is Raw:  # an element of an array body, checked as UTF-8 whole
            record = _decode(value)
        elif type(value) is dict:
            record = _convert(value, RawRecord)
        else:
            raise Invalid(None, "is not a JSON object")
    except msgspec.ValidationError as exc:
        raise _invalid(str(exc)) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise Invalid(None, f"is not valid JSON ({exc})") from None

    request_id, model = record.request_id, record.model
    workspace, api_key = record.workspace_id, record.api_key_id
    account = record.account_id
    # What the schema cannot say: PostgreSQL's text holds no NUL, no database a lone
    # surrogate (a record given as a dict can carry one).
    if escaped:
        if _unstorable(request_id):
            raise Invalid("request_id", REASONS["request_id"])
        if _unstorable(model):
            raise Invalid("model", REASONS["model"])
        if workspace is not None and _unstorable(workspace):
            raise Invalid("workspace_id", REASONS["workspace_id"])
        if api_key is not None and _unstorable(api_key):
            raise Invalid("api_key_id", REASONS["api_key_id"])
        if account is not None and _unstorable(account):
            raise Invalid("account_id", REASONS["account_id"])
    timestamp = _timestamp(record.timestamp, latest)

    status = record.status_code or 200
    limit_type = record.rate_limit_type
    if limit_type is None:
        limit_type = ""
    elif status != 429:
        raise Invalid("rate_limit_type", "is only allowed with status_code 429")

    usage = record.usage
    if usage is None:
        uncached = write_5m = write_1h = read = output = searches = 0
    else:
        uncached = usage.input_tokens or 0
        output = usage.output_tokens or 0
        read = usage.cache_read_input_tokens or 0
        total = usage.cache_creation_input_tokens
        write_5m, write_1h = total or 0, 0
        breakdown = usage.cache_creation
        # An empty breakdown says nothing; the total stands.
        if breakdown is not None and (
            breakdown.ephemeral_5m_input_tokens is not UNSET
            or breakdown.ephemeral_1h_input_tokens is not UNSET
        ):
            write_5m = breakdown.ephemeral_5m_input_tokens or 0
            write_1h = breakdown.ephemeral_1h_input_tokens or 0
            if total is not None and total != write_5m + write_1h:
                raise Invalid(
                    "usage.cache_creation_input_tokens",
                    f"is {total} but usage.cache_creation adds up to {write_5m + write_1h}",
                )
        tools = usage.server_tool_use
        searches = (tools.web_search_requests or 0) if tools is not None else 0

    seconds = record.code_execution_seconds
    millis = round(seconds * 1000) if seconds else 0
    cost = record.client_cost_usd
    # repr: the shortest decimal that reads back as the same double ("0.0123", as sent).
    nanos = (
        int((Decimal(repr(cost)) * NANOS_PER_USD).to_integral_value(ROUND_HALF_EVEN)) if cost else 0
    )
    tier = record.service_tier or "standard"
    context = _LARGE if uncached + write_5m + write_1h + read > LONG_CONTEXT_THRESHOLD else _SMALL
    return CheckedRecord(
        request_id,
        timestamp,
        (workspace, api_key, model, tier, context, account),
        record.workspace_name,
        record.api_key_name,
        status,
        limit_type,
        uncached,
        write_5m,
        write_1h,
        read,
        output,
        searches,
        millis,
        nanos,
        record.account_name,
    )


def _invalid(error: str) -> Invalid:
    """The contract's wording for one of msgspec's validation errors.

    msgspec says what it found (``Expected `int` >= 0 - at `$.usage.input_tokens```); the
    rejection names the field with its reason from ``REASONS``.
    """
    what, at, where = error.rpartition(" - at `$")
    if not at:  # the record itself, e.g. ``Expected `object`, got `array```
        what, where = error, "`"
    path = where[1:-1]
    missing = what.startswith("Object missing required field `")
    if missing:
        name = what.split("`")[1]
        path = f"{path}.{name}" if path else name
    if path not in REASONS:  # the record itself, or a key that is not a string
        return Invalid(None, "is not a JSON object")
    if path in _REQUIRED and (missing or what.endswith("got `null`")):
        return Invalid(path, "is required")
    return Invalid(path, REASONS[path])


def request_id_of(value: Any) -> str | None:
    """The request_id of a rejected record, when it has a string one."""
    if type(value) is bytes or type(value) is Raw:
        try:
            value = msgspec.json.decode(value)
        except msgspec.DecodeError:
            return None
    if type(value) is dict:
        request_id = value.get("request_id")
        if type(request_id) is str:
            return request_id
    return None


def clean_name(value: str | None) -> str | None:
    """A name as stored: no NUL or lone surrogates, trimmed, at most 200 characters."""
    if value is None:
        return None
    if "\x00" in value or (not value.isascii() and not _encodable(value)):
        value = value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return value.strip()[:NAME_LENGTH] or None


def _unstorable(value: str) -> bool:
    return "\x00" in value or (not value.isascii() and not _encodable(value))


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates, which JSON allows and databases do not
        return False
    return True


def _timestamp(value: str, latest: dt.datetime) -> dt.datetime:
    """An RFC 3339 date-time with an offset, in UTC, microseconds kept, not too far ahead."""
    try:
        moment = _fromisoformat(value)
    except ValueError:
        moment = _slow_timestamp(value)
    else:
        # fromisoformat also takes ISO 8601 forms that RFC 3339 does not (basic format,
        # no seconds, comma fractions, offsets without a colon): insist on the RFC shape.
        if not (
            len(value) >= 19
            and value[4] == "-"
            and value[7] == "-"
            and value[10] in "Tt "
            and value[13] == ":"
            and value[16] == ":"
            and "," not in value
            and (moment.tzinfo is None or value[-1] in "Zz" or value[-3] == ":")
        ):
            raise Invalid("timestamp", _TIMESTAMP_MESSAGE)
    if moment.tzinfo is None:
        raise Invalid("timestamp", "has no UTC offset; add Z or an offset such as +05:30")
    if moment.tzinfo is not _UTC:
        try:
            moment = moment.astimezone(_UTC)
        except OverflowError:
            raise Invalid("timestamp", "is out of range") from None
    if moment > latest:
        raise Invalid("timestamp", "is more than 5 minutes in the future")
    return moment


def _slow_timestamp(value: str) -> dt.datetime:
    """Parse what fromisoformat refuses but RFC 3339 allows (lowercase z, nanoseconds)."""
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise Invalid("timestamp", _TIMESTAMP_MESSAGE)
    head, offset, fraction = match["head"], match["offset"] or "", match["fraction"] or ""
    if offset in ("z", "Z"):
        offset = "+00:00"
    try:
        return _fromisoformat(f"{head[:10]}T{head[11:]}{fraction[:7]}{offset}")
    except ValueError:
        raise Invalid("timestamp", "is not a valid date-time") from None
