"""Ingest keys: the service (create, revoke, authenticate); the page is in tests/orgsettings/."""

import datetime as dt
import hashlib

import pytest
from django.utils import timezone

from accounts.models import Role
from console.models import AuditEntry
from tests import factories
from usage.ingest.keys import authenticate, create_ingest_key, revoke_ingest_key
from usage.models import IngestKey

pytestmark = pytest.mark.django_db


def test_create_returns_the_secret_once_and_stores_only_its_hash(org):
    admin = factories.make_member(org, Role.ADMIN)
    key, secret = create_ingest_key(org, "gateway", actor=admin)
    assert secret.startswith("mbi_") and len(secret) > 40
    key.refresh_from_db()
    assert key.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert key.prefix == secret[:12]
    assert secret not in {key.name, key.prefix, key.key_hash}
    entry = AuditEntry.objects.get(org=org, action="ingest_key.create")
    assert entry.actor == admin
    assert secret not in str(entry.after)


def test_two_keys_have_different_secrets(org):
    assert create_ingest_key(org, "a")[1] != create_ingest_key(org, "b")[1]


def test_revoke_is_audited_once(org):
    key, _ = create_ingest_key(org, "gateway")
    revoke_ingest_key(key, actor=None)
    revoke_ingest_key(key, actor=None)
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert AuditEntry.objects.filter(org=org, action="ingest_key.revoke").count() == 1


def test_authenticate_finds_the_key_of_a_secret(org):
    key, secret = create_ingest_key(org, "gateway")
    found = authenticate(secret)
    assert found == key and found.org == org


@pytest.mark.parametrize("bearer", [None, "", "mbi_", "mbi_wrong", "not-a-key", "mbi_" + "x" * 300])
def test_authenticate_refuses_unknown_secrets(org, bearer):
    create_ingest_key(org, "gateway")
    assert authenticate(bearer) is None


def test_authenticate_refuses_a_revoked_key(org):
    key, secret = create_ingest_key(org, "gateway")
    revoke_ingest_key(key, actor=None)
    assert authenticate(secret) is None


def test_last_use_is_written_at_most_once_a_minute(org):
    key, secret = create_ingest_key(org, "gateway")
    assert key.last_used_at is None
    authenticate(secret)
    first = IngestKey.objects.get(pk=key.pk).last_used_at
    assert first is not None
    recent = timezone.now() - dt.timedelta(seconds=30)
    IngestKey.objects.filter(pk=key.pk).update(last_used_at=recent)
    authenticate(secret)
    assert IngestKey.objects.get(pk=key.pk).last_used_at == recent
    old = timezone.now() - dt.timedelta(seconds=61)
    IngestKey.objects.filter(pk=key.pk).update(last_used_at=old)
    authenticate(secret)
    assert IngestKey.objects.get(pk=key.pk).last_used_at > old + dt.timedelta(seconds=50)
