from django.core.management.base import BaseCommand, CommandError

from adminapi.services import create_admin_key
from console.models import Organization


class Command(BaseCommand):
    help = "Create an Admin API key for an organisation and print it (shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, metavar="SLUG")
        parser.add_argument("--name", required=True, help="A label for the key list.")

    def handle(self, *args, org, name, **options):
        organisation = Organization.objects.filter(slug=org).first()
        if organisation is None:
            raise CommandError(f"No organisation with slug {org!r}.")
        name = name.strip()[:200]
        if not name:
            raise CommandError("--name must not be blank.")
        key, secret = create_admin_key(organisation, name, actor=None)
        # The secret alone on stdout, so that it can be captured; the rest on stderr.
        self.stderr.write(
            f"Created Admin API key {key.name!r} ({key.prefix}…) for {organisation.name}. "
            "Store it now: it is not shown again."
        )
        self.stdout.write(secret)
