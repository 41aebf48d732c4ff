"""The Usage page's filters: one Form over the query string, shared by the page and its CSV."""

import datetime as dt
import html
import re
import zoneinfo
from functools import lru_cache

from django import forms
from django.core.exceptions import ValidationError
from django.utils import dateformat, timezone
from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe

from console.models import ApiKey, LlmModel, Workspace
from usage import timeslice
from usage.selectors import DIMENSIONS, Scope, UsageQuery, filter_choices

# Values the Workspaces and API keys pages link here with (keep in step with them).
DEFAULT_WORKSPACE = "default"
NO_API_KEY = "none"

GROUP_BY_CHOICES = [
    ("", "No grouping"),
    ("model", "Model"),
    ("api_key", "API key"),
    ("workspace", "Workspace"),
    ("service_tier", "Service tier"),
    ("context_window", "Context window"),
]
# The number columns of the chart's table; the breakdown adds web searches and sorts by any.
PERIOD_COLUMNS = [
    "input_tokens",
    "uncached_input_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "output_tokens",
    "requests",
    "rate_limited_requests",
]
BREAKDOWN_COLUMNS = [*PERIOD_COLUMNS, "web_search_requests"]
SORT_COLUMNS = ["group", *BREAKDOWN_COLUMNS]
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


def workspace_value(workspace: Workspace) -> str:
    """How a query string names a workspace: its external id, or "default"."""
    return workspace.external_id or DEFAULT_WORKSPACE


@lru_cache(maxsize=1)
def time_zones() -> list[str]:
    """Every IANA zone name this machine knows, sorted."""
    return sorted(zoneinfo.available_timezones() | {"UTC"})


# Sections of the page loaded on their own (after the main view, so it stays fast).
PARTS = [
    ("", "Whole view"),
    ("limits", "Rate limit use"),
    ("rate_limited", "Rate-limited requests"),
]


@lru_cache(maxsize=64)
def time_zone_options(selected: str) -> str:
    """The <option>s of the zone select (600 of them: built once per chosen zone)."""
    return format_html_join(
        "",
        "<option{}>{}</option>",
        ((" selected" if name == selected else "", name) for name in time_zones()),
    )


def options(choices, selected: str) -> SafeString:
    """``<option>``s from ``(value, label)`` pairs, the selected one marked; built here rather
    than in a template loop, which costs several variable lookups per option (100 keys)."""
    text = "".join(
        f'<option value="{html.escape(value)}"{" selected" if value == selected else ""}>'
        f"{html.escape(label)}</option>"
        for value, label in choices
    )
    return mark_safe(text)  # noqa: S308 - every value and label is escaped (as escape() does)


class UsageFilterForm(forms.Form):
    workspace = forms.CharField(required=False, max_length=128)
    model = forms.CharField(required=False, max_length=128)
    month = forms.CharField(required=False, max_length=7, help_text="YYYY-MM")
    day = forms.DateField(required=False, input_formats=["%Y-%m-%d"])
    hour = forms.CharField(required=False, max_length=16)
    api_key = forms.CharField(required=False, max_length=128)
    group_by = forms.ChoiceField(required=False, choices=GROUP_BY_CHOICES)
    tz = forms.CharField(required=False, max_length=64, label="Time zone")
    sort = forms.ChoiceField(
        required=False,
        choices=[("", "")] + [(p + c, p + c) for c in SORT_COLUMNS for p in ("", "-")],
    )
    rl_page = forms.IntegerField(required=False, min_value=1, max_value=1_000_000)
    part = forms.ChoiceField(required=False, choices=PARTS)
    # Export only (beyond the Console): rows finer than the bars shown, e.g. a month by minute.
    granularity = forms.ChoiceField(
        required=False, choices=[("", "As shown"), ("hour", "Hour"), ("minute", "Minute")]
    )

    def __init__(self, data, *, org, user, now: dt.datetime | None = None):
        super().__init__(data)
        self.org = org
        self.user = user
        self.now = now or timezone.now()
        self.not_found = False

    def time_zone_options(self, selected: str) -> str:
        return time_zone_options(selected)

    def select_options(self, selected: dict, workspace: Workspace | None, days) -> dict:
        """The ``<option>``s of each select (one query), ``selected`` being the view's URL
        parameters."""
        lists = filter_choices(self.org.id, workspace.id if workspace is not None else None)
        workspaces = [
            (
                external_id or DEFAULT_WORKSPACE,
                f"{name} (Default)" if is_default and name != "Default" else name,
            )
            for external_id, name, is_default in lists["workspaces"]
        ]
        keys = [(NO_API_KEY, "No API key (Console and Workbench)")] + [
            (external_id, f"{name} ({external_id})") for external_id, name in lists["api_keys"]
        ]
        models = [(model_id, f"{name} ({model_id})") for model_id, name in lists["models"]]
        day_choices = [(d.isoformat(), dateformat.format(d, "D j M")) for d in days]
        return {
            "workspace_options": options(workspaces, selected.get("workspace", "")),
            "api_key_options": options(keys, selected.get("api_key", "")),
            "model_options": options(models, selected.get("model", "")),
            "day_options": options(day_choices, selected.get("day", "")),
            "time_zone_options": self.time_zone_options(selected.get("tz", "")),
        }

    def clean_workspace(self):
        value = self.cleaned_data["workspace"].strip()
        if not value:
            return None
        if value == DEFAULT_WORKSPACE:
            return Workspace.objects.get(org=self.org, is_default=True)
        if not EXTERNAL_ID.match(value):
            raise ValidationError(f"“{value}” is not a workspace id (such as wrkspc_01…).")
        workspace = Workspace.objects.filter(org=self.org, external_id=value).first()
        if workspace is None:
            self.not_found = True
            raise ValidationError(f"There is no workspace “{value}” in this organisation.")
        return workspace

    def clean_api_key(self):
        value = self.cleaned_data["api_key"].strip()
        if not value:
            return None
        if value == NO_API_KEY:
            return NO_API_KEY
        if not EXTERNAL_ID.match(value):
            raise ValidationError(f"“{value}” is not an API key id (such as apikey_01…).")
        key = ApiKey.objects.filter(org=self.org, external_id=value).first()
        if key is None:
            self.not_found = True
            raise ValidationError(f"There is no API key “{value}” in this organisation.")
        return key

    def clean_model(self):
        value = self.cleaned_data["model"].strip()
        if not value:
            return None
        model = LlmModel.objects.filter(model_id=value).first()
        if model is None:
            raise ValidationError(f"“{value}” is not a model this console knows.")
        return model

    def clean_tz(self):
        value = self.cleaned_data["tz"].strip()
        if not value:
            value = getattr(self.user, "time_zone", "") or "UTC"
            if value not in time_zones():
                value = "UTC"
        elif value not in time_zones():
            raise ValidationError(
                f"“{value}” is not an IANA time zone; use a name such as Europe/London or UTC."
            )
        return value

    def clean_month(self):
        value = self.cleaned_data["month"].strip()
        if not value:
            return None
        match = _MONTH.match(value)
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise ValidationError(f"“{value}” is not a month; use YYYY-MM, such as 2026-03.")
        year, month = int(match.group(1)), int(match.group(2))
        if not 2000 <= year <= 2999:
            raise ValidationError(f"{year} is out of range (2000 to 2999).")
        return (year, month)

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        zone = zoneinfo.ZoneInfo(data["tz"])
        data["zone"] = zone
        day = data.get("day")
        if day is not None and not 2000 <= day.year <= 2999:
            self.add_error("day", f"{day.year} is out of range (2000 to 2999).")
            return data
        month = data.get("month")
        if month is None:
            local = day or self.now.astimezone(zone).date()
            month = (local.year, local.month)
        elif day is not None and (day.year, day.month) != month:
            self.add_error("day", f"{day} is not in the chosen month {month[0]}-{month[1]:02d}.")
            return data
        if day is not None and not timeslice.day_exists(day, zone):
            self.add_error("day", f"{day} never happened in {data['tz']} (the clocks skipped it).")
            return data
        data["month"] = month
        hour = data.get("hour", "").strip()
        data["hour_period"] = None
        if hour:
            if day is None:
                self.add_error("hour", "Choose a day before choosing an hour.")
                return data
            period = timeslice.parse_hour(day, hour, zone)
            if period is None:
                self.add_error("hour", f"{day} has no hour “{hour}” in {data['tz']}.")
                return data
            data["hour_period"] = period
        if data.get("granularity") == "hour" and data["hour_period"] is not None:
            self.add_error(
                "granularity", "An hour is shown by minute; hourly rows would be coarser."
            )
            return data
        key, workspace = data.get("api_key"), data.get("workspace")
        if isinstance(key, ApiKey) and workspace is not None and key.workspace_id != workspace.id:
            self.add_error(
                "api_key", f"The API key “{key.name}” is not in the workspace “{workspace.name}”."
            )
        return data

    def query(self) -> UsageQuery:
        """The validated filters as a selector query (call after ``is_valid()``)."""
        data = self.cleaned_data
        key = data.get("api_key")
        scope = Scope(
            org_id=self.org.id,
            workspace_id=data["workspace"].id if data.get("workspace") else None,
            api_key_id=key.id if isinstance(key, ApiKey) else None,
            no_key=key == NO_API_KEY,
            model_id=data["model"].id if data.get("model") else None,
        )
        group_by = data.get("group_by") or ""
        assert group_by in ("", *DIMENSIONS)
        return UsageQuery(
            scope=scope,
            zone=data["zone"],
            year=data["month"][0],
            month=data["month"][1],
            day=data.get("day"),
            hour=data.get("hour_period"),
            group_by=group_by,
            sort=data.get("sort") or "",
            rl_page=data.get("rl_page") or 1,
        )

    def url_params(self) -> dict:
        """The canonical query string of this view (what the URL and the export carry)."""
        data = self.cleaned_data
        params = {}
        if data.get("workspace"):
            params["workspace"] = workspace_value(data["workspace"])
        if data.get("model"):
            params["model"] = data["model"].model_id
        params["month"] = f"{data['month'][0]}-{data['month'][1]:02d}"
        if data.get("day"):
            params["day"] = data["day"].isoformat()
        if data.get("hour_period"):
            params["hour"] = data["hour_period"].key
        key = data.get("api_key")
        if key:
            params["api_key"] = key if key == NO_API_KEY else key.external_id
        if data.get("group_by"):
            params["group_by"] = data["group_by"]
        params["tz"] = data["tz"]
        return params

    def error_messages(self) -> list[str]:
        return [str(m) for errors in self.errors.values() for m in errors]
