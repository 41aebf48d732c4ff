"""Forms: the Cost page's query string, and a new price on the Prices page."""

from django import forms
from django.core.exceptions import ValidationError

from console.filters import ReportFilterForm
from costs import breakdown
from costs.models import ModelPrice, ToolPrice
from costs.selectors import GROUPS
from usage.models import ServiceTier
from usage.selectors import member_accounts, org_models


class CostFilterForm(ReportFilterForm):
    """The Cost page's query string: the shared report filters and the breakdown's order.
    Decision: no API key, hour or paging here (cost lines are priced per model, tier, window
    and workspace, as on the Console's Cost page); grouping is by model unless asked, since a
    cost total without a breakdown by what was bought says little."""

    visible_models = staticmethod(org_models)
    group_by_choices = list(GROUPS.items())
    default_group_by = "model"

    sort = forms.ChoiceField(
        required=False,
        choices=[(s, s) for key in breakdown.SORTS for s in (key, f"-{key}")],
        label="Sort",
    )


class MyUsageForm(ReportFilterForm):
    """My usage's query string: the month, the zone, and optionally one of the person's own
    accounts. Decision: no workspace, model, day or grouping, so nothing here names anything
    of the organisation beyond the person's own accounts; any other account id (a colleague's,
    another organisation's, none) is the same 404."""

    workspace = None
    model = None
    day = None
    group_by = None

    def __init__(self, data, *, org, user, now=None):
        super().__init__(data, org=org, user=user, now=now)
        self.accounts = member_accounts(org.id, user)

    def clean_account(self):
        value = self.cleaned_data["account"]
        if not value:
            return None
        account = next((a for a in self.accounts if a.external_id == value), None)
        if account is None:
            self.not_found = True
            raise ValidationError(f"“{value}” is not one of your accounts.")
        return account

    def account_ids(self) -> tuple[int, ...]:
        """The accounts whose usage the view shows (call after ``is_valid()``)."""
        chosen = self.cleaned_data.get("account")
        return (chosen.pk,) if chosen else tuple(a.pk for a in self.accounts)


class ModelPriceForm(forms.ModelForm):
    """A token price for models matching a pattern, in force from a UTC date."""

    also_batch = forms.BooleanField(
        required=False,
        initial=True,
        label="Also add the batch price at 50% off (for a standard price)",
    )

    class Meta:
        model = ModelPrice
        fields = [
            "model_pattern",
            "service_tier",
            "context_window",
            "effective_from",
            "input_per_mtok",
            "output_per_mtok",
            "cache_write_5m_per_mtok",
            "cache_write_1h_per_mtok",
            "cache_read_per_mtok",
            "source",
        ]
        widgets = {"effective_from": forms.DateInput(attrs={"type": "date"})}
        labels = {
            "input_per_mtok": "Input (USD / MTok)",
            "output_per_mtok": "Output (USD / MTok)",
            "cache_write_5m_per_mtok": "5m cache write (USD / MTok)",
            "cache_write_1h_per_mtok": "1h cache write (USD / MTok)",
            "cache_read_per_mtok": "Cache read (USD / MTok)",
            "source": "Source note (contract, quote, ...)",
        }

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, **kwargs)
        self.org = org

    def clean(self):
        data = super().clean()
        tiers = [data.get("service_tier")]
        if data.get("also_batch") and data.get("service_tier") == ServiceTier.STANDARD:
            tiers.append(ServiceTier.BATCH)
        clash = ModelPrice.objects.filter(
            org=self.org,
            model_pattern=data.get("model_pattern"),
            service_tier__in=tiers,
            context_window=data.get("context_window"),
            effective_from=data.get("effective_from"),
        )
        if clash.exists():
            raise forms.ValidationError(
                "This organisation already has a price for that model, tier and window from "
                "that date; add one from another date instead."
            )
        return data


class ToolPriceForm(forms.ModelForm):
    """A web-search or code-execution price, in force from a UTC date."""

    class Meta:
        model = ToolPrice
        fields = ["kind", "effective_from", "unit_price", "free_hours_per_month", "source"]
        widgets = {"effective_from": forms.DateInput(attrs={"type": "date"})}
        labels = {
            "unit_price": "Price (USD per 1,000 searches, or per container-hour)",
            "free_hours_per_month": "Free container-hours per month (code execution)",
            "source": "Source note",
        }

    def __init__(self, *args, org, **kwargs):
        # Shown on one page with the token price form, which has fields of the same names:
        # ids of their own, so each label points at its own field.
        kwargs.setdefault("auto_id", "tool_%s")
        super().__init__(*args, **kwargs)
        self.org = org

    def clean(self):
        data = super().clean()
        clash = ToolPrice.objects.filter(
            org=self.org, kind=data.get("kind"), effective_from=data.get("effective_from")
        )
        if clash.exists():
            raise forms.ValidationError(
                "This organisation already has that price from that date; use another date."
            )
        return data
