"""The record contract: what a request log may be, and bytes parsed into records.

``check_record`` validates one record and returns it normalised; a ``Rejection`` says why a
record was not stored (its position, request_id, field and reason). Checking is plain Python
and touches no database. ``parse_body`` and ``parse_lines`` turn an HTTP body or JSONL lines
into (position, value) pairs.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from usage.models import LONG_CONTEXT_THRESHOLD, ContextWindow

try:  # about four times faster than the standard library's JSON parser
    from orjson import loads as _loads
except ImportError:  # pragma: no cover
    from json import loads as _loads

MAX_FUTURE = dt.timedelta(minutes=5)
# A single request cannot have used a trillion tokens; larger values would only be typos
# that overflow sums.
MAX_COUNT = 10**12
MAX_CODE_EXECUTION_SECONDS = 10**9
NAME_LENGTH = 200

_TIERS = frozenset({"standard", "batch", "priority"})
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


class InvalidJson:
    """Stands in for an input line that could not be parsed, so it is rejected in place."""

    __slots__ = ("reason",)

    def __init__(self, reason: str):
        self.reason = reason


class BodyError(ValueError):
    """The body as a whole cannot be read (not a JSON array, not UTF-8 NDJSON...)."""


# ---------------------------------------------------------------------------------------
# Parsing bytes into (position, value) pairs


def parse_lines(lines: Iterable[bytes | str], start: int = 1) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed value) for NDJSON lines; blank lines are skipped."""
    loads = _loads
    for number, line in enumerate(lines, start):
        try:
            value = loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            if not line.strip():  # checked only here: a copy of every line is not free
                continue
            value = InvalidJson(str(exc))
        yield number, value


def parse_body(data: bytes) -> tuple[str, Iterator[tuple[int, Any]]]:
    """Return ("index", pairs) for a JSON array body or ("line", pairs) for NDJSON.

    A body whose first non-blank character is ``[`` is a JSON array (positions are 0-based
    indexes); anything else is NDJSON (positions are 1-based line numbers).
    """
    stripped = data.lstrip()
    if not stripped:
        raise BodyError("The body is empty; send a JSON array or NDJSON lines.")
    if stripped[:1] == b"[":
        try:
            values = _loads(stripped)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BodyError(f"The body starts with '[' but is not a JSON array: {exc}") from None
        if not isinstance(values, list):
            raise BodyError("The body is not a JSON array.")
        return "index", iter(enumerate(values))
    return "line", parse_lines(data.split(b"\n"))


# ---------------------------------------------------------------------------------------
# Checking one record (pure Python, no database)


class Invalid(Exception):
    """A record breaks the contract: the field (None for the record itself) and why."""

    def __init__(self, field_name: str | None, message: str):
        self.field = field_name
        self.message = message


_COUNT_MESSAGE = f"must be a non-negative integer (at most {MAX_COUNT})"


def _count(value: Any, path: str) -> int:
    """A count that failed check_record's fast test: a null is 0, anything else rejected."""
    if value is None:
        return 0
    raise Invalid(path, _COUNT_MESSAGE)


def _identifier(value: Any, path: str, max_length: int, required: bool) -> str | None:
    if value is None:
        if required:
            raise Invalid(path, "is required")
        return None
    if (
        type(value) is not str
        or not value
        or len(value) > max_length
        or "\x00" in value
        or (not value.isascii() and not _encodable(value))
    ):
        message = f"must be a non-empty string of at most {max_length} characters"
        raise Invalid(path, message if required else message + ", or null")
    return value


def clean_name(value: str | None) -> str | None:
    """A name as stored: no NUL or lone surrogates, trimmed, at most 200 characters."""
    if value is None:
        return None
    if "\x00" in value or (not value.isascii() and not _encodable(value)):
        value = value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return value.strip()[:NAME_LENGTH] or None


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates, which JSON allows and databases do not
        return False
    return True


def _timestamp(value: Any, latest: dt.datetime) -> dt.datetime:
    if value is None:
        raise Invalid("timestamp", "is required")
    if type(value) is not str:
        raise Invalid("timestamp", _TIMESTAMP_MESSAGE)
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


def check_record(value: Any, latest: dt.datetime) -> tuple:
    """Validate one record and return it normalised, or raise ``Invalid``.

    The tuple is (request_id, timestamp UTC, dimensions, workspace name, API key name,
    status code, rate-limit type, uncached input, 5m writes, 1h writes, cache reads, output,
    web searches, code execution ms); dimensions are (workspace external id or None, API
    key external id or None, model id, service tier, context window).
    """
    if type(value) is not dict:
        if isinstance(value, InvalidJson):
            raise Invalid(None, f"is not valid JSON ({value.reason})")
        raise Invalid(None, "is not a JSON object")
    get = value.get
    # Each field has a fast path for the common valid case and falls back to the helper
    # that knows the exact rule and message: this loop runs for every record.
    request_id = get("request_id")
    if not (
        type(request_id) is str
        and 0 < len(request_id) <= 255
        and request_id.isascii()
        and "\x00" not in request_id
    ):
        request_id = _identifier(request_id, "request_id", 255, required=True)
    timestamp = _timestamp(get("timestamp"), latest)
    model = get("model")
    if not (
        type(model) is str and 0 < len(model) <= 128 and model.isascii() and "\x00" not in model
    ):
        model = _identifier(model, "model", 128, required=True)
    workspace = get("workspace_id")
    if workspace is not None and not (
        type(workspace) is str
        and 0 < len(workspace) <= 128
        and workspace.isascii()
        and "\x00" not in workspace
    ):
        workspace = _identifier(workspace, "workspace_id", 128, required=False)
    api_key = get("api_key_id")
    if api_key is not None and not (
        type(api_key) is str
        and 0 < len(api_key) <= 128
        and api_key.isascii()
        and "\x00" not in api_key
    ):
        api_key = _identifier(api_key, "api_key_id", 128, required=False)
    workspace_name = get("workspace_name")  # cleaned when used, on first sight only
    if workspace_name is not None and type(workspace_name) is not str:
        raise Invalid("workspace_name", "must be a string or null")
    api_key_name = get("api_key_name")
    if api_key_name is not None and type(api_key_name) is not str:
        raise Invalid("api_key_name", "must be a string or null")

    tier = get("service_tier")
    if tier is None:
        tier = "standard"
    elif tier not in _TIERS if type(tier) is str else True:
        raise Invalid("service_tier", "must be one of standard, batch, priority")

    status = get("status_code", 200)
    if status is None:
        status = 200
    elif type(status) is not int or not 100 <= status <= 599:
        raise Invalid("status_code", "must be an integer HTTP status code (100-599)")
    limit_type = get("rate_limit_type")
    if limit_type is None:
        limit_type = ""
    elif limit_type not in LIMIT_TYPES if type(limit_type) is str else True:
        raise Invalid(
            "rate_limit_type", "must be one of requests, input_tokens, output_tokens, or null"
        )
    elif status != 429:
        raise Invalid("rate_limit_type", "is only allowed with status_code 429")

    usage = get("usage")
    if usage is None:
        uncached = write_5m = write_1h = read = output = searches = 0
    elif type(usage) is not dict:
        raise Invalid("usage", "must be an object")
    else:
        uncached = usage.get("input_tokens", 0)
        if type(uncached) is not int or not 0 <= uncached <= MAX_COUNT:
            uncached = _count(uncached, "usage.input_tokens")
        output = usage.get("output_tokens", 0)
        if type(output) is not int or not 0 <= output <= MAX_COUNT:
            output = _count(output, "usage.output_tokens")
        read = usage.get("cache_read_input_tokens", 0)
        if type(read) is not int or not 0 <= read <= MAX_COUNT:
            read = _count(read, "usage.cache_read_input_tokens")
        total = usage.get("cache_creation_input_tokens", 0)
        if type(total) is not int or not 0 <= total <= MAX_COUNT:
            total = _count(total, "usage.cache_creation_input_tokens")
        breakdown = usage.get("cache_creation")
        if breakdown is None:
            write_5m, write_1h = total, 0
        elif type(breakdown) is not dict:
            raise Invalid("usage.cache_creation", "must be an object")
        elif "ephemeral_5m_input_tokens" in breakdown or "ephemeral_1h_input_tokens" in breakdown:
            write_5m = breakdown.get("ephemeral_5m_input_tokens", 0)
            if type(write_5m) is not int or not 0 <= write_5m <= MAX_COUNT:
                write_5m = _count(write_5m, "usage.cache_creation.ephemeral_5m_input_tokens")
            write_1h = breakdown.get("ephemeral_1h_input_tokens", 0)
            if type(write_1h) is not int or not 0 <= write_1h <= MAX_COUNT:
                write_1h = _count(write_1h, "usage.cache_creation.ephemeral_1h_input_tokens")
            if (
                usage.get("cache_creation_input_tokens") is not None
                and total != write_5m + write_1h
            ):
                raise Invalid(
                    "usage.cache_creation_input_tokens",
                    f"is {total} but usage.cache_creation adds up to {write_5m + write_1h}",
                )
        else:  # an empty breakdown says nothing; the total stands
            write_5m, write_1h = total, 0
        tools = usage.get("server_tool_use")
        if tools is None:
            searches = 0
        elif type(tools) is not dict:
            raise Invalid("usage.server_tool_use", "must be an object")
        else:
            searches = tools.get("web_search_requests", 0)
            if type(searches) is not int or not 0 <= searches <= MAX_COUNT:
                searches = _count(searches, "usage.server_tool_use.web_search_requests")

    seconds = get("code_execution_seconds")
    if not seconds:
        if seconds is not None and type(seconds) not in (int, float):  # False, "", [], {}
            raise Invalid("code_execution_seconds", "must be a non-negative number")
        millis = 0
    elif type(seconds) is int and 0 < seconds <= MAX_CODE_EXECUTION_SECONDS:
        millis = seconds * 1000
    elif type(seconds) is float and 0 < seconds <= MAX_CODE_EXECUTION_SECONDS:
        millis = round(seconds * 1000)  # finite here: NaN and infinities fail the comparison
    else:
        raise Invalid(
            "code_execution_seconds",
            f"must be a non-negative number (at most {MAX_CODE_EXECUTION_SECONDS})",
        )

    context = _LARGE if uncached + write_5m + write_1h + read > LONG_CONTEXT_THRESHOLD else _SMALL
    return (
        request_id,
        timestamp,
        (workspace, api_key, model, tier, context),
        workspace_name,
        api_key_name,
        status,
        limit_type,
        uncached,
        write_5m,
        write_1h,
        read,
        output,
        searches,
        millis,
    )
