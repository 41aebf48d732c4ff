from django.core.management.base import BaseCommand, CommandError

from console.models import Organization
from usage.ingest.keys import create_ingest_key


class Command(BaseCommand):
    help = "Create an ingest key for an organisation and print its secret (shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, metavar="SLUG")
        parser.add_argument("--name", default="gateway", help="A label for the key list.")

    def handle(self, *args, org, name, **options):
        organisation = Organization.objects.filter(slug=org).first()
        if organisation is None:
            raise CommandError(f"No organisation with slug {org!r}.")
        name = name.strip()[:200]
        if not name:
            raise CommandError("--name must not be blank.")
        key, secret = create_ingest_key(organisation, name, actor=None)
        # The secret alone on stdout, so that it can be captured; the rest on stderr.
        self.stderr.write(
            f"Created ingest key {key.name!r} ({key.prefix}…) for {organisation.name}. "
            "Store the secret now: it is not shown again."
        )
        self.stdout.write(secret)
