"""Raw request logs in: the record contract, its validation, and storing what passes.

``ingest_records(org, records, source=...)`` is the one way in (HTTP, ``import_logs`` and
the demo generator all call it). Records are ``(position, value)`` pairs, already parsed;
``parse_body`` and ``parse_lines`` make them from bytes. The work is split in chunks of
``CHUNK_SIZE`` records, each stored in one transaction together with its ``IngestBatch``.

Checking a record is plain Python and touches no database (it runs in a helper thread, so
that the next chunk is parsed while PostgreSQL stores the current one; ``import_logs`` uses
a forked process instead, ``check_lines_in_process``, which also encodes the rows for COPY,
so that checking and storing each get a core). What needs the
database is done per chunk with a few set-based statements: the API key claims, the
registration of new workspaces, API keys and models, the series upsert, and the rows.

On PostgreSQL the rows go in with COPY: the chunk's request ids are copied into a
temporary staging table, ``INSERT INTO usage_requestid ... ON CONFLICT DO NOTHING
RETURNING`` keeps the ones not seen before, and the raw rows of those are copied into
``usage_requestlog``. Elsewhere (SQLite) the ORM's ``bulk_create`` does the same; both
store identical rows (tests/usage/test_ingest.py compares them).
"""

from __future__ import annotations

import datetime as dt
import gc
import itertools
import multiprocessing
import pickle
import queue
import re
import struct
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, connections, transaction
from django.utils import timezone
from psycopg.errors import UniqueViolation

from console.models import ApiKey, LlmModel, Organization, Workspace, describe_model
from usage.models import (
    LONG_CONTEXT_THRESHOLD,
    ContextWindow,
    IngestBatch,
    RequestId,
    RequestLog,
    Series,
)

try:  # about four times faster than the standard library's JSON parser
    from orjson import loads as _loads
except ImportError:  # pragma: no cover
    from json import loads as _loads

CHUNK_SIZE = 10_000
MAX_FUTURE = dt.timedelta(minutes=5)
# A single request cannot have used a trillion tokens; larger values would only be typos
# that overflow sums.
MAX_COUNT = 10**12
MAX_CODE_EXECUTION_SECONDS = 10**9
NAME_LENGTH = 200

_TIERS = frozenset({"standard", "batch", "priority"})
_LIMIT_TYPES = frozenset({"requests", "input_tokens", "output_tokens"})
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


@dataclass
class IngestResult:
    """Counts of one call (all its chunks) and the rejections in input order."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    batch_ids: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.accepted + self.duplicates + self.rejected


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


class _Invalid(Exception):
    def __init__(self, field_name: str | None, message: str):
        self.field = field_name
        self.message = message


_COUNT_MESSAGE = f"must be a non-negative integer (at most {MAX_COUNT})"


def _count(value: Any, path: str) -> int:
    """A count that failed check_record's fast test: a null is 0, anything else rejected."""
    if value is None:
        return 0
    raise _Invalid(path, _COUNT_MESSAGE)


def _identifier(value: Any, path: str, max_length: int, required: bool) -> str | None:
    if value is None:
        if required:
            raise _Invalid(path, "is required")
        return None
    if (
        type(value) is not str
        or not value
        or len(value) > max_length
        or "\x00" in value
        or (not value.isascii() and not _encodable(value))
    ):
        message = f"must be a non-empty string of at most {max_length} characters"
        raise _Invalid(path, message if required else message + ", or null")
    return value


def _clean_name(value: str | None) -> str | None:
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
        raise _Invalid("timestamp", "is required")
    if type(value) is not str:
        raise _Invalid("timestamp", _TIMESTAMP_MESSAGE)
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
            raise _Invalid("timestamp", _TIMESTAMP_MESSAGE)
    if moment.tzinfo is None:
        raise _Invalid("timestamp", "has no UTC offset; add Z or an offset such as +05:30")
    if moment.tzinfo is not _UTC:
        try:
            moment = moment.astimezone(_UTC)
        except OverflowError:
            raise _Invalid("timestamp", "is out of range") from None
    if moment > latest:
        raise _Invalid("timestamp", "is more than 5 minutes in the future")
    return moment


def _slow_timestamp(value: str) -> dt.datetime:
    """Parse what fromisoformat refuses but RFC 3339 allows (lowercase z, nanoseconds)."""
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise _Invalid("timestamp", _TIMESTAMP_MESSAGE)
    head, offset, fraction = match["head"], match["offset"] or "", match["fraction"] or ""
    if offset in ("z", "Z"):
        offset = "+00:00"
    try:
        return _fromisoformat(f"{head[:10]}T{head[11:]}{fraction[:7]}{offset}")
    except ValueError:
        raise _Invalid("timestamp", "is not a valid date-time") from None


def check_record(value: Any, latest: dt.datetime) -> tuple:
    """Validate one record and return it normalised, or raise ``_Invalid``.

    The tuple is (request_id, timestamp UTC, dimensions, workspace name, API key name,
    status code, rate-limit type, uncached input, 5m writes, 1h writes, cache reads, output,
    web searches, code execution ms); dimensions are (workspace external id or None, API
    key external id or None, model id, service tier, context window).
    """
    if type(value) is not dict:
        if isinstance(value, InvalidJson):
            raise _Invalid(None, f"is not valid JSON ({value.reason})")
        raise _Invalid(None, "is not a JSON object")
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
        raise _Invalid("workspace_name", "must be a string or null")
    api_key_name = get("api_key_name")
    if api_key_name is not None and type(api_key_name) is not str:
        raise _Invalid("api_key_name", "must be a string or null")

    tier = get("service_tier")
    if tier is None:
        tier = "standard"
    elif tier not in _TIERS if type(tier) is str else True:
        raise _Invalid("service_tier", "must be one of standard, batch, priority")

    status = get("status_code", 200)
    if status is None:
        status = 200
    elif type(status) is not int or not 100 <= status <= 599:
        raise _Invalid("status_code", "must be an integer HTTP status code (100-599)")
    limit_type = get("rate_limit_type")
    if limit_type is None:
        limit_type = ""
    elif limit_type not in _LIMIT_TYPES if type(limit_type) is str else True:
        raise _Invalid(
            "rate_limit_type", "must be one of requests, input_tokens, output_tokens, or null"
        )
    elif status != 429:
        raise _Invalid("rate_limit_type", "is only allowed with status_code 429")

    usage = get("usage")
    if usage is None:
        uncached = write_5m = write_1h = read = output = searches = 0
    elif type(usage) is not dict:
        raise _Invalid("usage", "must be an object")
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
            raise _Invalid("usage.cache_creation", "must be an object")
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
                raise _Invalid(
                    "usage.cache_creation_input_tokens",
                    f"is {total} but usage.cache_creation adds up to {write_5m + write_1h}",
                )
        else:  # an empty breakdown says nothing; the total stands
            write_5m, write_1h = total, 0
        tools = usage.get("server_tool_use")
        if tools is None:
            searches = 0
        elif type(tools) is not dict:
            raise _Invalid("usage.server_tool_use", "must be an object")
        else:
            searches = tools.get("web_search_requests", 0)
            if type(searches) is not int or not 0 <= searches <= MAX_COUNT:
                searches = _count(searches, "usage.server_tool_use.web_search_requests")

    seconds = get("code_execution_seconds")
    if not seconds:
        if seconds is not None and type(seconds) not in (int, float):  # False, "", [], {}
            raise _Invalid("code_execution_seconds", "must be a non-negative number")
        millis = 0
    elif type(seconds) is int and 0 < seconds <= MAX_CODE_EXECUTION_SECONDS:
        millis = seconds * 1000
    elif type(seconds) is float and 0 < seconds <= MAX_CODE_EXECUTION_SECONDS:
        millis = round(seconds * 1000)  # finite here: NaN and infinities fail the comparison
    else:
        raise _Invalid(
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


def _request_id_of(value: Any) -> str | None:
    if type(value) is dict:
        request_id = value.get("request_id")
        if type(request_id) is str:
            return request_id
    return None


def _check_chunk(items: Iterable, latest: dt.datetime) -> tuple[list, list[Rejection]]:
    # Pulling records one at a time (not a list of the chunk's parsed objects) lets each
    # object go as soon as it is checked: only the compact tuples stay.
    checked = []
    rejections = []
    for position, value in items:
        try:
            checked.append((position, check_record(value, latest)))
        except _Invalid as exc:
            rejections.append(Rejection(position, _request_id_of(value), exc.field, exc.message))
    return checked, rejections


# ---------------------------------------------------------------------------------------
# Registration: workspaces, API keys, models, series (a few set-based queries per chunk)


class _Registry:
    """What one call has resolved so far: external ids to primary keys, series ids."""

    def __init__(self, org: Organization):
        self.org = org
        self.default_workspace = Workspace.objects.get(org=org, is_default=True).pk
        self.workspaces: dict[str | None, int] = {None: self.default_workspace}
        self.key_workspace: dict[str, str | None] = {}  # key external id -> ws external id
        self.keys: dict[str, int] = {}
        self.models: dict[str, int] = {}
        self.series: dict[tuple, int] = {}

    def load_keys(self, external_ids: set[str]) -> None:
        """Learn which workspace each already-registered key of the chunk belongs to."""
        missing = [key for key in external_ids if key not in self.key_workspace]
        for start in range(0, len(missing), 500):
            for key_id, external_id, workspace_external_id in ApiKey.objects.filter(
                org=self.org, external_id__in=missing[start : start + 500]
            ).values_list("pk", "external_id", "workspace__external_id"):
                self.keys[external_id] = key_id
                self.key_workspace[external_id] = workspace_external_id

    def register(self, rows: list[tuple]) -> bool:
        """Create the workspaces, keys, models and series the rows need (first-sight names).

        Returns True when a concurrent ingest registered one of the new API keys first, in
        another workspace; the caller then checks the claims again.
        """
        series = self.series
        new_dims = {}
        for row in rows:
            if row[2] not in series and row[2] not in new_dims:
                new_dims[row[2]] = row
        if not new_dims:
            return False  # the usual case once the first chunks have been stored
        self._workspaces(new_dims.values())
        self._models({dims[2] for dims in new_dims})
        lost_race = self._keys(new_dims.values())
        self._series(new_dims)
        return lost_race

    def _workspaces(self, rows) -> None:
        wanted: dict[str, str] = {}
        for row in rows:
            external_id = row[2][0]
            if external_id not in self.workspaces and external_id not in wanted:
                wanted[external_id] = _clean_name(row[3]) or external_id
        if not wanted:
            return
        Workspace.objects.bulk_create(
            [Workspace(org=self.org, external_id=e, name=n) for e, n in wanted.items()],
            ignore_conflicts=True,
        )
        self.workspaces.update(
            Workspace.objects.filter(org=self.org, external_id__in=list(wanted)).values_list(
                "external_id", "pk"
            )
        )

    def _models(self, model_ids: set[str]) -> None:
        wanted = sorted(m for m in model_ids if m not in self.models)
        if not wanted:
            return
        self.models.update(
            LlmModel.objects.filter(model_id__in=wanted).values_list("model_id", "pk")
        )
        missing = [m for m in wanted if m not in self.models]
        if missing:
            new = []
            for model_id in missing:
                display_name, family = describe_model(model_id)
                new.append(LlmModel(model_id=model_id, display_name=display_name, family=family))
            LlmModel.objects.bulk_create(new, ignore_conflicts=True)
            self.models.update(
                LlmModel.objects.filter(model_id__in=missing).values_list("model_id", "pk")
            )

    def _keys(self, rows) -> bool:
        wanted: dict[str, tuple[int, str]] = {}
        claimed: dict[str, str | None] = {}
        for row in rows:
            external_id = row[2][1]
            if (
                external_id is not None
                and external_id not in self.keys
                and external_id not in wanted
            ):
                workspace = self.workspaces[row[2][0]]
                wanted[external_id] = (workspace, _clean_name(row[4]) or external_id)
                claimed[external_id] = row[2][0]
        if not wanted:
            return False
        ApiKey.objects.bulk_create(
            [
                ApiKey(org=self.org, workspace_id=w, external_id=e, name=n)
                for e, (w, n) in wanted.items()
            ],
            ignore_conflicts=True,
        )
        self.load_keys(set(wanted))
        return any(self.key_workspace[e] != w for e, w in claimed.items())

    def _series(self, new_dims: dict) -> None:
        workspaces, keys, models = self.workspaces, self.keys, self.models
        wanted = {}
        for dims in new_dims:
            workspace, key, model, tier, context = dims
            if key is not None and self.key_workspace[key] != workspace:
                continue  # claimed elsewhere meanwhile; these rows are rejected
            resolved = (
                workspaces[workspace],
                keys[key] if key is not None else None,
                models[model],
                tier,
                context,
            )
            wanted[resolved] = dims
        if not wanted:
            return
        if connection.vendor == "postgresql":
            found = self._upsert_series_postgres(list(wanted))
        else:
            found = self._upsert_series_orm(list(wanted))
        for pk, *resolved in found:
            dims = wanted.get(tuple(resolved))
            if dims is not None:
                self.series[dims] = pk

    def _upsert_series_orm(self, wanted: list[tuple]) -> list[tuple]:
        Series.objects.bulk_create(
            [
                Series(
                    org=self.org,
                    workspace_id=w,
                    api_key_id=k,
                    model_id=m,
                    service_tier=t,
                    context_window=c,
                )
                for (w, k, m, t, c) in wanted
            ],
            ignore_conflicts=True,
        )
        return Series.objects.filter(
            org=self.org,
            workspace_id__in={w for w, *_ in wanted},
            model_id__in={m for _, _, m, *_ in wanted},
        ).values_list(
            "pk", "workspace_id", "api_key_id", "model_id", "service_tier", "context_window"
        )

    def _upsert_series_postgres(self, wanted: list[tuple]) -> list[tuple]:
        columns = [list(column) for column in zip(*wanted, strict=True)]
        wanted_sql = (
            "unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::text[], %s::text[])"
            " AS u(workspace_id, api_key_id, model_id, service_tier, context_window)"
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO usage_series"
                " (org_id, workspace_id, api_key_id, model_id, service_tier, context_window)"
                f" SELECT %s, u.* FROM {wanted_sql} ON CONFLICT DO NOTHING",
                [self.org.pk, *columns],
            )
            cursor.execute(
                "SELECT s.id, s.workspace_id, s.api_key_id, s.model_id, s.service_tier,"
                f" s.context_window FROM {wanted_sql} JOIN usage_series s"
                " ON s.org_id = %s AND s.workspace_id = u.workspace_id"
                " AND COALESCE(s.api_key_id, 0) = COALESCE(u.api_key_id, 0)"
                " AND s.model_id = u.model_id AND s.service_tier = u.service_tier"
                " AND s.context_window = u.context_window",
                [*columns, self.org.pk],
            )
            return cursor.fetchall()


def _claim_keys(
    checked: list, registry: _Registry, rejections: list[Rejection]
) -> list[tuple[int, tuple]]:
    """Drop records whose API key belongs to another workspace (first claim wins).

    Decided once per distinct dimensions, in the order they first appear (which is the
    order of the first record using each key), not once per record.
    """
    distinct = dict.fromkeys([row[2] for _, row in checked])
    keys = {dims[1] for dims in distinct if dims[1] is not None}
    if not keys:
        return checked
    registry.load_keys(keys)
    owners = registry.key_workspace
    claims: dict[str, str | None] = {}
    refused: dict[tuple, str | None] = {}
    for dims in distinct:
        workspace, key = dims[0], dims[1]
        if key is not None:
            owner = owners[key] if key in owners else claims.setdefault(key, workspace)
            if owner != workspace:
                refused[dims] = owner
    if not refused:
        return checked
    kept = []
    for position, row in checked:
        dims = row[2]
        if dims in refused:
            workspace, key = dims[0], dims[1]
            rejections.append(
                Rejection(
                    position,
                    row[0],
                    "api_key_id",
                    f"{key} belongs to workspace {refused[dims] or 'Default'}, "
                    f"not {workspace or 'Default'}",
                )
            )
            continue
        kept.append((position, row))
    return kept


# ---------------------------------------------------------------------------------------
# Storing one chunk: (org, source, rows, series ids, in-batch duplicates, rejected) -> batch


def _store_orm(org, source, rows, series, duplicates, rejected) -> IngestBatch:
    """Portable path: look up known ids, then bulk_create (SQLite; compared on PostgreSQL)."""
    request_ids = [row[0] for row in rows]
    known = set()
    for start in range(0, len(request_ids), 500):
        known.update(
            RequestId.objects.filter(
                org=org, request_id__in=request_ids[start : start + 500]
            ).values_list("request_id", flat=True)
        )
    new = [row for row in rows if row[0] not in known] if known else rows
    batch = IngestBatch.objects.create(
        org=org,
        source=source,
        accepted=len(new),
        duplicates=duplicates + len(rows) - len(new),
        rejected=rejected,
    )
    # Plain executemany: bulk_create builds a model instance and prepares every field of
    # every row, which made SQLite ingest (make run's demo load) several times slower.
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {RequestId._meta.db_table} (org_id, request_id) VALUES (%s, %s)",
            [(org.pk, row[0]) for row in new],
        )
        cursor.executemany(
            f"INSERT INTO {RequestLog._meta.db_table} ({_LOG_COLUMNS}) "
            f"VALUES ({', '.join(['%s'] * 14)})",
            [(org.pk, batch.pk, series[row[2]], row[0], adapt(row[1]), *row[5:14]) for row in new],
        )
    return batch


_LOG_COLUMNS = (
    "org_id, batch_id, series_id, request_id, timestamp, status_code, rate_limit_type, "
    "uncached_input_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, "
    "output_tokens, web_search_requests, code_execution_ms"
)
_LOG_TYPES = ["int8", "int8", "int8", "text", "timestamptz", "int2", "text", *["int8"] * 7]
_STAGE = "ingest_stage"


def _store_copy(org, source, rows, series, duplicates, rejected) -> IngestBatch:
    """PostgreSQL path: COPY the request ids and the raw rows; no per-row statements.

    Most chunks hold no request id seen before, so the ids are first copied straight into
    ``usage_requestid`` inside a savepoint. A unique violation means some were seen (or are
    being stored by a concurrent ingest): the savepoint is rolled back and the chunk takes
    the staging path, where ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` sorts the new
    ids from the duplicates.
    """
    if not rows:
        return IngestBatch.objects.create(
            org=org, source=source, duplicates=duplicates, rejected=rejected
        )
    try:
        with transaction.atomic(), connection.cursor() as wrapper:
            cursor = wrapper.cursor  # the psycopg cursor, for COPY
            org_id = org.pk
            with cursor.copy("COPY usage_requestid (org_id, request_id) FROM STDIN") as copy:
                write = copy.write_row
                # In key order the primary key's inserts walk its leaf pages once, in
                # order, instead of jumping about (a third less server time).
                for request_id in sorted([row[0] for row in rows]):
                    write((org_id, request_id))
            return _copy_rows(cursor, org, source, rows, series, duplicates, rejected)
    except UniqueViolation:
        pass
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor
        cursor.execute(f"CREATE TEMPORARY TABLE {_STAGE} (request_id text) ON COMMIT DROP")
        with cursor.copy(f"COPY {_STAGE} (request_id) FROM STDIN") as copy:
            write = copy.write_row
            for row in rows:
                write((row[0],))
        cursor.execute(
            f"INSERT INTO usage_requestid (org_id, request_id) "
            f"SELECT %s, request_id FROM {_STAGE} ON CONFLICT DO NOTHING RETURNING request_id",
            [org.pk],
        )
        fresh = {r[0] for r in cursor.fetchall()}
        # Dropped now, not only at commit: inside an enclosing transaction (tests) the
        # next chunk creates it again.
        cursor.execute(f"DROP TABLE {_STAGE}")
        new = [row for row in rows if row[0] in fresh]
        duplicates += len(rows) - len(new)
        return _copy_rows(cursor, org, source, new, series, duplicates, rejected)


def _copy_rows(cursor, org, source, rows, series, duplicates, rejected) -> IngestBatch:
    """Create the chunk's batch and COPY its raw rows (binary: less parsing for the server)."""
    batch = IngestBatch.objects.create(
        org=org, source=source, accepted=len(rows), duplicates=duplicates, rejected=rejected
    )
    org_id, batch_id = org.pk, batch.pk
    with cursor.copy(f"COPY usage_requestlog ({_LOG_COLUMNS}) FROM STDIN BINARY") as copy:
        if rows and len(rows[0]) == _ENCODED_LENGTH:  # see check_lines_in_process
            heads = {
                dims: _ROW_HEAD.pack(14, 8, org_id, 8, batch_id, 8, series[dims])
                for dims in dict.fromkeys([row[2] for row in rows])
            }
            parts: list[bytes] = [_BINARY_SIGNATURE] * (2 * len(rows) + 2)
            parts[1:-1:2] = [heads[row[2]] for row in rows]
            parts[2:-1:2] = [row[5] for row in rows]
            parts[-1] = _BINARY_TRAILER
            copy.write(b"".join(parts))
        else:
            copy.set_types(_LOG_TYPES)
            write = copy.write_row
            for row in rows:
                write((org_id, batch_id, series[row[2]], row[0], row[1], *row[5:14]))
    return batch


# COPY's binary format, for rows encoded in the checking process (the caller then only
# joins bytes): a signature, then per row the field count and each field as its byte length
# and value in network order, then -1. The fields follow _LOG_COLUMNS; org_id, batch_id and
# series_id make the head, the rest (_encode_tail) the tail.
_ENCODED_LENGTH = 6
_BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_BINARY_TRAILER = struct.pack("!h", -1)
_ROW_HEAD = struct.Struct("!hiqiqiq")
_LENGTH = struct.Struct("!i")
_TIME_STATUS = struct.Struct("!iqih")
_COUNTS = struct.Struct("!" + "iq" * 7)
_LIMIT_FIELDS = {value: _LENGTH.pack(len(value)) + value.encode() for value in ("", *_LIMIT_TYPES)}
_PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=_UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def _encoded(row: tuple, share: Callable) -> tuple:
    """What ``_store_copy`` reads of a checked row, and its COPY tail (a 6-tuple)."""
    dims, workspace_name, key_name = row[2], row[3], row[4]
    return (
        row[0],
        None,
        share(dims, dims),
        share(workspace_name, workspace_name),
        share(key_name, key_name),
        _encode_tail(row),
    )


def _encode_tail(row: tuple) -> bytes:
    """The binary COPY fields of a checked row from request_id on (see _copy_rows)."""
    request_id = row[0].encode()
    return b"".join(
        (
            _LENGTH.pack(len(request_id)),
            request_id,
            _TIME_STATUS.pack(8, (row[1] - _PG_EPOCH) // _MICROSECOND, 2, row[5]),
            _LIMIT_FIELDS[row[6]],
            _COUNTS.pack(
                8, row[7], 8, row[8], 8, row[9], 8, row[10], 8, row[11], 8, row[12], 8, row[13]
            ),
        )
    )


def _default_store() -> Callable:
    return _store_copy if connection.vendor == "postgresql" else _store_orm


# ---------------------------------------------------------------------------------------
# The service


_DONE = object()


def _checked_chunks(records: Iterable, chunk_size: int) -> Iterator[tuple[list, list]]:
    """Check records in a helper thread, one chunk ahead of the caller (no database use)."""
    handoff: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce():
        try:
            iterator = iter(records)
            while not stop.is_set():
                latest = timezone.now() + MAX_FUTURE
                checked = _check_chunk(itertools.islice(iterator, chunk_size), latest)
                if not checked[0] and not checked[1]:
                    break
                while not stop.is_set():
                    try:
                        handoff.put(checked, timeout=0.1)
                        break
                    except queue.Full:
                        continue
            outcome = _DONE
        except BaseException as exc:  # handed to the caller's thread and raised there
            outcome = exc
        finally:
            # Records are meant to be plain data; should an iterable still query the
            # database, its connection belongs to this thread and must not leak.
            connections.close_all()
        while not stop.is_set():
            try:
                handoff.put(outcome, timeout=0.1)
                return
            except queue.Full:
                continue

    worker = threading.Thread(target=produce, name="ingest-check", daemon=True)
    worker.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def check_lines_in_process(
    lines: Iterable[bytes], chunk_size: int = CHUNK_SIZE, *, encode: bool | None = None
) -> Iterator[tuple[list, list[Rejection]]]:
    """Parse and check NDJSON lines in a forked process, one chunk ahead of the caller.

    For ``import_logs``: parsing and checking is as much Python work per record as storing
    it, and a helper thread shares one core with the caller (the GIL); a process gets the
    other core. ``lines`` (an open file) is read by the child only.

    With ``encode`` (for ``_store_copy`` only; by default, when that is the store in use)
    each row comes encoded for COPY, made there too, and only what the storing side still
    reads is sent: (request_id, None, dimensions, workspace name, API key name, encoded tail).
    """
    if encode is None:
        encode = _default_store() is _store_copy
    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)
    child = context.Process(
        target=_check_lines_child,
        args=(lines, chunk_size, encode, reader, writer),
        name="ingest-check",
    )
    child.start()
    writer.close()
    try:
        while True:
            try:
                # Our own forked child wrote these bytes, nothing from outside.
                item = pickle.loads(reader.recv_bytes())  # noqa: S301
            except (EOFError, OSError):  # the child died, maybe mid-message
                child.join(timeout=10)
                raise RuntimeError(
                    f"The record checking process ended unexpectedly (exit code {child.exitcode})."
                ) from None
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        reader.close()  # a child still sending gets a broken pipe and ends
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
            child.join()


def _check_lines_child(
    lines: Iterable[bytes], chunk_size: int, encode: bool, parent_end, out
) -> None:
    # The forked copy of the caller's end: were it kept open, a caller that died would leave
    # this process blocked on a full pipe for ever instead of ending on a broken pipe.
    parent_end.close()
    # Only this process's own short-lived objects; the parser makes no reference cycles.
    gc.disable()
    send = out.send_bytes
    # Equal dimensions and names as one object each: pickle then sends them once a chunk.
    shared: dict = {}
    share = shared.setdefault
    try:
        iterator = parse_lines(lines)
        while True:
            latest = timezone.now() + MAX_FUTURE
            checked = _check_chunk(itertools.islice(iterator, chunk_size), latest)
            if not checked[0] and not checked[1]:
                break
            if encode:
                checked = ([(p, _encoded(row, share)) for p, row in checked[0]], checked[1])
            send(pickle.dumps(checked, pickle.HIGHEST_PROTOCOL))
        send(pickle.dumps(None))
    except BrokenPipeError:
        return  # the caller stopped reading
    except BaseException as exc:  # handed to the caller and raised there
        try:
            data = pickle.dumps(exc)
        except Exception:
            data = pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
        try:
            send(data)
        except BrokenPipeError:
            return


def ingest_records(
    org: Organization,
    records: Iterable[tuple[int, Any]],
    *,
    source: str,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[IngestResult], None] | None = None,
    store: Callable | None = None,
    nudge: bool = True,
) -> IngestResult:
    """Validate and store (position, record) pairs; return the counts and the rejections.

    ``records`` is read in a helper thread (so it should be plain data, not queries).

    Each chunk is stored in its own transaction with its ``IngestBatch``; valid records are
    stored even when others are rejected. ``store`` picks the storage path (COPY on
    PostgreSQL, the ORM elsewhere) and exists so tests can compare the two. With
    ``nudge=False`` the caller asks for the rollup itself (``request_rollup``).
    """
    return ingest_checked(
        org,
        _checked_chunks(records, chunk_size),
        source=source,
        progress=progress,
        store=store,
        nudge=nudge,
    )


def ingest_checked(
    org: Organization,
    chunks: Iterable[tuple[list, list[Rejection]]],
    *,
    source: str,
    progress: Callable[[IngestResult], None] | None = None,
    store: Callable | None = None,
    nudge: bool = True,
) -> IngestResult:
    """Store chunks already checked (``ingest_records`` without the checking)."""
    store = store or _default_store()
    registry = _Registry(org)
    result = IngestResult()
    for checked, rejections in chunks:
        checked = _claim_keys(checked, registry, rejections)
        if len({row[0] for _, row in checked}) == len(checked):
            unique = checked  # no request id twice in the chunk, the usual case
        else:
            unique = []
            seen: set[str] = set()
            for item in checked:
                if item[1][0] not in seen:
                    seen.add(item[1][0])
                    unique.append(item)
            del seen
        in_batch_duplicates = len(checked) - len(unique)
        del checked
        with transaction.atomic():
            rows = [row for _, row in unique]
            if rows and registry.register(rows):
                rows = [row for _, row in _claim_keys(unique, registry, rejections)]
            rejections.sort(key=lambda r: r.position)
            batch = store(org, source, rows, registry.series, in_batch_duplicates, len(rejections))
        del unique, rows
        result.accepted += batch.accepted
        result.duplicates += batch.duplicates
        result.rejected += batch.rejected
        result.rejections.extend(rejections)
        result.batch_ids.append(batch.pk)
        if progress is not None:
            progress(result)
    if result.accepted and nudge:
        request_rollup(org)
    return result


def request_rollup(org: Organization) -> None:
    """Nudge the rollup of the organisation once the enclosing transaction commits.

    At once when no transaction encloses the call. Robust: a broker hiccup must not fail
    an ingest that is already stored; beat finds pending batches anyway.
    """
    org_id = org.pk
    transaction.on_commit(lambda: _nudge_rollup(org_id), robust=True)


def _nudge_rollup(org_id: int) -> None:
    """Ask for a rollup of what was just committed (beat would find it anyway)."""
    from usage.tasks import rollup_pending

    rollup_pending.delay(org_id)
