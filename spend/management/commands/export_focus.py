"""``manage.py export_focus acme 2026-11 [--output file.csv]``: a UTC month's cost as FOCUS."""

from django.core.management.base import BaseCommand, CommandError

from console import exports
from console.models import Organization
from console.timeslice import YEARS
from spend import focus


class Command(BaseCommand):
    help = "Write an organisation's cost of one UTC month as a FinOps FOCUS 1.3 CSV."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The organisation's slug.")
        parser.add_argument("month", help="The billing month, YYYY-MM (UTC).")
        parser.add_argument("--output", help="A file to write (default: standard output).")

    def handle(self, *args, slug, month, output, **options):
        org = Organization.objects.filter(slug=slug).first()
        if org is None:
            raise CommandError(f"No organisation with slug {slug!r}.")
        year, _, number = month.partition("-")
        if not (year.isdigit() and number.isdigit() and len(year) == 4 and 1 <= int(number) <= 12):
            raise CommandError("month: enter a month as YYYY-MM, e.g. 2026-11.")
        if int(year) not in YEARS:
            raise CommandError(f"month: choose a year from {YEARS.start} to {YEARS.stop - 1}.")
        rows = focus.csv_rows(org, year=int(year), month=int(number))
        if output is None:
            for chunk in exports.stream(rows):
                self.stdout.write(chunk, ending="")
            return
        with open(output, "w", encoding="utf-8", newline="") as file:
            for chunk in exports.stream(rows):
                file.write(chunk)
        self.stderr.write(f"Wrote the FOCUS export of {slug} for {month} to {output}.")
