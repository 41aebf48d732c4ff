"""Forms: the Cost page's query string, and a new price on the Prices page."""

from django import forms
from django.core.exceptions import ValidationError

from console.filters import ReportFilterForm
from costs import breakdown
from costs.models import ModelPrice, ToolPrice
from costs.selectors import GROUPS
from usage.models import ContextWindow, ServiceTier
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
            "model_pattern": "Model",
            "service_tier": "Service tier",
            "context_window": "Context window",
            "effective_from": "In force from",
            "input_per_mtok": "Input",
            "output_per_mtok": "Output",
            "cache_write_5m_per_mtok": "5m cache write",
            "cache_write_1h_per_mtok": "1h cache write",
            "cache_read_per_mtok": "Cache read",
            "source": "Source note",
        }
        help_texts = {
            "model_pattern": "A model id (claude-sonnet-4-5-20250929), or a prefix ending in * "
            "(claude-sonnet-4-5*) for every id that starts so; the longest match wins.",
            "service_tier": "Priority usage is priced at Standard unless it has a price.",
            "context_window": "200k-1M is for requests whose input passes 200,000 tokens; they "
            "are priced at 0-200k unless they have a price.",
            "effective_from": "A UTC date. The price applies from 00:00 UTC that day until a "
            "newer price for the same model, tier and window.",
            "source": "Optional: where the price comes from (a contract, a quote).",
        }

    # Every rate is in USD per million tokens (as Anthropic's price list states them).
    RATE_FIELDS = (
        "input_per_mtok",
        "output_per_mtok",
        "cache_write_5m_per_mtok",
        "cache_write_1h_per_mtok",
        "cache_read_per_mtok",
    )

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, **kwargs)
        self.org = org
        # A choice is required and has a usual value: no "---------" first.
        self.fields["service_tier"].choices = ServiceTier.choices
        self.fields["service_tier"].initial = ServiceTier.STANDARD
        self.fields["context_window"].choices = ContextWindow.choices
        self.fields["context_window"].initial = ContextWindow.choices[0][0]
        for name in self.RATE_FIELDS:
            self.fields[name].widget.attrs.update(inputmode="decimal", placeholder="0.00")

    def scope_fields(self):
        """What the price is for: model, tier, window and date."""
        return [
            self[n] for n in ("model_pattern", "service_tier", "context_window", "effective_from")
        ]

    def rate_fields(self):
        """The five rates, USD per million tokens."""
        return [self[n] for n in self.RATE_FIELDS]

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
            "kind": "Tool",
            "effective_from": "In force from",
            "unit_price": "Price (USD)",
            "free_hours_per_month": "Free container-hours per month",
            "source": "Source note",
        }
        help_texts = {
            "effective_from": "A UTC date; the price applies from 00:00 UTC that day.",
            "unit_price": "Web search: per 1,000 searches. Code execution: per container-hour.",
            "free_hours_per_month": "Code execution only (0 for web search): hours each month "
            "that cost nothing.",
            "source": "Optional: where the price comes from (a contract, a quote).",
        }

    def __init__(self, *args, org, **kwargs):
        # Shown on one page with the token price form, which has fields of the same names:
        # ids of their own, so each label points at its own field.
        kwargs.setdefault("auto_id", "tool_%s")
        super().__init__(*args, **kwargs)
        self.org = org
        self.fields["kind"].choices = ToolPrice.Kind.choices
        self.fields["kind"].initial = ToolPrice.Kind.WEB_SEARCH
        self.fields["unit_price"].widget.attrs.update(inputmode="decimal", placeholder="0.00")

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
