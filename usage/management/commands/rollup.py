import time

from django.core.management.base import BaseCommand, CommandError

from console.models import Organization
from usage.rollups import rollup_pending


class Command(BaseCommand):
    help = "Roll up every pending ingest batch now, synchronously (of one organisation, or all)."

    def add_arguments(self, parser):
        parser.add_argument("--org", metavar="SLUG", help="only this organisation")

    def handle(self, *args, org=None, **options):
        org_id = None
        if org is not None:
            org_id = Organization.objects.filter(slug=org).values_list("id", flat=True).first()
            if org_id is None:
                raise CommandError(f"No organisation with slug {org!r}.")
        started = time.monotonic()
        count = rollup_pending(org_id=org_id)
        self.stdout.write(f"Rolled up {count} batch(es) in {time.monotonic() - started:.1f}s.")
