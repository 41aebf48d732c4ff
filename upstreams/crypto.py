"""Upstream keys encrypted at rest with Fernet (AES-128-CBC and HMAC-SHA256, authenticated).

The keys are ``settings.UPSTREAM_KEYS_SECRET``: the first encrypts, every one decrypts
(``MultiFernet``), so a key is rotated by putting a new one first, running
``manage.py reencrypt_upstream_keys``, then dropping the old one.
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class KeysSecretMissing(RuntimeError):
    """UPSTREAM_KEYS_SECRET is not set, so no upstream key can be stored or read."""


def _fernet() -> MultiFernet:
    if not settings.UPSTREAM_KEYS_SECRET:
        raise KeysSecretMissing(
            "UPSTREAM_KEYS_SECRET is not set; an operator must set it before upstream keys "
            "can be stored (see the README, Pull from an upstream)."
        )
    return MultiFernet([Fernet(key.encode()) for key in settings.UPSTREAM_KEYS_SECRET])


def encrypt(secret: str) -> str:
    """The ciphertext of ``secret`` under the first key."""
    return _fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    """The secret of a ciphertext made with any of the keys; KeysSecretMissing or
    InvalidToken (a key that is no longer configured) otherwise."""
    return _fernet().decrypt(token.encode()).decode()


def rotate(token: str) -> str:
    """The same secret encrypted under the first key."""
    return _fernet().rotate(token.encode()).decode()


__all__ = ["InvalidToken", "KeysSecretMissing", "decrypt", "encrypt", "rotate"]
