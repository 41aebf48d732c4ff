"""Bearer secrets that machines use to reach one organisation: ingest keys and Admin API keys.

A secret is a prefix of our own (so secret scanners never take it for another vendor's key)
and 43 random characters. It is shown once, when it is created; only its SHA-256 hash and its
first characters (to recognise it) are stored. Each kind of key is a model built on
``SecretKey`` and a ``KeyKind`` that says its prefix and its audit-log name.
"""

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from console.models import Organization
from console.services import record_audit

LAST_USED_PRECISION = dt.timedelta(minutes=1)
_MAX_SECRET_LENGTH = 200


class SecretKey(models.Model):
    """The stored half of a bearer secret (each kind adds its ``org`` foreign key)."""

    name = models.CharField(max_length=200)
    prefix = models.CharField(max_length=16, help_text="The first characters, to recognise it.")
    key_hash = models.CharField(max_length=128, unique=True)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


def hash_secret(secret: str) -> str:
    """The stored form of a secret; keys are looked up by this hash of the bearer token."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class KeyKind:
    """One kind of key: its model, the prefix of its secrets and its audit-log name."""

    model: type[SecretKey]
    prefix: str
    audit_name: str  # "ingest_key" -> audit actions ingest_key.create / ingest_key.revoke

    @transaction.atomic
    def create(self, org: Organization, name: str, *, actor=None) -> tuple[SecretKey, str]:
        """Create a key and return it with its secret, which is never stored or shown again."""
        secret = self.prefix + secrets.token_urlsafe(32)
        key = self.model.objects.create(
            org=org, name=name, prefix=secret[:12], key_hash=hash_secret(secret), created_by=actor
        )
        record_audit(
            org,
            actor,
            f"{self.audit_name}.create",
            target=str(key),
            before=None,
            after={"name": name, "prefix": key.prefix},
        )
        return key, secret

    @transaction.atomic
    def revoke(self, key: SecretKey, *, actor) -> SecretKey:
        """Stop a key from working; revoking twice changes nothing."""
        key = self.model.objects.select_for_update().get(pk=key.pk)
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])
            record_audit(
                key.org,
                actor,
                f"{self.audit_name}.revoke",
                target=str(key),
                before={"revoked": False},
                after={"revoked": True},
            )
        return key

    def authenticate(self, secret: str | None) -> SecretKey | None:
        """The unrevoked key of a secret, or None; notes its use at most once a minute."""
        if not secret or not secret.startswith(self.prefix) or len(secret) > _MAX_SECRET_LENGTH:
            return None
        key = (
            self.model.objects.select_related("org")
            .filter(key_hash=hash_secret(secret), revoked_at__isnull=True)
            .first()
        )
        if key is None:
            return None
        now = timezone.now()
        stale = now - LAST_USED_PRECISION
        if key.last_used_at is None or key.last_used_at <= stale:
            # Conditional, so that a busy client's requests do not each become an UPDATE and
            # concurrent ones write it once.
            self.model.objects.filter(
                Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale), pk=key.pk
            ).update(last_used_at=now)
            key.last_used_at = now
        return key
