"""``seed_demo``: the demo organisation, one login per role, and months of realistic logs.

The organisation, its members, workspaces, API keys, models and rate limits are created
idempotently. The logs come from ``demo.generator`` and go through ``ingest_records``, the same
validation and storage as HTTP and ``import_logs``; request ids depend on the options
(all but ``--end``) and the record's position, so running the same command again adds
nothing (de-duplication absorbs it) while another ``--seed`` or size adds new traffic. The
rollup then runs synchronously, so the pages show everything when the command returns.
"""

import argparse
import contextlib
import datetime as dt
import gzip
import json
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_slug
from django.db import transaction

from accounts.models import Membership, Role, User
from console.models import Account, ApiKey, LlmModel, Organization, Workspace
from console.services import create_organization
from demo import generator
from usage.ingest.services import ingest_records
from usage.models import IngestBatch, RateLimit
from usage.rollups import rollup_pending

DEMO_SLUG = "demo"
DEMO_NAME = "Demo Organization"
# Known on purpose, so the README can say how to sign in; the demo app, and with it this
# command, is installed only with METERBOARD_MODE=dev.
DEMO_PASSWORD = "meterboard-demo"  # noqa: S105
MEMBERS = (
    (Role.ADMIN, "admin@demo.test", "Ada Admin"),
    (Role.BILLING, "billing@demo.test", "Bill Billing"),
    (Role.DEVELOPER, "developer@demo.test", "Dev Developer"),
    (Role.USER, "user@demo.test", "Uma User"),
    (Role.CLAUDE_CODE_USER, "claude-code@demo.test", "Cody Claude Code"),
)
# Per-minute limits by model family, drawn on the Usage page: (requests, input tokens,
# output tokens) per minute, about Anthropic's usage tier 4. The
# demo's busiest minutes reach several hundred thousand input tokens, so tier 1's 30,000
# would draw every hour far over its limit with no 429 to show for it.
RATE_LIMITS = {
    "opus": (4_000, 2_000_000, 400_000),
    "sonnet": (4_000, 2_000_000, 400_000),
    "haiku": (4_000, 4_000_000, 800_000),
}
MIN_WORKSPACES = 3
MIN_KEYS = 10
MIN_MODELS = 5


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number >= 0")
    return number


def _instant(value: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a date-time with an offset, e.g. 2026-03-04T15:00:00Z"
        )
    return moment


def _slug(value: str) -> str:
    try:
        validate_slug(value)
    except ValidationError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a slug") from None
    return value


class Command(BaseCommand):
    help = (
        "Create the demo organisation with one member per role, its workspaces, API keys "
        "and models, and load realistic request logs through the ingest validation."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", type=_slug, default=DEMO_SLUG, metavar="SLUG")
        parser.add_argument("--seed", type=_count, default=1)
        parser.add_argument("--days", type=_count, default=generator.DEFAULT_DAYS)
        parser.add_argument(
            "--rate",
            type=float,
            default=generator.DEFAULT_RATE,
            help="mean requests per hour over the period (default %(default)s)",
        )
        parser.add_argument(
            "--requests",
            type=_count,
            metavar="N",
            help="exactly N requests over the period (overrides --rate)",
        )
        parser.add_argument(
            "--workspaces", type=_count, default=generator.DEFAULT_WORKSPACES, metavar="N"
        )
        parser.add_argument("--keys", type=_count, default=generator.DEFAULT_KEYS, metavar="N")
        parser.add_argument("--models", type=_count, default=generator.DEFAULT_MODELS, metavar="N")
        parser.add_argument(
            "--accounts",
            type=_count,
            default=generator.DEFAULT_ACCOUNTS,
            metavar="N",
            help="people and service accounts behind the requests (default %(default)s; 0: none)",
        )
        parser.add_argument(
            "--account-keys",
            type=_count,
            default=0,
            metavar="N",
            help="API keys each account uses at most, as a person uses their own and a team's "
            "(default 0: every request's account is drawn independently of its key)",
        )
        parser.add_argument(
            "--end",
            type=_instant,
            metavar="DATETIME",
            help="when the period ends, with an offset (default: now; never later than now)",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing when any organisation exists (make run uses it)",
        )
        parser.add_argument(
            "--password",
            default=DEMO_PASSWORD,
            help="password for the demo logins (default: the one the README publishes)",
        )
        parser.add_argument(
            "--jsonl",
            type=Path,
            metavar="PATH",
            help="write the records to PATH as JSON lines (.gz compresses) instead of "
            "ingesting them (the benchmark's import_logs input)",
        )
        parser.add_argument(
            "--skip-rollup",
            action="store_true",
            help="leave the new batches pending (for beat, or a timed `manage.py rollup`)",
        )

    def handle(self, *args, **options):
        if options["if_empty"] and Organization.objects.exists():
            self.stdout.write("An organisation exists already; seed_demo --if-empty does nothing.")
            return
        password = options["password"]
        spec = self._spec(options)

        org, created = _ensure_organization(options["org"])
        admin = _ensure_members(org, password)
        catalogue = generator.build_catalogue(spec)
        _ensure_catalogue(org, catalogue, admin)
        action = "Created" if created else "Updated"
        self.stdout.write(
            f"{action} {org.name} ({org.slug}): {len(MEMBERS)} members, "
            f"{len(catalogue.workspaces)} workspaces besides Default, "
            f"{len(catalogue.keys)} API keys, {len(catalogue.models)} models."
        )

        if options["jsonl"]:
            written = self._write_jsonl(spec, options["jsonl"])
            self.stdout.write(f"Wrote {written:,} records to {options['jsonl']}.")
        else:
            with _queries_not_kept():
                self._load(org, spec, rollup=not options["skip_rollup"])
            _link_demo_members(org, catalogue)
        self._print_logins(org, password)

    def _spec(self, options) -> generator.DemoSpec:
        sizes = {
            "workspaces": (options["workspaces"], MIN_WORKSPACES),
            "keys": (options["keys"], MIN_KEYS),
            "models": (options["models"], MIN_MODELS),
        }
        for name, (value, minimum) in sizes.items():
            if value < minimum:
                raise CommandError(f"--{name} must be at least {minimum}.")
        if options["days"] < 1:
            raise CommandError("--days must be at least 1.")
        try:
            return generator.DemoSpec(
                days=options["days"],
                rate=options["rate"],
                requests=options["requests"],
                workspaces=options["workspaces"],
                keys=options["keys"],
                models=options["models"],
                accounts=options["accounts"],
                account_keys=options["account_keys"],
                seed=options["seed"],
                end=options["end"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None

    def _load(self, org: Organization, spec: generator.DemoSpec, rollup: bool) -> None:
        total = generator.total_requests(spec)
        self._progress(f"Generating and ingesting {total:,} requests over {spec.days} days...")
        started = time.monotonic()
        report = _Progress(self._progress, total, started)
        result = ingest_records(
            org,
            enumerate(generator.generate(spec), 1),
            source=IngestBatch.Source.DEMO,
            progress=report,
            nudge=False,  # rolled up right here, or left to beat with --skip-rollup
        )
        report.finish(result)
        if result.rejected:
            reasons = "; ".join(r.describe() for r in result.rejections[:5])
            raise CommandError(
                f"The demo generator produced {result.rejected} invalid records "
                f"(a bug in demo/generator.py): {reasons}"
            )
        self.stdout.write(
            f"Ingested {total:,} requests in {time.monotonic() - started:.1f}s: "
            f"{result.accepted:,} new, {result.duplicates:,} already present."
        )
        if rollup:
            rolled = time.monotonic()
            batches = rollup_pending(org_id=org.pk)
            self.stdout.write(
                f"Rolled up {batches} batch(es) in {time.monotonic() - rolled:.1f}s; "
                "the buckets are up to date."
            )

    def _write_jsonl(self, spec: generator.DemoSpec, path: Path) -> int:
        total = generator.total_requests(spec)
        self._progress(f"Writing {total:,} requests over {spec.days} days to {path}...")
        started = time.monotonic()
        opener = gzip.open if path.suffix == ".gz" else open
        dumps = json.JSONEncoder(separators=(",", ":")).encode
        written = 0
        step = max(1, total // 20)
        with opener(path, "wt", encoding="utf-8") as out:
            write = out.write
            for record in generator.generate(spec):
                write(dumps(record))
                write("\n")
                written += 1
                if written % step == 0:
                    rate = written / max(time.monotonic() - started, 1e-9)
                    self._progress(f"  {written:,} / {total:,} ({rate:,.0f}/s)")
        return written

    def _progress(self, message: str) -> None:
        self.stderr.write(message, style_func=lambda text: text)

    def _print_logins(self, org: Organization, password: str) -> None:
        self.stdout.write("")
        self.stdout.write(f"Sign in to {org.name} at http://127.0.0.1:8000/ with:")
        rows = [("Role", "Email", "Password")]
        rows += [(Role(role).label, email, password) for role, email, _ in MEMBERS]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row in rows:
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self.stdout.write(("  " + "  ".join(cells)).rstrip())


class _Progress:
    """Ingest progress on stderr: about twenty lines, whatever the size."""

    def __init__(self, write, total: int, started: float):
        self.write = write
        self.total = total
        self.started = started
        self.step = max(1, total // 20)
        self.next = self.step

    def __call__(self, result) -> None:
        if result.total >= self.next or result.total >= self.total:
            self.next = (result.total // self.step + 1) * self.step
            self._line(result)

    def finish(self, result) -> None:
        if result.total < self.total or self.total == 0:
            self._line(result)

    def _line(self, result) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        self.write(
            f"  {result.total:,} / {self.total:,} requests "
            f"({result.accepted:,} new, {result.duplicates:,} duplicates, "
            f"{result.rejected:,} rejected), {result.total / elapsed:,.0f}/s"
        )


@contextlib.contextmanager
def _queries_not_kept():
    """Run without Django's DEBUG query log.

    Under DEBUG (``make run``) every query is formatted and kept in memory; a bulk load of
    hundreds of thousands of rows would spend half its time doing that.
    """
    previous = settings.DEBUG
    settings.DEBUG = False
    try:
        yield
    finally:
        settings.DEBUG = previous


@transaction.atomic
def _ensure_organization(slug: str) -> tuple[Organization, bool]:
    org = Organization.objects.filter(slug=slug).first()
    if org is not None:
        return org, False
    name = DEMO_NAME if slug == DEMO_SLUG else f"Demo ({slug})"
    return create_organization(slug=slug, name=name), True


@transaction.atomic
def _ensure_members(org: Organization, password: str) -> User:
    """One member per role; re-running resets their passwords to the announced one."""
    admin = None
    hashed = make_password(password)  # once: hashing is slow on purpose, and they share it
    for role, email, name in MEMBERS:
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = User.objects.create_user(email, None, name=name)
        user.password = hashed
        user.save()
        Membership.objects.update_or_create(user=user, org=org, defaults={"role": role})
        if role == Role.ADMIN:
            admin = user
    return admin


@transaction.atomic
def _ensure_catalogue(org: Organization, catalogue: generator.Catalogue, admin: User) -> None:
    """Workspaces, keys, models and rate limits, created once; renames by an Admin stay."""
    workspaces = {None: Workspace.objects.get(org=org, is_default=True)}
    for workspace in catalogue.workspaces:
        workspaces[workspace.external_id] = Workspace.objects.get_or_create(
            org=org, external_id=workspace.external_id, defaults={"name": workspace.name}
        )[0]
    for key in catalogue.keys:
        ApiKey.objects.get_or_create(
            org=org,
            external_id=key.external_id,
            defaults={
                "name": key.name,
                "workspace": workspaces[key.workspace_id],
                "created_by": admin,
            },
        )
    for model_id in catalogue.models:
        model = LlmModel.objects.get_or_create(model_id=model_id)[0]
        limits = RATE_LIMITS.get(model.family)
        if limits:
            RateLimit.objects.get_or_create(
                org=org,
                model=model,
                defaults={
                    "requests_per_minute": limits[0],
                    "input_tokens_per_minute": limits[1],
                    "output_tokens_per_minute": limits[2],
                },
            )


def _link_demo_members(org: Organization, catalogue: generator.Catalogue) -> None:
    """Link each demo login to one of the people behind the requests, so that every one of
    them (a User too) has figures of their own on My usage."""
    people = [a.external_id for a in catalogue.accounts if not a.is_service]
    for (_role, email, _name), external_id in zip(MEMBERS, people, strict=False):
        Account.objects.filter(org=org, external_id=external_id, member=None).update(
            member=User.objects.get(email=email)
        )
