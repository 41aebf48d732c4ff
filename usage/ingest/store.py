"""Storing one checked chunk: (org, source, rows, series ids, in-batch duplicates, rejected)
-> its ``IngestBatch``.

On PostgreSQL the rows go in with COPY (``store_copy``): the chunk's request ids are copied
into ``usage_requestid`` (through a staging table and ``INSERT ... ON CONFLICT DO NOTHING
RETURNING`` when some were seen before), and the raw rows of the new ones into
``usage_requestlog``. Elsewhere (SQLite) ``store_orm`` does the same with plain statements;
both store identical rows (tests/usage/ingest/test_store.py compares them).
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable

from django.db import connection, transaction
from psycopg.errors import UniqueViolation

from usage.ingest.contract import LIMIT_TYPES, CheckedRecord
from usage.models import IngestBatch, RequestId, RequestLog

_UTC = dt.UTC


def store_orm(org, source, rows, series, duplicates, rejected) -> IngestBatch:
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
            f"VALUES ({', '.join(['%s'] * _LOG_WIDTH)})",
            [(org.pk, batch.pk, series[row[2]], row[0], adapt(row[1]), *row[5:15]) for row in new],
        )
    return batch


_LOG_COLUMNS = (
    "org_id, batch_id, series_id, request_id, timestamp, status_code, rate_limit_type, "
    "uncached_input_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, "
    "output_tokens, web_search_requests, code_execution_ms, client_cost_nanos"
)
_LOG_WIDTH = 15
_LOG_TYPES = ["int8", "int8", "int8", "text", "timestamptz", "int2", "text", *["int8"] * 8]
_STAGE = "ingest_stage"


def store_copy(org, source, rows, series, duplicates, rejected) -> IngestBatch:
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
        if rows and len(rows[0]) == _ENCODED_LENGTH:  # see checker.check_lines_in_process
            heads = {
                dims: _ROW_HEAD.pack(_LOG_WIDTH, 8, org_id, 8, batch_id, 8, series[dims])
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
                write((org_id, batch_id, series[row[2]], row[0], row[1], *row[5:15]))
    return batch


# COPY's binary format, for rows encoded in the checking process (the caller then only
# joins bytes): a signature, then per row the field count and each field as its byte length
# and value in network order, then -1. The fields follow _LOG_COLUMNS; org_id, batch_id and
# series_id make the head, the rest (_encode_tail) the tail.
_ENCODED_LENGTH = 7
_BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_BINARY_TRAILER = struct.pack("!h", -1)
_ROW_HEAD = struct.Struct("!hiqiqiq")
_LENGTH = struct.Struct("!i")
_TIME_STATUS = struct.Struct("!iqih")
_COUNTS = struct.Struct("!" + "iq" * 8)
_LIMIT_FIELDS = {value: _LENGTH.pack(len(value)) + value.encode() for value in ("", *LIMIT_TYPES)}
_PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=_UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def encoded(row: CheckedRecord, share: Callable) -> tuple:
    """What ``store_copy`` reads of a checked row, and its COPY tail (a 7-tuple).

    The first five positions and the last mean what a CheckedRecord's do (the registry
    reads only those: the account name is last in both), with None for the timestamp,
    which the tail carries.
    """
    dims, workspace_name, key_name, account_name = row[2], row[3], row[4], row[-1]
    return (
        row[0],
        None,
        share(dims, dims),
        share(workspace_name, workspace_name),
        share(key_name, key_name),
        _encode_tail(row),
        share(account_name, account_name),
    )


def _encode_tail(row: CheckedRecord) -> bytes:
    """The binary COPY fields of a checked row from request_id on (see _copy_rows)."""
    request_id = row[0].encode()
    return b"".join(
        (
            _LENGTH.pack(len(request_id)),
            request_id,
            _TIME_STATUS.pack(8, (row[1] - _PG_EPOCH) // _MICROSECOND, 2, row[5]),
            _LIMIT_FIELDS[row[6]],
            _COUNTS.pack(
                8,
                row[7],
                8,
                row[8],
                8,
                row[9],
                8,
                row[10],
                8,
                row[11],
                8,
                row[12],
                8,
                row[13],
                8,
                row[14],
            ),  # fmt: skip
        )
    )


def default_store() -> Callable:
    """The storing path for this database: COPY on PostgreSQL, the ORM elsewhere."""
    return store_copy if connection.vendor == "postgresql" else store_orm
