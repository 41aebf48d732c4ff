"""The Celery app; configuration comes from Django settings (CELERY_*)."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

app = Celery("meterboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def schedule_periodic_tasks(sender, **kwargs):
    from django.conf import settings

    # Ingest nudges a rollup after each batch; this sweep catches anything a nudge missed
    # (a lost message, a worker killed mid-rollup) within the freshness target, and fans
    # the work out as one task per organisation so several workers share it.
    sender.add_periodic_task(
        settings.ROLLUP_INTERVAL_SECONDS,
        sender.signature("usage.tasks.dispatch_rollups", expires=settings.ROLLUP_INTERVAL_SECONDS),
        name="dispatch rollups of pending batches",
    )
    sender.add_periodic_task(
        crontab(minute=7),
        sender.signature("usage.tasks.maintain_partitions"),
        name="create raw-log partitions ahead of need",
    )
    sender.add_periodic_task(
        crontab(minute=17, hour=3),
        sender.signature("usage.tasks.purge_raw_logs"),
        name="purge raw logs past retention",
    )
    # Upstreams: import each one's settled usage minutes (upstreams/).
    sender.add_periodic_task(
        settings.UPSTREAM_PULL_INTERVAL_SECONDS,
        sender.signature(
            "upstreams.tasks.dispatch_pulls", expires=settings.UPSTREAM_PULL_INTERVAL_SECONDS
        ),
        name="pull settled usage from upstreams",
    )
