from django.core.management.base import BaseCommand

from usage.rollups import rollup_pending


class Command(BaseCommand):
    help = "Roll up every pending ingest batch now, synchronously."

    def handle(self, *args, **options):
        count = rollup_pending()
        self.stdout.write(f"Rolled up {count} batch(es).")
