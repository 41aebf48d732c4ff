"""People, their memberships in organisations, and the role each membership carries."""

import hashlib

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone

from console.models import Organization


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    BILLING = "billing", "Billing"
    DEVELOPER = "developer", "Developer"
    CLAUDE_CODE_USER = "claude_code_user", "Claude Code User"
    USER = "user", "User"


# Who may open the Usage and Cost reports (pages, partials and exports).
REPORT_ROLES = frozenset({Role.ADMIN, Role.BILLING, Role.DEVELOPER})


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email, password=None, **extra):
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person, who signs in with an email address."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    # Staff are the operators of this installation (Django admin), not organisation members.
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    time_zone = models.CharField(max_length=64, default="UTC")

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    def __str__(self) -> str:
        return self.name or self.email


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["org__name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "org"], name="one_membership_per_org"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.org} as {self.get_role_display()}"

    @property
    def can_see_reports(self) -> bool:
        return self.role in REPORT_ROLES

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


def hash_token(token: str) -> str:
    """The stored form of an invitation token (the token itself is only in the link)."""
    return hashlib.sha256(token.encode()).hexdigest()


class Invitation(models.Model):
    """A single-use, expiring offer to join an organisation with a role.

    Only a hash of the token is stored; the link in the email is the one copy of the secret.
    """

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=32, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["org", "email"], name="invitation_org_email")]

    def __str__(self) -> str:
        return f"{self.email} to {self.org} as {self.get_role_display()}"

    @property
    def is_pending(self) -> bool:
        return self.problem() is None

    def problem(self) -> str | None:
        """Why this invitation can no longer be used, or None when it can."""
        if self.accepted_at is not None:
            return "This invitation has already been used."
        if self.revoked_at is not None:
            return "This invitation was withdrawn by an Admin."
        if self.expires_at <= timezone.now():
            return "This invitation has expired. Ask an Admin to invite you again."
        return None


class LoginFailure(models.Model):
    """One failed sign-in, counted per account and per address to slow and lock guessing."""

    username = models.CharField(max_length=254, db_index=True)  # as typed, lower-cased
    ip_address = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
