"""Forms for signing in, member management, invitations and the audit log filter."""

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from accounts import throttle
from accounts.models import Role, User


class ThrottledLoginMixin:
    """Refuse to check a password while the account or address is slowed or locked."""

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:
            return super().clean()
        address = throttle.client_address(self.request)
        verdict = throttle.check(username, address)
        if not verdict.allowed:
            raise ValidationError(verdict.message, code="throttled")
        try:
            cleaned = super().clean()
        except ValidationError:
            throttle.record_failure(username, address)
            raise
        throttle.forget_account(username)
        return cleaned


class LoginForm(ThrottledLoginMixin, AuthenticationForm):
    pass


class AdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    pass


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.DEVELOPER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class AcceptInvitationForm(forms.Form):
    """A new account for the invited address: a name and a password."""

    name = forms.CharField(max_length=200, required=False)
    password1 = forms.CharField(label="Password", strip=False, widget=forms.PasswordInput)
    password2 = forms.CharField(label="Password again", strip=False, widget=forms.PasswordInput)

    def __init__(self, *args, email: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self):
        cleaned = super().clean()
        p1, p2 = cleaned.get("password1"), cleaned.get("password2")
        if p1 and p2:
            if p1 != p2:
                self.add_error("password2", "The two passwords differ.")
            else:
                try:
                    password_validation.validate_password(
                        p1, User(email=self.email, name=cleaned.get("name", ""))
                    )
                except ValidationError as exc:
                    self.add_error("password1", exc)
        return cleaned


class AuditFilterForm(forms.Form):
    action = forms.CharField(required=False, max_length=64)
    page = forms.IntegerField(required=False, min_value=1)
