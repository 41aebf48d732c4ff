"""Storing one checked chunk: (org, source, rows, series ids, in-batch duplicates, rejected)
-> its ``IngestBatch``.

On PostgreSQL the rows go in with COPY (``store_copy``): the digests of the chunk's request
ids (``usage.models.request_digest``) are copied into ``usage_requestid`` (through a staging
table and ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` when some were seen before), and
the raw rows of the new ones into ``usage_requestlog``. ``import_logs`` hands
``store_encoded`` chunks whose rows were encoded for binary COPY in its checking process
(``encode_chunk``). Elsewhere (SQLite) ``store_orm`` does the same with plain statements; all
store identical rows (tests/usage/ingest/test_store.py and test_checker.py compare them).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import struct
from array import array
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction
from psycopg.errors import UniqueViolation

from usage.ingest.contract import LIMIT_TYPES, CheckedRecord, Rejection
from usage.models import IngestBatch, RequestId, RequestLog, request_digest

_UTC = dt.UTC


def store_orm(org, source, rows, series, duplicates, rejected) -> IngestBatch:
    """Portable path: look up known ids, then bulk_create (SQLite; compared on PostgreSQL)."""
    digests = [request_digest(row[0]) for row in rows]
    known = set()
    for start in range(0, len(digests), 500):
        known.update(
            RequestId.objects.filter(org=org, digest__in=digests[start : start + 500]).values_list(
                "digest", flat=True
            )
        )
    pairs = [(row, d) for row, d in zip(rows, digests, strict=True) if d not in known]
    new = [row for row, _ in pairs]
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
    prepare = RequestId._meta.get_field("digest").get_db_prep_value
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {RequestId._meta.db_table} (org_id, digest) VALUES (%s, %s)",
            [(org.pk, prepare(digest, connection)) for _, digest in pairs],
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
# The same columns for rows encoded beforehand: the fixed-width ones first, so that one
# struct packs them (_FIXED), then the request id, then the rate-limit type.
_ENCODED_COLUMNS = (
    "org_id, batch_id, series_id, timestamp, status_code, uncached_input_tokens, "
    "cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, output_tokens, "
    "web_search_requests, code_execution_ms, client_cost_nanos, request_id, rate_limit_type"
)
_LOG_TYPES = ["int8", "int8", "int8", "text", "timestamptz", "int2", "text", *["int8"] * 8]
_STAGE = "ingest_stage"


def store_copy(org, source, rows, series, duplicates, rejected) -> IngestBatch:
    """PostgreSQL path: COPY the request ids' digests and the raw rows; no per-row statements.

    Most chunks hold no request id seen before, so the digests are first copied straight
    into ``usage_requestid`` inside a savepoint. A unique violation means some were seen (or
    are being stored by a concurrent ingest): the savepoint is rolled back and the chunk
    takes the staging path (``_insert_new_ids``).
    """
    if not rows:
        return IngestBatch.objects.create(
            org=org, source=source, duplicates=duplicates, rejected=rejected
        )
    digests = _digests([row[0].encode() for row in rows])
    id_fields = _id_fields(digests)
    try:
        with transaction.atomic(), connection.cursor() as wrapper:
            cursor = wrapper.cursor  # the psycopg cursor, for COPY
            _copy_ids(cursor, org.pk, id_fields)
            return _copy_rows(cursor, org, source, rows, series, duplicates, rejected)
    except UniqueViolation:
        pass
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor
        fresh = _insert_new_ids(cursor, org.pk, id_fields)
        new = [row for row, digest in zip(rows, digests, strict=True) if digest in fresh]
        duplicates += len(rows) - len(new)
        return _copy_rows(cursor, org, source, new, series, duplicates, rejected)


def _copy_ids(cursor, org_id: int, id_fields: list[bytes]) -> None:
    """COPY the keys into ``usage_requestid`` (a unique violation if one is there)."""
    with cursor.copy("COPY usage_requestid (org_id, digest) FROM STDIN BINARY") as copy:
        copy.write(_binary(_ID_HEAD.pack(2, 8, org_id), id_fields))


def _insert_new_ids(cursor, org_id: int, id_fields: list[bytes]) -> set[bytes]:
    """Insert the keys not yet in ``usage_requestid``; return the digests of those inserted.

    Through a staging table, where ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` sorts the
    new keys from those seen before (or stored by a concurrent ingest meanwhile).
    """
    cursor.execute(f"CREATE TEMPORARY TABLE {_STAGE} (digest uuid) ON COMMIT DROP")
    with cursor.copy(f"COPY {_STAGE} (digest) FROM STDIN BINARY") as copy:
        copy.write(_binary(_STAGE_HEAD, id_fields))
    cursor.execute(
        f"INSERT INTO usage_requestid (org_id, digest) "
        f"SELECT %s, digest FROM {_STAGE} ON CONFLICT DO NOTHING RETURNING digest",
        [org_id],
    )
    fresh = {r[0].bytes for r in cursor.fetchall()}
    # Dropped now, not only at commit: inside an enclosing transaction (tests) the next
    # chunk creates it again.
    cursor.execute(f"DROP TABLE {_STAGE}")
    return fresh


def _copy_rows(cursor, org, source, rows, series, duplicates, rejected) -> IngestBatch:
    """Create the chunk's batch and COPY its raw rows (binary: less parsing for the server)."""
    batch = IngestBatch.objects.create(
        org=org, source=source, accepted=len(rows), duplicates=duplicates, rejected=rejected
    )
    org_id, batch_id = org.pk, batch.pk
    with cursor.copy(f"COPY usage_requestlog ({_LOG_COLUMNS}) FROM STDIN BINARY") as copy:
        copy.set_types(_LOG_TYPES)
        write = copy.write_row
        for row in rows:
            write((org_id, batch_id, series[row[2]], row[0], row[1], *row[5:15]))
    return batch


# COPY's binary format, for chunks encoded in the checking process (the storing side then
# only joins bytes): a signature, then per row the field count and each field as its byte
# length and value in network order, then -1. The fields follow _ENCODED_COLUMNS; org_id,
# batch_id and series_id make a row's head, the rest (_encode_tail) its tail.
# usage_requestid's rows are org_id and the digest (_id_fields).
_BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_BINARY_TRAILER = struct.pack("!h", -1)
_ROW_HEAD = struct.Struct("!hiqiqiq")
_ID_HEAD = struct.Struct("!hiq")  # usage_requestid: 2 fields, org_id
_STAGE_HEAD = struct.pack("!h", 1)  # the staging table: 1 field
_LENGTH = struct.Struct("!i")
_FIXED = struct.Struct("!iqih" + "iq" * 8)  # timestamp, status_code, the 8 counts
_LIMIT_FIELDS = {value: _LENGTH.pack(len(value)) + value.encode() for value in ("", *LIMIT_TYPES)}
_PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=_UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


@dataclass(slots=True)
class EncodedChunk:
    """A checked chunk encoded for COPY in the checking process (``import_logs``).

    Per row only bytes and integers cross to the storing process, which neither reads nor
    rebuilds a row unless some must be dropped (a refused API key claim, a request id twice).
    """

    positions: array  # of each row, in input order
    dim_of: array  # each row's index in ``dims``
    tails: list[bytes]  # each row's COPY fields from request_id on (_encode_tail)
    id_fields: list[bytes]  # the rows' request id digests as COPY fields, sorted
    dims: list[tuple]  # the distinct dimensions, in first-appearance order
    names: list[tuple]  # (workspace, API key, account) names of each one's first row
    unique: bool  # no request id twice
    rejections: list[Rejection]

    def __len__(self) -> int:
        return len(self.tails)

    def request_id(self, index: int) -> str:
        tail = self.tails[index]
        start = _FIXED.size + 4
        return tail[start : start + _LENGTH.unpack_from(tail, _FIXED.size)[0]].decode()

    def first_rows(self) -> list[tuple]:
        """One row per distinct dimensions as the registry reads them (dims, names)."""
        return [
            (None, None, dims, workspace, key, None, account)
            for dims, (workspace, key, account) in zip(self.dims, self.names, strict=True)
        ]

    def keep(self, indexes: list[int]) -> EncodedChunk:
        """The chunk of only these rows (in this order)."""
        index: dict[tuple, int] = {}
        dims, names, dim_of = [], [], array("l")
        for i in indexes:
            old = self.dim_of[i]
            new = index.get(self.dims[old])
            if new is None:
                new = index[self.dims[old]] = len(dims)
                dims.append(self.dims[old])
                names.append(self.names[old])
            dim_of.append(new)
        tails = [self.tails[i] for i in indexes]
        ids = [self.request_id(i).encode() for i in indexes]
        return EncodedChunk(
            array("q", [self.positions[i] for i in indexes]),
            dim_of,
            tails,
            _id_fields(_digests(ids)),
            dims,
            names,
            len(set(ids)) == len(ids),
            self.rejections,
        )


def encode_chunk(checked: list[tuple[int, CheckedRecord]], rejections) -> EncodedChunk:
    """Encode a checked chunk for COPY (in the checking process)."""
    index: dict[tuple, int] = {}
    names: list[tuple] = []
    rows = [row for _, row in checked]
    dim_of = array("l")
    append = dim_of.append
    first = index.setdefault
    for row in rows:
        # One lookup per row: a tuple's hash is not cached, and six fields take a while.
        new = len(index)
        found = first(row[2], new)
        if found == new:
            names.append((row[3], row[4], row[-1]))
        append(found)
    ids = [row[0].encode() for row in rows]
    return EncodedChunk(
        array("q", [position for position, _ in checked]),
        dim_of,
        list(map(_encode_tail, rows, ids)),
        _id_fields(_digests(ids)),
        list(index),
        names,
        len(set(ids)) == len(ids),
        rejections,
    )


def _digests(ids: list[bytes]) -> list[bytes]:
    """``request_digest`` of each UTF-8 request id, as its 16 bytes."""
    sha256 = hashlib.sha256
    return [sha256(request_id).digest()[:16] for request_id in ids]


_DIGEST_LENGTH = _LENGTH.pack(16)


def _id_fields(digests: list[bytes]) -> list[bytes]:
    """The digests as binary COPY uuid fields, in key order: the primary key's inserts then
    walk its leaf pages once, in order, instead of jumping about."""
    return [_DIGEST_LENGTH + digest for digest in sorted(digests)]


def _encode_tail(row: CheckedRecord, request_id: bytes) -> bytes:
    """The binary COPY fields of a checked row after its head (see _ENCODED_COLUMNS)."""
    return b"".join(
        (
            _FIXED.pack(
                8,
                (row[1] - _PG_EPOCH) // _MICROSECOND,
                2,
                row[5],
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
            _LENGTH.pack(len(request_id)),
            request_id,
            _LIMIT_FIELDS[row[6]],
        )
    )


def store_encoded(org, source, chunk: EncodedChunk, series, duplicates, rejected) -> IngestBatch:
    """``store_copy`` for an encoded chunk: the same two COPYs, of bytes made beforehand."""
    if not len(chunk):
        return IngestBatch.objects.create(
            org=org, source=source, duplicates=duplicates, rejected=rejected
        )
    try:
        with transaction.atomic(), connection.cursor() as wrapper:
            cursor = wrapper.cursor  # the psycopg cursor, for COPY
            _copy_ids(cursor, org.pk, chunk.id_fields)
            return _copy_encoded(cursor, org, source, chunk, series, duplicates, rejected)
    except UniqueViolation:
        pass
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor
        fresh = _insert_new_ids(cursor, org.pk, chunk.id_fields)
        digests = _digests([chunk.request_id(i).encode() for i in range(len(chunk))])
        new = [i for i, digest in enumerate(digests) if digest in fresh]
        duplicates += len(chunk) - len(new)
        if len(new) < len(chunk):
            chunk = chunk.keep(new)
        return _copy_encoded(cursor, org, source, chunk, series, duplicates, rejected)


def copy_encoded_rows(org, source, chunk: EncodedChunk, series, duplicates, rejected):
    """The chunk's batch and raw rows, without their keys (``copy_encoded_keys``): for
    chunks stored together in the caller's transaction (``services._store_encoded``)."""
    with connection.cursor() as wrapper:
        return _copy_encoded(wrapper.cursor, org, source, chunk, series, duplicates, rejected)


def copy_encoded_keys(org, chunks: list[EncodedChunk]) -> None:
    """The keys of these chunks' rows, with one COPY (a unique violation if one is there)."""
    # Each chunk's are sorted already; sorted() merges such runs in linear time.
    id_fields = sorted(itertools.chain.from_iterable(chunk.id_fields for chunk in chunks))
    if not id_fields:
        return
    with connection.cursor() as wrapper:
        _copy_ids(wrapper.cursor, org.pk, id_fields)


def _binary(head: bytes, fields: list[bytes]) -> bytes:
    """A binary COPY body of rows that are ``head`` and one field each."""
    return b"".join((_BINARY_SIGNATURE, head, head.join(fields), _BINARY_TRAILER))


def _copy_encoded(cursor, org, source, chunk, series, duplicates, rejected) -> IngestBatch:
    batch = IngestBatch.objects.create(
        org=org, source=source, accepted=len(chunk), duplicates=duplicates, rejected=rejected
    )
    org_id, batch_id = org.pk, batch.pk
    if len(chunk):
        pack = _ROW_HEAD.pack
        heads = [pack(_LOG_WIDTH, 8, org_id, 8, batch_id, 8, series[d]) for d in chunk.dims]
        parts: list[bytes] = [_BINARY_SIGNATURE] * (2 * len(chunk) + 2)
        parts[1:-1:2] = map(heads.__getitem__, chunk.dim_of)
        parts[2:-1:2] = chunk.tails
        parts[-1] = _BINARY_TRAILER
        with cursor.copy(f"COPY usage_requestlog ({_ENCODED_COLUMNS}) FROM STDIN BINARY") as copy:
            copy.write(b"".join(parts))
    return batch


def default_store() -> Callable:
    """The storing path for this database: COPY on PostgreSQL, the ORM elsewhere."""
    return store_copy if connection.vendor == "postgresql" else store_orm
