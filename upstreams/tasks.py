"""Celery tasks: beat's ``dispatch_pulls`` sends one ``pull_upstream`` per active upstream."""

from celery import shared_task
from django.core.cache import cache
from django.db import DatabaseError

from upstreams import services
from upstreams.models import Upstream

# A run holds this lock (in Redis) so beat does not start a second one beside a long
# catch-up; the position check in each transaction keeps a second run harmless anyway.
LOCK_SECONDS = 15 * 60


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=True, max_retries=5, acks_late=True)
def pull_upstream(upstream_id: int) -> int:
    """Pull one upstream's settled minutes; return how many results were imported."""
    lock = f"upstream-pull:{upstream_id}"
    if not cache.add(lock, 1, LOCK_SECONDS):
        return 0
    try:
        upstream = Upstream.objects.select_related("org").filter(pk=upstream_id).first()
        if upstream is None or upstream.paused:
            return 0
        return services.pull(upstream).imported
    finally:
        cache.delete(lock)


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=True, max_retries=3, acks_late=True)
def dispatch_pulls() -> int:
    """Send a pull for every upstream that is not paused; return how many."""
    ids = list(Upstream.objects.filter(paused=False).values_list("pk", flat=True))
    for upstream_id in ids:
        pull_upstream.delay(upstream_id)
    return len(ids)
