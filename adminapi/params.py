"""The query strings of the Admin API, read as Anthropic documents them; errors name the field.

Arrays come as ``x[]=a&x[]=b`` (Anthropic's SDKs), ``x[0]=a&x[1]=b`` (some pollers) or
``x=a&x=b``; all three read the same. Parameters we do not know are ignored, as Anthropic's
API ignores them; a known parameter with a bad value is a 400 naming it.
"""

import base64
import binascii
import datetime as dt
import re

_INDEXED = re.compile(r"^(?P<name>[a-z_]+)\[(?P<index>\d*)\]$")


class ApiError(Exception):
    """An error answered in Anthropic's shape: ``{"type": "error", "error": {type, message}}``."""

    def __init__(self, status: int, error_type: str, message: str, headers=None):
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.headers = headers or {}


def invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_request_error", message)


class Query:
    """The parameters of one request: scalars by name, arrays under any of the three forms."""

    def __init__(self, querydict):
        self.scalars: dict[str, list[str]] = {}
        self.arrays: dict[str, list[tuple[int, int, str]]] = {}
        for position, (key, value) in enumerate(
            (k, v) for k in querydict for v in querydict.getlist(k)
        ):
            match = _INDEXED.match(key)
            if match:
                index = int(match["index"]) if match["index"] else -1
                self.arrays.setdefault(match["name"], []).append((index, position, value))
            else:
                self.scalars.setdefault(key, []).append(value)

    def scalar(self, name: str) -> str | None:
        values = self.scalars.get(name, [])
        if name in self.arrays:
            raise invalid(f"{name}: expected a single value, not an array.")
        if len(values) > 1:
            raise invalid(f"{name}: expected a single value, got {len(values)}.")
        return values[0] if values else None

    def array(self, name: str) -> list[str]:
        """The values of ``name[]``, ``name[i]`` (in index order) and repeated ``name``."""
        indexed = sorted(self.arrays.get(name, []), key=lambda item: (item[0], item[1]))
        return [value for _i, _p, value in indexed] + self.scalars.get(name, [])

    def given(self, name: str) -> bool:
        return name in self.scalars or name in self.arrays


def timestamp(query: Query, name: str, *, required: bool = False) -> dt.datetime | None:
    """An RFC 3339 timestamp (a missing offset is read as UTC), in UTC."""
    raw = query.scalar(name)
    if raw is None or raw == "":
        if required:
            raise invalid(f"{name}: Field required.")
        return None
    try:
        value = dt.datetime.fromisoformat(raw.strip())
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise invalid(f"{name}: {raw[:64]!r} is not an RFC 3339 date-time.") from None


def integer(query: Query, name: str, *, default: int, low: int, high: int) -> int:
    raw = query.scalar(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"{name}: {raw[:32]!r} is not an integer.") from None
    if not low <= value <= high:
        raise invalid(f"{name}: must be between {low} and {high}, got {value}.")
    return value


def boolean(query: Query, name: str, *, default: bool) -> bool:
    raw = query.scalar(name)
    if raw is None or raw == "":
        return default
    lowered = raw.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise invalid(f"{name}: {raw[:32]!r} is not a boolean (true or false).")


def choices(query: Query, name: str, allowed, unsupported=()) -> list[str]:
    """The values of an array parameter, each one of ``allowed``.

    ``unsupported`` are values Anthropic's reference lists that this server cannot answer
    (a dimension it does not have); they are refused with a message saying so.
    """
    values = query.array(name)
    for value in values:
        if value in unsupported:
            raise invalid(f"{name}: {value!r} is not supported by this server (no such data).")
        if value not in allowed:
            listed = ", ".join(allowed)
            raise invalid(f"{name}: {value[:64]!r} is not one of {listed}.")
    return list(dict.fromkeys(values))


def page_token(start: dt.datetime) -> str:
    """An opaque next_page token: the start of the next bucket (as Anthropic's look)."""
    text = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    return "page_" + base64.urlsafe_b64encode(text.encode()).decode()


def read_page(query: Query) -> dt.datetime | None:
    raw = query.scalar("page")
    if raw is None or raw == "":
        return None
    try:
        if not raw.startswith("page_"):
            raise ValueError
        text = base64.urlsafe_b64decode(raw[5:].encode()).decode()
        return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid("page: not a next_page token of this API.") from None
