"""The organisation and what its requests are attributed to: workspaces, API keys, models,
and the accounts (people or services) that made them.

As in the Anthropic API, usage in the Default workspace and usage without an API key are
first-class: the Default workspace is a real row (``is_default``, no external id) and a
request without a key simply has no ``ApiKey``. A request without an ``account_id`` has no
``Account``.
"""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.db.models import Q


class Organization(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Workspace(models.Model):
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="workspaces")
    # ``wrkspc_...`` as sent in logs; the Default workspace has none, as in the Anthropic API.
    external_id = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001
    name = models.CharField(max_length=200)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_default", "name"]
        constraints = [
            models.UniqueConstraint(fields=["org", "external_id"], name="workspace_unique_id"),
            models.UniqueConstraint(
                fields=["org"], condition=Q(is_default=True), name="one_default_workspace"
            ),
            models.CheckConstraint(
                condition=Q(is_default=True, external_id__isnull=True)
                | Q(is_default=False, external_id__isnull=False),
                name="default_workspace_has_no_external_id",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ApiKey(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DISABLED = "disabled", "Disabled"

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="api_keys")
    external_id = models.CharField(max_length=128)  # ``apikey_...``
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "external_id"]
        constraints = [
            models.UniqueConstraint(fields=["org", "external_id"], name="api_key_unique_id"),
        ]

    def __str__(self) -> str:
        return self.name


ACCOUNT_ID_MAX_LENGTH = 255


def account_email(name: str | None, external_id: str) -> str:
    """The email address an account is known by: its name's, else its id's, else "".

    Gateways name a person by email (Claude Code's ``user.email``) or use it as the id, so
    whichever of the two is an address is taken, lowercased as members' emails are; an
    account named otherwise has none and can only be linked to a member by an Admin.
    """
    for value in (name, external_id):
        if value and "@" in value and len(value) <= 254:  # the EmailField's limit
            candidate = value.strip().lower()
            try:
                validate_email(candidate)
            except ValidationError:
                continue
            return candidate
    return ""


class Account(models.Model):
    """The person or service account behind requests (the record's ``account_id``)."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="accounts")
    external_id = models.CharField(max_length=ACCOUNT_ID_MAX_LENGTH)
    name = models.CharField(max_length=200)  # first-seen ``account_name``, else the id
    # Derived on first sight (``account_email``); a member with this email sees the
    # account's usage on My usage.
    email = models.EmailField(max_length=254, blank=True)
    # Set by an Admin by hand: the member who sees this account's usage whatever the email.
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "external_id"]
        constraints = [
            models.UniqueConstraint(fields=["org", "external_id"], name="account_unique_id"),
        ]
        indexes = [models.Index(fields=["org", "email"], name="account_org_email")]

    def __str__(self) -> str:
        return self.name

    @property
    def label(self) -> str:
        """How reports name it: the name, and the id when that says something more."""
        return account_label(self.external_id, self.name)


def account_label(external_id: str, name: str) -> str:
    """An account as reports name it: "Ada (user_01)", or just the name when it is the id."""
    return name if name == external_id else f"{name} ({external_id})"


# The record contract's model id (README "The record"): what ingest accepts is what every
# filter accepts, so a model that has usage can always be asked for by its id.
MODEL_ID_MAX_LENGTH = 128


def is_model_id(value: object) -> bool:
    """Whether ``value`` is a model id: a string of 1 to 128 characters, no NUL, UTF-8."""
    if type(value) is not str or not 0 < len(value) <= MODEL_ID_MAX_LENGTH or "\x00" in value:
        return False
    try:
        value.encode("utf-8")  # a lone surrogate cannot be stored
    except UnicodeEncodeError:
        return False
    return True


_MODEL_ID = re.compile(r"^claude-(?P<rest>.+?)(?:-(?P<date>\d{8}))?$")


def describe_model(model_id: str) -> tuple[str, str]:
    """Return (display name, family) for a model id, e.g. ("Claude Sonnet 4.5", "sonnet")."""
    match = _MODEL_ID.match(model_id)
    if not match:
        return model_id, ""
    words = match.group("rest").split("-")
    # Anthropic ids come as claude-sonnet-4-5 (new) or claude-3-5-sonnet (old).
    family = next((w for w in words if w.isalpha()), "")
    numbers = [w for w in words if w.isdigit()]
    others = [w for w in words if not w.isdigit() and w != family]
    name = "Claude " + family.capitalize()
    if numbers:
        name += " " + ".".join(numbers)
    if others:
        name += " " + " ".join(others)
    return name, family


class LlmModel(models.Model):
    """A model requests were sent to, known globally by its id."""

    model_id = models.CharField(max_length=MODEL_ID_MAX_LENGTH, unique=True)
    display_name = models.CharField(max_length=200)
    family = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["model_id"]
        verbose_name = "model"

    def __str__(self) -> str:
        return self.display_name

    def save(self, *args, **kwargs):
        if not self.display_name:
            self.display_name, family = describe_model(self.model_id)
            self.family = self.family or family
        super().save(*args, **kwargs)


class AuditEntry(models.Model):
    """Who changed what in an organisation, with the values before and after."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="audit_entries")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=255, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.action} {self.target}"
