import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from console.models import Organization
from usage.rollups import RebuildRefused, rebuild_rollups


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD).") from None


class Command(BaseCommand):
    help = "Recompute the buckets of UTC days [--since, --until) from raw logs."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, metavar="SLUG")
        parser.add_argument("--since", required=True, type=_date, metavar="DATE")
        parser.add_argument(
            "--until", type=_date, metavar="DATE", help="exclusive; default: tomorrow (UTC)"
        )

    def handle(self, *args, org, since, until, **options):
        organisation = Organization.objects.filter(slug=org).first()
        if organisation is None:
            raise CommandError(f"No organisation with slug {org!r}.")
        until = until or dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
        try:
            rebuild_rollups(organisation.id, since, until)
        except RebuildRefused as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Rebuilt {organisation.slug} buckets for {since} to {until}.")
