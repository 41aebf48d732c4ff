"""Upstream keys at rest: Fernet under UPSTREAM_KEYS_SECRET, strict about bad values, none
in production unless set, and rotation by re-encrypting under a new first key."""

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from tests.console.test_settings import PRODUCTION, run
from tests.upstreams.test_views import SECRET, make
from upstreams import crypto
from upstreams.models import Upstream


def test_a_bad_key_stops_start_up_naming_the_setting():
    result = run(
        "import console.settings", METERBOARD_MODE="dev", UPSTREAM_KEYS_SECRET="not-a-fernet-key"
    )
    assert result.returncode != 0
    assert "UPSTREAM_KEYS_SECRET: each comma-separated key must be a Fernet key" in result.stderr


def test_production_has_no_derived_secret():
    code = "import console.settings as s; print(len(s.UPSTREAM_KEYS_SECRET))"
    assert run(code, **PRODUCTION).stdout.strip() == "0"
    key = Fernet.generate_key().decode()
    assert run(code, **PRODUCTION, UPSTREAM_KEYS_SECRET=key).stdout.strip() == "1"


def test_without_the_secret_no_key_is_stored(settings):
    settings.UPSTREAM_KEYS_SECRET = []
    with pytest.raises(crypto.KeysSecretMissing, match="UPSTREAM_KEYS_SECRET is not set"):
        crypto.encrypt("k")


@pytest.mark.django_db
def test_rotation_reencrypts_every_key_under_the_new_first_key(settings, org):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.UPSTREAM_KEYS_SECRET = [old]
    upstream = make(org)
    settings.UPSTREAM_KEYS_SECRET = [new, old]
    out = io.StringIO()
    call_command("reencrypt_upstream_keys", stdout=out)
    assert out.getvalue().strip() == "1 upstream key(s) re-encrypted."
    settings.UPSTREAM_KEYS_SECRET = [new]  # the old key is gone: the key still reads
    assert crypto.decrypt(Upstream.objects.get(pk=upstream.pk).key_ciphertext) == SECRET
    settings.UPSTREAM_KEYS_SECRET = [old]
    with pytest.raises(crypto.InvalidToken):
        crypto.decrypt(Upstream.objects.get(pk=upstream.pk).key_ciphertext)
