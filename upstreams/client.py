"""A client of Anthropic's Usage & Cost Admin API (Anthropic's own, or another Meterboard).

Plain urllib, as Anthropic's reference describes the calls: ``x-api-key`` and
``anthropic-version: 2023-06-01``; reports paged by ``page`` = the previous ``next_page``
while ``has_more``; lists paged by ``after_id`` = ``last_id``; a 429 waited out for its
``retry-after`` (up to a limit). Answers are declared as msgspec Structs: a field of the wrong
type is an ``UpstreamError`` naming it.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Annotated

import msgspec
from msgspec import Meta, Struct

from console import outbound

API_VERSION = "2023-06-01"
USAGE_PATH = "/v1/organizations/usage_report/messages"
WORKSPACES_PATH = "/v1/organizations/workspaces"
API_KEYS_PATH = "/v1/organizations/api_keys"
# Every dimension both Anthropic and Meterboard group by; the upstream sums over the rest.
GROUP_BY = ("api_key_id", "workspace_id", "model", "service_tier", "context_window", "account_id")
MINUTE_LIMIT = 1440  # the most 1m buckets one page may hold
RETRIES_ON_429 = 3
USER_AGENT = "meterboard-upstream/1"

Count = Annotated[int, Meta(ge=0)]


class CacheCreation(Struct, gc=False):
    ephemeral_5m_input_tokens: Count = 0
    ephemeral_1h_input_tokens: Count = 0


class ServerToolUse(Struct, gc=False):
    web_search_requests: Count = 0


class Result(Struct, gc=False):
    """One result of a usage bucket: the counts of one combination of dimensions."""

    uncached_input_tokens: Count = 0
    cache_creation: CacheCreation = msgspec.field(default_factory=CacheCreation)
    cache_read_input_tokens: Count = 0
    output_tokens: Count = 0
    server_tool_use: ServerToolUse | None = None
    api_key_id: str | None = None
    workspace_id: str | None = None
    model: str | None = None
    service_tier: str | None = None
    context_window: str | None = None
    account_id: str | None = None


class UsageBucket(Struct, gc=False):
    starting_at: dt.datetime
    ending_at: dt.datetime
    results: list[Result]


class UsagePage(Struct, gc=False):
    data: list[UsageBucket]
    has_more: bool
    next_page: str | None = None


class Named(Struct, gc=False):
    id: str
    name: str | None = None
    workspace_id: str | None = None


class ListPage(Struct, gc=False):
    data: list[Named]
    has_more: bool = False
    last_id: str | None = None


class UpstreamError(Exception):
    """The upstream could not be read: what was asked, and why, in words for the page."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Client:
    """Reads one upstream with one key."""

    def __init__(
        self,
        base_url: str,
        key: str,
        *,
        timeout: float = 30,
        max_retry_after: float = 60,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
            raise UpstreamError(f"{base_url[:100]!r} is not an http or https URL")
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.timeout = timeout
        self.max_retry_after = max_retry_after
        self.sleep = sleep

    def get(self, path: str, params: list[tuple[str, str]], shape: type):
        """GET ``path`` with ``params`` and decode the answer as ``shape``."""
        url = f"{self.base_url}{path}?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
            url,
            headers={
                "x-api-key": self.key,
                "anthropic-version": API_VERSION,
                "accept": "application/json",
                "user-agent": USER_AGENT,
            },
        )
        for attempt in range(RETRIES_ON_429 + 1):
            try:
                with outbound.opener.open(request, timeout=self.timeout) as response:
                    body = response.read()
                break
            except urllib.error.HTTPError as exc:
                body = exc.read()
                if exc.code == 429 and attempt < RETRIES_ON_429:
                    wait = _retry_after(exc.headers.get("retry-after"))
                    if wait is not None and wait <= self.max_retry_after:
                        self.sleep(wait)
                        continue
                raise UpstreamError(
                    f"GET {path} answered {exc.code}: {_error_message(body)}", exc.code
                ) from None
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise UpstreamError(f"GET {path} failed: {reason}") from None
        try:
            return msgspec.json.decode(body, type=shape)
        except msgspec.ValidationError as exc:
            raise UpstreamError(f"GET {path}: the answer does not fit the API: {exc}") from None
        except msgspec.DecodeError as exc:
            raise UpstreamError(f"GET {path}: the answer is not JSON: {exc}") from None

    def usage_minutes(self, start: dt.datetime, end: dt.datetime) -> Iterator[UsageBucket]:
        """The 1m buckets of [start, end), grouped by every dimension, through every page."""
        params = [
            ("starting_at", rfc3339(start)),
            ("ending_at", rfc3339(end)),
            ("bucket_width", "1m"),
            ("limit", str(MINUTE_LIMIT)),
            *[("group_by[]", dimension) for dimension in GROUP_BY],
        ]
        page: str | None = None
        while True:
            answer = self.get(USAGE_PATH, [*params, *([("page", page)] if page else [])], UsagePage)
            yield from answer.data
            if not answer.has_more:
                return
            if not answer.next_page or answer.next_page == page:
                raise UpstreamError(f"GET {USAGE_PATH}: has_more without a new next_page")
            page = answer.next_page

    def names(self, path: str) -> list[Named]:
        """Every item of a list endpoint (workspaces, API keys), through every page."""
        items: list[Named] = []
        after: str | None = None
        while True:
            params = [("limit", "1000"), *([("after_id", after)] if after else [])]
            answer = self.get(path, params, ListPage)
            items.extend(answer.data)
            if not answer.has_more or not answer.last_id or answer.last_id == after:
                return items
            after = answer.last_id


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a retry-after header (seconds; an HTTP date is not sent by
    Anthropic's API), or None when it cannot be read."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return max(seconds, 0.0) if seconds is not None else None


def _error_message(body: bytes) -> str:
    """Anthropic's error message from an error body, or the start of the body."""
    try:
        error = json.loads(body)["error"]
        return f"{error.get('type', 'error')}: {error.get('message', '')}"[:500]
    except (ValueError, KeyError, TypeError, AttributeError):
        return body[:200].decode("utf-8", "replace") or "(empty body)"
