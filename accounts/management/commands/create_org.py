from django.contrib.auth.tokens import default_token_generator
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.services import create_org_with_admin
from console.models import Organization


class Command(BaseCommand):
    help = "Create an organisation with its Default workspace and first Admin."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--admin", required=True, metavar="EMAIL")
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000",
            help="Where the console is served, for the password link.",
        )

    def handle(self, *args, slug, name, admin, base_url, **options):
        if Organization.objects.filter(slug=slug).exists():
            raise CommandError(f"An organisation with slug {slug!r} already exists.")
        org, user = create_org_with_admin(slug=slug, name=name, admin_email=admin)
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        token = default_token_generator.make_token(user)
        path = reverse("accounts:password_reset_confirm", args=[uid, token])
        self.stdout.write(f"Created {org.name} ({org.slug}) with Admin {user.email}.")
        self.stdout.write(f"Set the password (one-time link): {base_url.rstrip('/')}{path}")
