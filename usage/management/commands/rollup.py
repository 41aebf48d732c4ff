import time
from concurrent.futures import ThreadPoolExecutor

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from console.models import Organization
from usage.rollups import rollup_pending


def _rollup_in_thread(org_id: int | None) -> int:
    try:
        return rollup_pending(org_id=org_id)
    finally:
        connection.close()  # each thread has its own connection


class Command(BaseCommand):
    help = (
        "Roll up every pending ingest batch now, synchronously (of one organisation, or all). "
        "With --workers N, N database sessions share the backlog as N Celery workers would: "
        "each transaction locks its own batches (SKIP LOCKED), so none is taken twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", metavar="SLUG", help="only this organisation")
        parser.add_argument(
            "--workers",
            type=int,
            default=1,
            metavar="N",
            help="concurrent database sessions (default 1; up to the database's cores helps)",
        )

    def handle(self, *args, org=None, workers=1, **options):
        if workers < 1:
            raise CommandError("--workers must be at least 1.")
        org_id = None
        if org is not None:
            org_id = Organization.objects.filter(slug=org).values_list("id", flat=True).first()
            if org_id is None:
                raise CommandError(f"No organisation with slug {org!r}.")
        if workers > 1 and connection.vendor != "postgresql":
            # SQLite has one writer and no row locks to share batches by: one session.
            self.stderr.write("--workers needs PostgreSQL; rolling up in one session.")
            workers = 1
        started = time.monotonic()
        if workers == 1:
            count = rollup_pending(org_id=org_id)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                count = sum(pool.map(_rollup_in_thread, [org_id] * workers))
        self.stdout.write(f"Rolled up {count} batch(es) in {time.monotonic() - started:.2f}s.")
