"""Forms of the upstreams settings page; a bad post gets a 400 with these messages."""

import datetime as dt
import urllib.parse

from django import forms
from django.conf import settings
from django.utils import timezone

from console import outbound
from upstreams.models import Upstream


class UpstreamForm(forms.Form):
    """Name, base URL and key of an upstream; the key may be left empty when editing."""

    name = forms.CharField(max_length=200, strip=True)
    base_url = forms.URLField(
        max_length=500,
        label="Base URL",
        assume_scheme="https",
        help_text="Where the Admin API lives: https://api.anthropic.com, or another "
        "Meterboard's address.",
    )
    key = forms.CharField(
        max_length=500,
        strip=True,
        label="Admin key",
        widget=forms.PasswordInput(render_value=False),
        help_text="An Admin API key of the upstream organisation; stored encrypted.",
    )
    start = forms.DateField(
        label="Import from (UTC)",
        help_text="The first day to import; later minutes follow as they settle.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, org, *args, instance: Upstream | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.org, self.instance = org, instance
        if instance is not None:
            del self.fields["start"]  # the position moves only by importing
            self.fields["key"].required = False
            self.fields[
                "key"
            ].help_text = f"Leave empty to keep the key ending in …{instance.key_hint}."

    def clean_name(self):
        name = self.cleaned_data["name"]
        others = Upstream.objects.filter(org=self.org, name=name)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise forms.ValidationError("Another upstream already has this name.")
        return name

    def clean_base_url(self):
        url = self.cleaned_data["base_url"].rstrip("/")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise forms.ValidationError("Use an http or https URL.")
        if parts.scheme != "https" and not settings.DEV:
            raise forms.ValidationError("Use https: the key travels with every request.")
        if parts.query or parts.fragment:
            raise forms.ValidationError("Give the base URL only, without a query.")
        if not settings.UPSTREAM_ALLOW_PRIVATE:
            outbound.check_public_host(parts.hostname or "", parts.port, "UPSTREAM_ALLOW_PRIVATE")
        return url

    def clean_start(self):
        start = self.cleaned_data["start"]
        if start > timezone.now().date():
            raise forms.ValidationError("The first day cannot be in the future.")
        return dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC)
