"""The Usage page's filters: the shared report form plus what only Usage has."""

from django import forms
from django.core.exceptions import ValidationError

from console import timeslice
from console.filters import EXTERNAL_ID, ReportFilterForm, options
from console.models import ApiKey
from usage.selectors import DIMENSIONS, Scope, UsageQuery, filter_choices, org_models

# What the API keys page links here with for usage sent without a key (keep in step).
NO_API_KEY = "none"

GROUP_BY_CHOICES = [
    ("", "None"),
    ("model", "Model"),
    ("api_key", "API key"),
    ("workspace", "Workspace"),
    ("service_tier", "Service tier"),
    ("context_window", "Context window"),
    ("account", "User"),
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

# Sections of the page loaded on their own (after the main view, so it stays fast).
PARTS = [
    ("", "Whole view"),
    ("limits", "Rate limit use"),
    ("rate_limited", "Rate-limited requests"),
]


class UsageFilterForm(ReportFilterForm):
    """The Usage page's query string. Decision: beyond the shared filters, Usage alone has an
    API key filter and an hour drill (usage is counted per key and per minute; cost lines
    are priced per model, tier and window, as the Console's Cost page shows them), a sortable
    breakdown, the rate-limited list's pages, parts loaded on their own and finer exports;
    it groups by nothing unless asked."""

    visible_models = staticmethod(org_models)
    hour = forms.CharField(required=False, max_length=16, label="Hour")
    api_key = forms.CharField(required=False, max_length=128, label="API key")
    sort = forms.ChoiceField(
        required=False,
        choices=[("", "")] + [(p + c, p + c) for c in SORT_COLUMNS for p in ("", "-")],
        label="Sort",
    )
    rl_page = forms.IntegerField(
        required=False, min_value=1, max_value=1_000_000, label="Rate-limited page"
    )
    part = forms.ChoiceField(required=False, choices=PARTS, label="Part")
    # Export only (beyond the Console): rows finer than the bars shown, e.g. a month by minute.
    granularity = forms.ChoiceField(
        required=False,
        choices=[("", "As shown"), ("hour", "Hour"), ("minute", "Minute")],
        label="Granularity",
    )

    group_by_choices = GROUP_BY_CHOICES

    def select_options(self, selected: dict) -> dict:
        """The ``<option>``s of each select (one query); the key list follows the workspace."""
        workspace = self.cleaned_data.get("workspace") if self.is_valid() else None
        lists = filter_choices(self.org.id, workspace.id if workspace is not None else None)
        keys = [(NO_API_KEY, "No API key (Console and Workbench)")] + [
            (external_id, f"{name} ({external_id})") for external_id, name in lists["api_keys"]
        ]
        return {
            **super().select_options(
                selected, lists["workspaces"], lists["models"], lists["accounts"]
            ),
            "api_key_options": options(keys, selected.get("api_key", "")),
        }

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

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        day, zone = data.get("day"), data["zone"]
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
            account_ids=(data["account"].id,) if data.get("account") else None,
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
            now=self.now,
        )

    def url_params(self) -> dict:
        """The canonical query string of this view (what the URL and the export carry)."""
        data = self.cleaned_data
        params = super().url_params()
        if data.get("hour_period"):
            params["hour"] = data["hour_period"].key
        key = data.get("api_key")
        if key:
            params["api_key"] = key if key == NO_API_KEY else key.external_id
        return params
