"""Raw request logs in: ``ingest_records(org, records, source=...)`` is the one way in (HTTP,
``import_logs`` and the demo generator all call it).

Records are ``(position, value)`` pairs, the value a JSON text (``contract.parse_body`` and
``contract.parse_lines`` cut them from bytes) or an object already parsed (a dict). The work
is split in chunks of ``CHUNK_SIZE`` records, checked one chunk ahead in a helper thread
(``checker``); each chunk is stored in one transaction together with its ``IngestBatch``:
the API key claims and the registration of new workspaces, API keys, models and series
(``registry``), then the rows (``store``). Chunks encoded for COPY (``import_logs``) are
stored a group of chunks a transaction, a batch each (``KEY_GROUP_ROWS``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from psycopg.errors import UniqueViolation

from console.models import Organization
from usage.ingest.checker import CHUNK_SIZE, checked_chunks
from usage.ingest.contract import Rejection
from usage.ingest.registry import Registry, claim_keys, refusal, refused_claims
from usage.ingest.store import (
    EncodedChunk,
    copy_encoded_keys,
    copy_encoded_rows,
    default_store,
    store_encoded,
)

# Encoded chunks (import_logs) are stored in groups of at least this many records, one
# transaction a group, whose de-duplication keys go in with one COPY at its end. The keys
# land at random places in their index, so the more of them one statement carries, the more
# share each leaf page it reads and writes: into an index of 10M keys, 1M keys a statement
# cost 5 us a key, 200,000 a statement 19-25 us (same machine, same hour). Each chunk's rows
# are copied as it arrives, so that the database works while the next one is checked; the
# cost is the parent process keeping a group's encoded rows (about 250 bytes each) until it
# commits, to store them chunk by chunk should a key have been seen before.
KEY_GROUP_ROWS = 1_000_000


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
        checked_chunks(records, chunk_size),
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
    store = store or default_store()
    registry = Registry(org)
    result = IngestResult()
    chunks = iter(chunks)
    for chunk in chunks:
        if isinstance(chunk, EncodedChunk):  # and so are the rest (check_lines_in_process)
            for batch, rejections in _store_encoded(org, source, chunk, chunks):
                _count(result, batch, rejections, progress)
            break
        checked, rejections = chunk
        checked = claim_keys(checked, registry, rejections)
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
                rows = [row for _, row in claim_keys(unique, registry, rejections)]
            rejections.sort(key=lambda r: r.position)
            batch = store(org, source, rows, registry.series, in_batch_duplicates, len(rejections))
        del unique, rows
        _count(result, batch, rejections, progress)
    if result.accepted and nudge:
        request_rollup(org)
    return result


def _count(result: IngestResult, batch, rejections: list[Rejection], progress) -> None:
    """Add one stored chunk to the result and report progress."""
    result.accepted += batch.accepted
    result.duplicates += batch.duplicates
    result.rejected += batch.rejected
    result.rejections.extend(rejections)
    result.batch_ids.append(batch.pk)
    if progress is not None:
        progress(result)


def _store_encoded(org, source, first: EncodedChunk, rest: Iterator[EncodedChunk]):
    """Store chunks encoded in the checking process, in groups (``KEY_GROUP_ROWS``); yield
    (batch, rejections) of each chunk once its group is committed.

    ``ingest_checked``'s steps, decided per distinct dimensions: the same claims, duplicates
    and registration; rows are only picked apart when some must be dropped. A group whose
    keys meet one seen before (or a request id in two of its chunks) is rolled back and
    stored again chunk by chunk, each through ``store_encoded``'s staging path if need be.
    """
    chunks = itertools.chain([first], rest)
    while True:
        registry = Registry(org)  # afresh: a rolled back group may have registered series
        group = []
        try:
            with transaction.atomic():
                rows = 0
                for chunk in chunks:
                    chunk, duplicates, rejections = _prepare(chunk, registry)
                    batch = copy_encoded_rows(
                        org, source, chunk, registry.series, duplicates, len(rejections)
                    )
                    group.append((chunk, duplicates, rejections, batch))
                    rows += len(chunk)
                    if rows >= KEY_GROUP_ROWS:
                        break
                copy_encoded_keys(org, [chunk for chunk, *_ in group])
        except UniqueViolation:
            registry = Registry(org)
            stored = []
            for chunk, duplicates, rejections, _ in group:
                with transaction.atomic():
                    chunk, _, _ = _prepare(chunk, registry)
                    batch = store_encoded(
                        org, source, chunk, registry.series, duplicates, len(rejections)
                    )
                stored.append((chunk, duplicates, rejections, batch))
            group = stored
        if not group:
            return
        for _chunk, _duplicates, rejections, batch in group:
            yield batch, rejections


def _prepare(chunk: EncodedChunk, registry: Registry):
    """(chunk, in-chunk duplicates, rejections): the chunk without refused API key claims
    and request ids seen earlier in it, its new dimensions registered (in the caller's
    transaction)."""
    rejections = chunk.rejections
    chunk = _drop_refused(chunk, registry, rejections)
    duplicates = 0
    if not chunk.unique:
        seen: set[str] = set()
        first = []
        for i in range(len(chunk)):
            request_id = chunk.request_id(i)
            if request_id not in seen:
                seen.add(request_id)
                first.append(i)
        duplicates = len(chunk) - len(first)
        chunk = chunk.keep(first)
    if len(chunk) and registry.register(chunk.first_rows()):
        chunk = _drop_refused(chunk, registry, rejections)
    rejections.sort(key=lambda r: r.position)
    return chunk, duplicates, rejections


def _drop_refused(chunk: EncodedChunk, registry: Registry, rejections: list) -> EncodedChunk:
    """The chunk without the rows whose API key belongs to another workspace (rejected)."""
    refused = refused_claims(chunk.dims, registry)
    if not refused:
        return chunk
    kept = []
    for i, d in enumerate(chunk.dim_of):
        dims = chunk.dims[d]
        if dims in refused:
            rejections.append(refusal(chunk.positions[i], chunk.request_id(i), dims, refused[dims]))
        else:
            kept.append(i)
    return chunk.keep(kept)


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
