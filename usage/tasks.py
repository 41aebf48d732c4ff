"""Celery tasks: thin wrappers that call the rollup and partition services, safe to run twice.

Work is shared between workers by organisation: beat runs ``dispatch_rollups``, which sends
one ``rollup_pending`` per organisation with pending batches (more than one for a large
backlog). Inside an organisation, batches are locked with SKIP LOCKED, so tasks of the same
organisation on different workers split its batches (contiguous id ranges, hence roughly
time ranges) without overlap, and a task that finds everything taken simply returns.
"""

from celery import shared_task
from django.db import DatabaseError

from usage import partitions, retention, rollups

# A backlog is spread over up to this many tasks per organisation, one per this many rows.
MAX_TASKS_PER_ORG = 4
ROWS_PER_TASK = 1_000_000


@shared_task(
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=8,
    acks_late=True,
)
def rollup_pending(org_id: int | None = None) -> int:
    """Roll up what is pending (for one organisation, or all)."""
    return rollups.rollup_pending(org_id=org_id)


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=True, max_retries=3, acks_late=True)
def dispatch_rollups() -> int:
    """Send rollup tasks for every organisation with pending batches; return how many."""
    sent = 0
    for org_id, rows in sorted(rollups.pending_by_org().items()):
        copies = min(MAX_TASKS_PER_ORG, max(1, -(-rows // ROWS_PER_TASK)))
        for _ in range(copies):
            rollup_pending.delay(org_id)
        sent += copies
    return sent


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=True, max_retries=5, acks_late=True)
def maintain_partitions() -> list[str]:
    """Create raw-log and minute-bucket partitions ahead of need and move stray rows out of
    the defaults."""
    return [
        *partitions.ensure_partitions(),
        *partitions.split_default(),
        *partitions.ensure_partitions(family=partitions.MINUTES),
        *partitions.split_default(partitions.MINUTES),
    ]


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=True, max_retries=5, acks_late=True)
def purge_raw_logs() -> int:
    """Drop raw logs past their retention period and minute buckets past theirs (the other
    buckets are unchanged); return the raw rows dropped."""
    removed = rollups.purge_raw_logs()
    retention.purge_minute_buckets()
    return removed
