"""Raw request logs in: ``ingest_records(org, records, source=...)`` is the one way in (HTTP,
``import_logs`` and the demo generator all call it).

Records are ``(position, value)`` pairs, the value a JSON text (``contract.parse_body`` and
``contract.parse_lines`` cut them from bytes) or an object already parsed (a dict). The work
is split in chunks of ``CHUNK_SIZE`` records, checked one chunk ahead in a helper thread
(``checker``); each chunk is stored in one transaction together with its ``IngestBatch``:
the API key claims and the registration of new workspaces, API keys, models and series
(``registry``), then the rows (``store``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from console.models import Organization
from usage.ingest.checker import CHUNK_SIZE, checked_chunks
from usage.ingest.contract import Rejection
from usage.ingest.registry import Registry, claim_keys
from usage.ingest.store import default_store


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
    for checked, rejections in chunks:
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
