"""Encrypt every upstream key under the first UPSTREAM_KEYS_SECRET key (after a rotation)."""

from django.core.management.base import BaseCommand

from upstreams.services import reencrypt_keys


class Command(BaseCommand):
    help = "Re-encrypt every upstream key with the first key of UPSTREAM_KEYS_SECRET."

    def handle(self, *args, **options):
        count = reencrypt_keys()
        self.stdout.write(f"{count} upstream key(s) re-encrypted.")
