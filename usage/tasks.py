"""Celery tasks: thin wrappers that call the rollup services, safe to run twice."""

from celery import shared_task
from django.db import DatabaseError

from usage import rollups


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


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=True, max_retries=5, acks_late=True)
def purge_raw_logs() -> int:
    """Drop raw logs past the retention period; buckets are unchanged."""
    return rollups.purge_raw_logs()
