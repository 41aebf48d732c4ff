"""Admin API keys: the secrets with which Admin API clients read one organisation."""

from django.db import models

from console.models import Organization
from console.secret_keys import SecretKey


class AdminKey(SecretKey):
    """A secret that reads one organisation's reports through the Admin API; stored hashed."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="admin_keys")

    class Meta:
        ordering = ["-created_at", "-id"]
