"""Upstreams: servers speaking Anthropic's usage report that an organisation pulls from."""

from django.conf import settings
from django.db import models

from console.models import Organization


class Upstream(models.Model):
    """One server an organisation imports settled usage minutes from, and how far it got.

    ``position`` is the start of the first minute not yet imported; it only moves in the
    transaction that stores the minutes before it.
    """

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="upstreams")
    name = models.CharField(max_length=200)
    base_url = models.URLField(max_length=500)
    key_ciphertext = models.TextField()  # Fernet token (upstreams.crypto), never the key
    key_hint = models.CharField(max_length=8)  # the key's last characters, to tell keys apart
    position = models.DateTimeField()
    paused = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    imported_results = models.BigIntegerField(default=0)  # minute results stored, all runs

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["org", "name"], name="upstream_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name
