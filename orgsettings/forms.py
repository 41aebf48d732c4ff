"""Forms of the settings pages; a bad query string or post gets a 400 with these messages."""

from django import forms

from accounts.models import User
from console.models import ApiKey, LlmModel, Organization
from usage.selectors import org_models


class RenameForm(forms.Form):
    name = forms.CharField(max_length=200, strip=True)


class ApiKeyStatusForm(forms.Form):
    status = forms.ChoiceField(choices=ApiKey.Status.choices)


class ApiKeyFilterForm(forms.Form):
    """?workspace=<id>: list the keys of one workspace (another org's id is a 404)."""

    workspace = forms.IntegerField(required=False, min_value=1)


class RateLimitForm(forms.Form):
    """One model's per-minute limits; another organisation's model is refused as unknown."""

    model = forms.ModelChoiceField(queryset=LlmModel.objects.none(), to_field_name="model_id")
    requests_per_minute = forms.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
    input_tokens_per_minute = forms.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
    output_tokens_per_minute = forms.IntegerField(required=False, min_value=1, max_value=2**31 - 1)

    def __init__(self, org: Organization, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].queryset = org_models(org.pk)


class PageForm(forms.Form):
    """?page=<n> of a long list."""

    page = forms.IntegerField(required=False, min_value=1, max_value=1_000_000)

    def clean_page(self):
        return self.cleaned_data["page"] or 1


class LinkAccountForm(forms.Form):
    """The member an account is linked to; empty unlinks. Only members of the organisation."""

    member = forms.ModelChoiceField(queryset=None, required=False, label="Member")

    def __init__(self, org: Organization, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["member"].queryset = User.objects.filter(memberships__org=org)


class KeyNameForm(forms.Form):
    """The name of a new ingest or Admin API key."""

    name = forms.CharField(max_length=200, strip=True)
