"""Forms: the Cost page's query string, and a new price on the Prices page."""

import datetime as dt
import re
import zoneinfo
from urllib.parse import urlencode

from django import forms
from django.http import Http404

from console.models import LlmModel, Workspace
from costs.models import ModelPrice, ToolPrice
from costs.selectors import GROUPS
from usage import timeslice
from usage.forms import DEFAULT_WORKSPACE, EXTERNAL_ID, time_zones, workspace_value
from usage.models import Series, ServiceTier

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


class CostFilterForm(forms.Form):
    """What the Cost page shows. Malformed values are errors (400); a workspace or model
    that is well formed but not this organisation's raises Http404."""

    # As on the Usage page: the workspace's ``wrkspc_...`` id, or "default" for the Default.
    workspace = forms.CharField(required=False, max_length=128, label="Workspace")
    model = forms.CharField(required=False, max_length=128, label="Model")
    month = forms.CharField(required=False, max_length=7, label="Month")
    day = forms.DateField(required=False, input_formats=["%Y-%m-%d"], label="Day")
    tz = forms.CharField(required=False, max_length=64, label="Time zone")
    group = forms.ChoiceField(required=False, choices=list(GROUPS.items()), label="Group by")

    def __init__(self, data, *, org, default_zone: str = "UTC", today=None):
        super().__init__(data)
        self.org = org
        self.default_zone = default_zone if default_zone in time_zones() else "UTC"
        self.today = today

    def clean_workspace(self):
        value = self.cleaned_data["workspace"].strip()
        if not value:
            return None
        if value == DEFAULT_WORKSPACE:
            return Workspace.objects.get(org=self.org, is_default=True)
        if not EXTERNAL_ID.match(value):
            raise forms.ValidationError(f"{value!r} is not a workspace id (such as wrkspc_01...).")
        workspace = Workspace.objects.filter(org=self.org, external_id=value).first()
        if workspace is None:
            raise Http404("No such workspace in this organisation.")
        return workspace

    def clean_model(self):
        model_id = self.cleaned_data["model"]
        if not model_id:
            return None
        if not _MODEL_ID.match(model_id):
            raise forms.ValidationError("A model id has letters, digits, dots and dashes only.")
        used = Series.objects.filter(org=self.org, model__model_id=model_id).values("model_id")
        model = LlmModel.objects.filter(pk__in=used).first()
        if model is None:
            raise Http404("This organisation has no usage of that model.")
        return model

    def clean_tz(self):
        name = self.cleaned_data["tz"] or self.default_zone
        if name not in time_zones():
            raise forms.ValidationError(f"{name!r} is not a time zone name such as Europe/Paris.")
        return zoneinfo.ZoneInfo(name)

    def clean_month(self):
        value = self.cleaned_data["month"]
        if not value:
            return None
        match = _MONTH.match(value)
        if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
            raise forms.ValidationError("Month must look like 2026-05.")
        return int(match.group(1)), int(match.group(2))

    def clean_group(self):
        return self.cleaned_data["group"] or "model"

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        day, month = data.get("day"), data.get("month")
        if day is not None and month is not None and (day.year, day.month) != month:
            raise forms.ValidationError(
                f"The day {day} is not in the month {month[0]}-{month[1]:02d}."
            )
        if day is not None and not timeslice.day_exists(day, data["tz"]):
            raise forms.ValidationError(
                f"The day {day} never happened in {data['tz']} (the clocks skipped it)."
            )
        if month is None:
            if day is not None:
                month = (day.year, day.month)
            else:
                today = self.today or dt.datetime.now(data["tz"]).date()
                month = (today.year, today.month)
        data["month"] = month
        return data

    def error_messages(self) -> list[str]:
        """Each error as a person reads it: the control's label, then what is wrong."""
        return [
            m if field == "__all__" else f"{self.fields[field].label}: {m}"
            for field, errors in self.errors.items()
            for m in errors
        ]

    def shown(self) -> dict:
        """The value each filter control shows: the valid value, else what was sent."""
        data = getattr(self, "cleaned_data", {})
        raw = self.data
        month = data.get("month")
        return {
            "workspace": workspace_value(data["workspace"])
            if data.get("workspace")
            else raw.get("workspace", ""),
            "model": data["model"].model_id if data.get("model") else "",
            "month": "{}-{:02d}".format(*month)
            if isinstance(month, tuple)
            else raw.get("month", ""),
            "day": data["day"].isoformat() if data.get("day") else raw.get("day", ""),
            "tz": data["tz"].key if data.get("tz") else raw.get("tz", self.default_zone),
            "group": data.get("group") or raw.get("group", "model"),
        }

    def query_string(self, **changes) -> str:
        """The canonical query string of this view, with some values changed."""
        data = self.cleaned_data
        values = {
            "workspace": workspace_value(data["workspace"]) if data.get("workspace") else "",
            "model": data["model"].model_id if data.get("model") else "",
            "month": "{}-{:02d}".format(*data["month"]),
            "day": data["day"].isoformat() if data.get("day") else "",
            "tz": data["tz"].key,
            "group": data["group"],
        }
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


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
