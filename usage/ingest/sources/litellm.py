"""LiteLLM's generic API logging callback: StandardLoggingPayload items to records.

A LiteLLM proxy with a ``generic_api`` callback POSTs the ``StandardLoggingPayload`` of each
call (declared in LiteLLM's ``litellm/types/utils.py``), batched as a JSON array
(``log_format: json_array``, its default), as NDJSON (``ndjson``, still sent as
``application/json``) or one object per POST (``single``). ``parse_body`` cuts any of the
three into (position, JSON text) pairs. ``to_record`` maps one payload to a record of the
contract, with the payload field each record field came from (``Mapped.sources``), or
returns None for a payload that meters nothing here (a LiteLLM cache hit, a call that is not
a completion, a failure without a status). ``ingest_payloads`` maps, checks and stores them
through the contract and names every rejected field as LiteLLM does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal

import msgspec
from django.utils import timezone
from msgspec import Meta, Raw, Struct

from console.models import Organization
from usage.ingest.checker import check_chunk
from usage.ingest.contract import MAX_COUNT, MAX_FUTURE, BodyError, Invalid, Rejection, parse_lines
from usage.ingest.services import IngestResult, ingest_checked
from usage.models import IngestBatch

# 9999-12-31T23:59:59Z: a float epoch beyond it names no date Python can hold.
_MAX_EPOCH = 253_402_300_799
Count = Annotated[int, Meta(ge=0, le=MAX_COUNT)]
Epoch = Annotated[float, Meta(ge=0, le=_MAX_EPOCH)]

# LiteLLM's CallTypes whose calls are metered in tokens by a chat or messages model (the
# "a" forms are the async ones). Embeddings, images, audio, files, batches... are skipped.
METERED_CALL_TYPES = frozenset(
    {
        "completion",
        "acompletion",
        "text_completion",
        "atext_completion",
        "anthropic_messages",
        "aanthropic_messages",
        "responses",
        "aresponses",
        "generate_content",
        "agenerate_content",
        "generate_content_stream",
        "agenerate_content_stream",
        "pass_through_endpoint",
    }
)


# ---------------------------------------------------------------------------------------
# The payload as LiteLLM sends it: only the fields read here; the rest is ignored.


class CacheCreationTokenDetails(Struct, gc=False):
    ephemeral_5m_input_tokens: Count | None = None
    ephemeral_1h_input_tokens: Count | None = None


class PromptTokensDetails(Struct, gc=False):
    cached_tokens: Count | None = None
    cache_creation_tokens: Count | None = None
    cache_creation_token_details: CacheCreationTokenDetails | None = None


class ServerToolUse(Struct, gc=False):
    web_search_requests: Count | None = None


class UsageObject(Struct, gc=False):
    """``metadata.usage_object``: the call's Usage (OpenAI's shape, Anthropic's cache fields)."""

    cache_read_input_tokens: Count | None = None
    cache_creation_input_tokens: Count | None = None
    prompt_tokens_details: PromptTokensDetails | None = None
    server_tool_use: ServerToolUse | None = None


class Metadata(Struct, gc=False):
    """``metadata`` (StandardLoggingMetadata): who called, through which key and team."""

    user_api_key_hash: str | None = None
    user_api_key_alias: str | None = None
    user_api_key_team_id: str | None = None
    user_api_key_team_alias: str | None = None
    team_id: str | None = None
    team_alias: str | None = None
    user_api_key_user_id: str | None = None
    user_api_key_user_email: str | None = None
    user_api_key_end_user_id: str | None = None
    usage_object: UsageObject | None = None


class HiddenParams(Struct, gc=False):
    litellm_model_name: str | None = None


class ErrorInformation(Struct, gc=False):
    # A string in LiteLLM's types ("429"); an integer is taken too.
    error_code: str | int | None = None
    error_class: str | None = None
    error_rate_limit_type: str | None = None


class Payload(Struct, gc=False):
    """One StandardLoggingPayload; every field may be null, the mapping says what it needs."""

    id: str | None = None
    litellm_call_id: str | None = None
    call_type: str | None = None
    status: Literal["success", "failure"] | None = None
    custom_llm_provider: str | None = None
    model: str | None = None
    prompt_tokens: Count | None = None
    completion_tokens: Count | None = None
    # LiteLLM's own estimate of the call's cost in USD (its model cost map).
    response_cost: Annotated[float, Meta(ge=0)] | None = None
    # When the call started, in seconds since the epoch (a float); no time zone to guess.
    start_time: Epoch | None = msgspec.field(default=None, name="startTime")
    cache_hit: bool | None = None
    end_user: str | None = None
    metadata: Metadata | None = None
    hidden_params: HiddenParams | None = None
    error_information: ErrorInformation | None = None


_COUNT = f"must be a non-negative integer (at most {MAX_COUNT}) or null"
_TEXT = "must be a string or null"
_OBJECT = "must be an object or null"
_USAGE = "metadata.usage_object"
_DETAILS = f"{_USAGE}.prompt_tokens_details"
# Why a payload field is refused, whatever msgspec found wrong with it.
REASONS = {
    "startTime": "must be a number: the call's start in seconds since 1970-01-01 UTC",
    "status": "must be success or failure",
    "cache_hit": "must be true, false or null",
    "prompt_tokens": _COUNT,
    "completion_tokens": _COUNT,
    "response_cost": "must be a non-negative number of US dollars or null",
    "metadata": _OBJECT,
    "hidden_params": _OBJECT,
    "error_information": _OBJECT,
    "error_information.error_code": "must be a string, an integer or null",
    _USAGE: _OBJECT,
    f"{_USAGE}.cache_read_input_tokens": _COUNT,
    f"{_USAGE}.cache_creation_input_tokens": _COUNT,
    f"{_USAGE}.server_tool_use": _OBJECT,
    f"{_USAGE}.server_tool_use.web_search_requests": _COUNT,
    _DETAILS: _OBJECT,
    f"{_DETAILS}.cached_tokens": _COUNT,
    f"{_DETAILS}.cache_creation_tokens": _COUNT,
    f"{_DETAILS}.cache_creation_token_details": _OBJECT,
    f"{_DETAILS}.cache_creation_token_details.ephemeral_5m_input_tokens": _COUNT,
    f"{_DETAILS}.cache_creation_token_details.ephemeral_1h_input_tokens": _COUNT,
}
_LEGACY = (
    "is a string: this is the legacy payload of litellm.generic_api_use_v1, which "
    "Meterboard does not read; leave that setting off to send the StandardLoggingPayload"
)
_decode = msgspec.json.Decoder(Payload | None).decode


@dataclass
class Mapped:
    """A payload as a contract record, and the payload field behind each record field."""

    record: dict
    sources: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# Cutting a body into payloads


def parse_body(data: bytes) -> Iterator[tuple[int, bytes | Raw]]:
    """(position, JSON text) of each payload: an array's indexes, else 1-based line numbers.

    A body starting with ``[`` is a JSON array; one starting with ``{`` is a single object
    (position: the line it starts on) or else NDJSON, one payload per line.
    """
    stripped = data.lstrip()
    if not stripped:
        raise BodyError("The body is empty; send LiteLLM's logging payloads.")
    first = stripped[:1]
    if first == b"[":
        try:
            if not stripped.isascii():
                stripped.decode()  # msgspec does not read the fields it skips
            values = msgspec.json.decode(stripped, type=list[Raw])
        except (msgspec.MsgspecError, UnicodeDecodeError) as exc:
            raise BodyError(f"The body starts with '[' but is not a JSON array: {exc}") from None
        return iter(enumerate(values))
    if first != b"{":
        raise BodyError(
            "The body must be a JSON array of LiteLLM logging payloads, one payload object, "
            "or NDJSON lines of them."
        )
    try:
        single = msgspec.json.decode(stripped, type=Raw)
    except msgspec.DecodeError:  # more than one value: NDJSON
        return parse_lines(data.split(b"\n"))
    return iter([(data[: len(data) - len(stripped)].count(b"\n") + 1, single)])


# ---------------------------------------------------------------------------------------
# One payload to one record


def to_record(value: bytes | Raw) -> Mapped | None:
    """The record for one payload, or None when it meters nothing; raises ``Invalid``."""
    payload = _payload(value)
    if payload is None or payload.cache_hit:
        # A LiteLLM cache hit made no provider call: nothing was used or billed.
        return None
    if payload.call_type and payload.call_type not in METERED_CALL_TYPES:
        return None
    status, limit_type = 200, None
    if payload.status == "failure":
        outcome = _failure(payload.error_information)
        if outcome is None:
            return None
        status, limit_type = outcome

    sources: dict[str, str] = {}
    request_id = _pick(sources, "request_id", (payload.litellm_call_id, "litellm_call_id"))
    if request_id is None:
        request_id = _pick(sources, "request_id", (payload.id, "id"))
    if request_id is None:
        raise Invalid("litellm_call_id", "is required (or id)")
    if payload.start_time is None:
        raise Invalid("startTime", "is required")
    sources["timestamp"] = "startTime"
    timestamp = dt.datetime.fromtimestamp(payload.start_time, dt.UTC).isoformat()

    hidden = payload.hidden_params
    model = _pick(
        sources,
        "model",
        (payload.model, "model"),
        (hidden and hidden.litellm_model_name, "hidden_params.litellm_model_name"),
    )
    if model is None:
        raise Invalid("model", "is required")
    provider = payload.custom_llm_provider
    if provider:
        # LiteLLM may prefix the provider ("bedrock/us.anthropic..."). Anthropic's own ids
        # are kept bare, so the price catalogue knows them; another provider's model keeps
        # (or gets) its provider prefix, since the record has no provider field.
        prefix = f"{provider}/"
        if provider == "anthropic":
            model = model.removeprefix(prefix)
        elif not model.startswith(prefix):
            model = prefix + model

    meta = payload.metadata or Metadata()
    workspace_id = _pick(
        sources,
        "workspace_id",
        (meta.user_api_key_team_id, "metadata.user_api_key_team_id"),
        (meta.team_id, "metadata.team_id"),
    )
    workspace_name = _pick(
        sources,
        "workspace_name",
        (meta.user_api_key_team_alias, "metadata.user_api_key_team_alias"),
        (meta.team_alias, "metadata.team_alias"),
    )
    # The key's hash is stable; its alias can be renamed, so it is the name only.
    api_key_id = _pick(
        sources,
        "api_key_id",
        (meta.user_api_key_hash, "metadata.user_api_key_hash"),
        (meta.user_api_key_alias, "metadata.user_api_key_alias"),
    )
    api_key_name = _pick(
        sources, "api_key_name", (meta.user_api_key_alias, "metadata.user_api_key_alias")
    )
    account_id = _pick(
        sources,
        "account_id",
        (meta.user_api_key_user_id, "metadata.user_api_key_user_id"),
        (payload.end_user, "end_user"),
        (meta.user_api_key_end_user_id, "metadata.user_api_key_end_user_id"),
    )
    account_name = None
    if sources.get("account_id") == "metadata.user_api_key_user_id":
        email = (meta.user_api_key_user_email, "metadata.user_api_key_user_email")
        account_name = _pick(sources, "account_name", email)

    usage, usage_sources = _usage(payload, meta.usage_object)
    sources.update(usage_sources)
    if payload.status == "failure":
        sources["status_code"] = "error_information.error_code"
        sources["rate_limit_type"] = "error_information.error_rate_limit_type"
    record = {
        "request_id": request_id,
        "timestamp": timestamp,
        "model": model,
        "workspace_id": workspace_id,
        "workspace_name": workspace_name if workspace_id is not None else None,
        "api_key_id": api_key_id,
        "api_key_name": api_key_name,
        "account_id": account_id,
        "account_name": account_name,
        "status_code": status,
        "rate_limit_type": limit_type,
        "usage": usage,
        # LiteLLM's own estimate: kept beside our pricing, so a team sees where they differ.
        "client_cost_usd": payload.response_cost,
    }
    sources["client_cost_usd"] = "response_cost"
    return Mapped(record, sources)


def call_id_of(value: Any) -> str | None:
    """The call id of a payload that could not be mapped, when it has a string one."""
    try:
        data = msgspec.json.decode(value)
    except msgspec.DecodeError:
        return None
    if type(data) is dict:
        for name in ("litellm_call_id", "id"):
            if type(data.get(name)) is str and data[name]:
                return data[name]
    return None


def _payload(value: bytes | Raw) -> Payload | None:
    try:
        if type(value) is bytes and not value.isascii():
            value.decode()  # JSON is UTF-8, and msgspec skips unknown fields unread
        return _decode(value)
    except msgspec.ValidationError as exc:
        if _legacy(value):
            raise Invalid("startTime", _LEGACY) from None
        raise _invalid(str(exc)) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise Invalid(None, f"is not valid JSON ({exc})") from None


def _invalid(error: str) -> Invalid:
    """The payload field named in one of msgspec's validation errors, with its reason."""
    what, at, where = error.rpartition(" - at `$")
    if not at:  # the payload itself, e.g. ``Expected `object | null`, got `array```
        return Invalid(None, "is not a JSON object")
    path = where[1:-1]
    return Invalid(path, REASONS.get(path, what))


def _legacy(value: bytes | Raw) -> bool:
    """Whether a payload is the stringified one of ``litellm.generic_api_use_v1``."""
    data = msgspec.json.decode(value)
    return type(data) is dict and type(data.get("startTime")) is str


def _failure(info: ErrorInformation | None) -> tuple[int, str | None] | None:
    """(status, rate-limit type) of a failed call, or None when it carries no status."""
    if info is None:
        return None
    code = info.error_code
    if type(code) is str:
        code = int(code) if code.isascii() and code.isdigit() else None
    if code == 429 or info.error_class == "RateLimitError":
        # LiteLLM's "tokens" does not say input or output, so only "requests" is kept.
        return 429, "requests" if info.error_rate_limit_type == "requests" else None
    if code is None or not 400 <= code <= 599:
        return None
    return code, None


def _usage(payload: Payload, usage: UsageObject | None) -> tuple[dict, dict[str, str]]:
    """The record's usage: LiteLLM's prompt_tokens include cache reads and writes."""
    sources = {"usage.input_tokens": "prompt_tokens", "usage.output_tokens": "completion_tokens"}
    details = usage.prompt_tokens_details if usage is not None else None
    read = _pick(
        sources,
        "usage.cache_read_input_tokens",
        (usage and usage.cache_read_input_tokens, f"{_USAGE}.cache_read_input_tokens"),
        (details and details.cached_tokens, f"{_DETAILS}.cached_tokens"),
    )
    write = _pick(
        sources,
        "usage.cache_creation_input_tokens",
        (usage and usage.cache_creation_input_tokens, f"{_USAGE}.cache_creation_input_tokens"),
        (details and details.cache_creation_tokens, f"{_DETAILS}.cache_creation_tokens"),
    )
    prompt = payload.prompt_tokens or 0
    uncached = prompt - (read or 0) - (write or 0)
    if uncached < 0:
        raise Invalid(
            "prompt_tokens",
            f"is {prompt}, less than the cache reads ({read or 0}) and writes ({write or 0}) "
            "it includes",
        )
    out: dict[str, Any] = {
        "input_tokens": uncached,
        "output_tokens": payload.completion_tokens or 0,
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": write,
    }
    split = details.cache_creation_token_details if details is not None else None
    if split is not None:
        path = f"{_DETAILS}.cache_creation_token_details"
        breakdown = {}
        for name in ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"):
            if getattr(split, name) is not None:
                breakdown[name] = getattr(split, name)
                sources[f"usage.cache_creation.{name}"] = f"{path}.{name}"
        if breakdown:
            out["cache_creation"] = breakdown
            sources["usage.cache_creation"] = path
    tools = usage.server_tool_use if usage is not None else None
    if tools is not None and tools.web_search_requests is not None:
        out["server_tool_use"] = {"web_search_requests": tools.web_search_requests}
        sources["usage.server_tool_use.web_search_requests"] = (
            f"{_USAGE}.server_tool_use.web_search_requests"
        )
    return out, sources


def _pick(sources: dict[str, str], name: str, *candidates: tuple[Any, str]) -> Any:
    """The first candidate value that is set (an empty string is not), noting its field."""
    for value, path in candidates:
        if value is not None and value != "":
            sources[name] = path
            return value
    return None


# ---------------------------------------------------------------------------------------
# Storing


def ingest_payloads(
    org: Organization, pairs: Iterable[tuple[int, Any]]
) -> tuple[IngestResult, int]:
    """Map, check and store (position, payload) pairs; the result and the number skipped.

    The rejections name LiteLLM's fields: a record field the contract refuses is reported as
    the payload field it came from.
    """
    records: list[tuple[int, dict]] = []
    refused: list[Rejection] = []
    sources: dict[int, dict[str, str]] = {}
    skipped = 0
    for position, value in pairs:
        try:
            mapped = to_record(value)
        except Invalid as exc:
            refused.append(Rejection(position, call_id_of(value), exc.field, exc.message))
            continue
        if mapped is None:
            skipped += 1
            continue
        records.append((position, mapped.record))
        sources[position] = mapped.sources
    if not records and not refused:
        return IngestResult(), skipped
    # One chunk: a body is at most INGEST_MAX_BODY_BYTES, a few thousand payloads.
    checked, rejections = check_chunk(records, timezone.now() + MAX_FUTURE)
    del records
    result = ingest_checked(org, [(checked, rejections + refused)], source=IngestBatch.Source.HTTP)
    result.rejections = [
        replace(r, field=sources.get(r.position, {}).get(r.field, r.field))
        for r in result.rejections
    ]
    return result, skipped
