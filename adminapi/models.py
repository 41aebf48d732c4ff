"""Admin API keys: the secrets with which Admin API clients read one organisation."""

from django.db import models

from console.models import Organization


class AdminKey(models.Model):
    """A secret that reads one organisation's reports through the Admin API; stored hashed."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="admin_keys")
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
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
