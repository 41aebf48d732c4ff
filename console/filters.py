"""The report filters the Usage and Cost pages share: one form, one vocabulary, one bar.

Both pages read the same query-string parameters with the same rules:

* ``workspace``, ``model``, ``account`` (the person or service behind requests, "User"),
  ``month`` (``YYYY-MM``), ``day`` (``YYYY-MM-DD``, chosen from the month's list of days),
  ``group_by`` and ``tz``; each page adds what only it has.
* A malformed or out-of-range value is a 400 that says what is wrong, naming the control.
* A well-formed id that names nothing this organisation has (a workspace, API key, model or
  account of another organisation, or of none) is a 404, raised by the view (``filter_form``) so the
  same words answer on both pages: another organisation's id reads exactly like an id that
  was never sent.
* ``tz`` shows the view in a zone; it never changes the person's saved zone (only the
  time-zone control's POST, ``accounts.views.save_time_zone``, does).
"""

import datetime as dt
import html
import re
import zoneinfo
from collections.abc import Callable
from functools import lru_cache

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe

from console import timeslice
from console.models import (
    ACCOUNT_ID_MAX_LENGTH,
    MODEL_ID_MAX_LENGTH,
    Account,
    LlmModel,
    Workspace,
    account_label,
    is_model_id,
)

# Values the Workspaces and API keys pages link to the reports with (keep in step with them).
DEFAULT_WORKSPACE = "default"
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
NOT_FOUND = "No such workspace, API key, model or user in this organisation."

# Every parameter of either report, in the one order their URLs list them (one URL a view).
PARAM_ORDER = [
    "workspace", "model", "month", "day", "hour", "api_key", "account", "group_by", "tz",
    "sort", "part", "rl_page",
]  # fmt: skip


def workspace_value(workspace: Workspace) -> str:
    """How a query string names a workspace: its external id, or "default"."""
    return workspace.external_id or DEFAULT_WORKSPACE


def report_url(name: str, params: dict, **changes) -> str:
    """A report URL with ``changes``, its parameters in ``PARAM_ORDER``, empty ones left out."""
    merged = {**params, **changes}
    ordered = [(k, merged[k]) for k in PARAM_ORDER if merged.get(k)]
    return f"{reverse(name)}?{urlencode(ordered)}"


@lru_cache(maxsize=1)
def time_zones() -> frozenset[str]:
    """Every IANA zone name this machine knows (what a URL or a saved zone may name)."""
    return frozenset(zoneinfo.available_timezones() | {"UTC"})


# The zones most people pick, first in the list: the main business zones of each continent.
COMMON_ZONES = (
    "UTC", "America/Los_Angeles", "America/Denver", "America/Chicago", "America/New_York",
    "America/Sao_Paulo", "Europe/London", "Europe/Paris", "Europe/Berlin", "Africa/Lagos",
    "Africa/Johannesburg", "Asia/Dubai", "Asia/Kolkata", "Asia/Singapore", "Asia/Shanghai",
    "Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland",
)  # fmt: skip
# The areas of IANA's geographic names ("Area/Location"); the rest are legacy aliases (US/*,
# Etc/*, SystemV/*, Factory, EST5EDT, GB, Japan...).
ZONE_AREAS = frozenset(
    {"Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe",
     "Indian", "Pacific"}
)  # fmt: skip


def _zone_tab() -> frozenset[str] | None:
    """The zones of tzdata's zone.tab (one per country region, no backward aliases such as
    Asia/Calcutta or Europe/Kiev), or None where the system has no zone.tab."""
    for folder in zoneinfo.TZPATH:
        try:
            with open(f"{folder}/zone.tab", encoding="utf-8") as tab:
                return frozenset(
                    line.split("\t")[2].strip()
                    for line in tab
                    if line.strip() and not line.startswith("#")
                )
        except (OSError, IndexError):
            continue
    return None


@lru_cache(maxsize=1)
def listed_time_zones() -> tuple[str, ...]:
    """The canonical zone names the time-zone control lists, sorted: Area/Location names
    only, and where the system has zone.tab only those it names (not the backward aliases).
    Every other known name stays valid in a URL or a saved zone (``time_zones``)."""
    names = {n for n in time_zones() if "/" in n and n.split("/", 1)[0] in ZONE_AREAS}
    tab = _zone_tab()
    if tab:
        names &= tab
    return tuple(sorted(names))


def _zone_label(name: str) -> str:
    """A zone as a person reads it: "America/Los Angeles" for ``America/Los_Angeles``."""
    return name.replace("_", " ")


@lru_cache(maxsize=64)
def time_zone_options(selected: str) -> SafeString:
    """The zone select's content: the common zones first, then every canonical zone (~420,
    not the 600 raw names), and a chosen zone the lists leave out (an old saved ``EST5EDT``)
    on top, so that it stays chosen. Built once per chosen zone."""
    listed = listed_time_zones()
    common = [z for z in COMMON_ZONES if z in time_zones()]
    known = {*listed, *common}
    chosen_first = selected and selected not in known and selected in time_zones()
    mark = "" if chosen_first else selected
    head = options([(selected, selected)], selected) if chosen_first else ""
    # The selected zone is marked once, in the common group when it is there.
    rest_mark = "" if mark in common else mark
    return mark_safe(  # noqa: S308 - options() escapes every value and label
        head
        + '<optgroup label="Common">'
        + options(((z, _zone_label(z)) for z in common), mark)
        + '</optgroup><optgroup label="All time zones">'
        + options(((z, _zone_label(z)) for z in listed), rest_mark)
        + "</optgroup>"
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


def wants_partial(request) -> bool:
    """Whether htmx asked for the part of the page that changed (not a history restore)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


class ReportNotFound(Http404):
    """A report URL names a workspace, API key, model or user this organisation does not have
    (another organisation's, a deleted one's, a mistyped one). ``console.middleware`` answers
    it with the console's 404 page, saying why and linking to the report with no filters,
    in DEBUG too (the demo) and for htmx requests."""

    def __init__(self, reasons: list[str], back_url: str):
        super().__init__(NOT_FOUND)
        self.reasons = reasons
        self.back_url = back_url


def filter_form(form_class, request):
    """The page's filter form over the query string; 404 when an id is not this org's."""
    form = form_class(request.GET, org=request.org, user=request.user)
    if not form.is_valid() and form.not_found:
        raise ReportNotFound(form.error_messages(), _unfiltered_url(request, form))
    return form


def _unfiltered_url(request, form) -> str:
    """The report the URL was for (an export's page), keeping only its valid month and zone."""
    path = request.path.removesuffix("export.csv")
    kept = [(k, form.data[k]) for k in ("month", "tz") if form.data.get(k) and k not in form.errors]
    return f"{path}?{urlencode(kept)}" if kept else path


class ReportFilterForm(forms.Form):
    """The filters both reports share. ``cleaned_data`` holds ``workspace`` (a Workspace or
    None), ``model`` (an LlmModel or None), ``account`` (an Account or None), ``month``
    ``(year, month)``, ``day`` (a date or None), ``group_by``, ``tz`` (the zone's name) and
    ``zone`` (its ZoneInfo)."""

    workspace = forms.CharField(required=False, max_length=128, label="Workspace")
    # Not stripped: a model id is whatever ingest accepted, spaces included.
    model = forms.CharField(
        required=False, max_length=MODEL_ID_MAX_LENGTH, strip=False, label="Model"
    )
    # Not stripped either: an account id is whatever ingest accepted.
    account = forms.CharField(
        required=False, max_length=ACCOUNT_ID_MAX_LENGTH, strip=False, label="User"
    )
    month = forms.CharField(required=False, max_length=7, label="Month")
    day = forms.DateField(required=False, input_formats=["%Y-%m-%d"], label="Day")
    group_by = forms.ChoiceField(required=False, choices=[], label="Group by")
    tz = forms.CharField(required=False, max_length=64, label="Time zone")

    # What each page groups by, and its grouping when the URL names none.
    group_by_choices: list[tuple[str, str]] = []
    default_group_by = ""
    # The models an organisation may see, by its id (``usage.selectors.org_models``): each
    # report's form names it, so that this module, which every app imports, imports none.
    visible_models: Callable[[int], QuerySet[LlmModel]]

    def __init__(self, data, *, org, user, now: dt.datetime | None = None):
        super().__init__(data)
        if "group_by" in self.fields:  # a page may go without grouping (My usage)
            self.fields["group_by"].choices = self.group_by_choices
        self.org = org
        self.user = user
        self.now = now or timezone.now()
        self.not_found = False  # a well-formed id this organisation does not have

    def saved_zone(self) -> str:
        """The person's saved zone (UTC when none or no longer known)."""
        name = getattr(self.user, "time_zone", "") or "UTC"
        return name if name in time_zones() else "UTC"

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

    def clean_model(self):
        value = self.cleaned_data["model"]
        if not value:
            return None
        if not is_model_id(value):
            raise ValidationError(f"“{value}” is not a model id (1 to 128 characters).")
        model = self.visible_models(self.org.id).filter(model_id=value).first()
        if model is None:
            self.not_found = True
            raise ValidationError(f"There is no model “{value}” in this organisation.")
        return model

    def clean_account(self):
        value = self.cleaned_data["account"]
        if not value:
            return None
        if "\x00" in value or not value.strip():
            raise ValidationError(f"“{value}” is not an account id (1 to 255 characters).")
        account = Account.objects.filter(org=self.org, external_id=value).first()
        if account is None:
            self.not_found = True
            raise ValidationError(f"There is no user “{value}” in this organisation.")
        return account

    def clean_tz(self):
        value = self.cleaned_data["tz"].strip()
        if not value:
            return self.saved_zone()
        if value not in time_zones():
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
        year = int(match.group(1))
        if year not in timeslice.YEARS:
            raise ValidationError(f"{year} is out of range ({_years()}).")
        return (year, int(match.group(2)))

    def clean_group_by(self):
        return self.cleaned_data["group_by"] or self.default_group_by

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        zone = data["zone"] = zoneinfo.ZoneInfo(data["tz"])
        day = data.get("day")
        if day is not None and day.year not in timeslice.YEARS:
            self.add_error("day", f"{day.year} is out of range ({_years()}).")
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
        return data

    def url_params(self) -> dict:
        """The canonical parameters of this view (call after ``is_valid()``)."""
        data = self.cleaned_data
        params = {}
        if data.get("workspace"):
            params["workspace"] = workspace_value(data["workspace"])
        if data.get("model"):
            params["model"] = data["model"].model_id
        if data.get("account"):
            params["account"] = data["account"].external_id
        params["month"] = f"{data['month'][0]}-{data['month'][1]:02d}"
        if data.get("day"):
            params["day"] = data["day"].isoformat()
        if data.get("group_by"):
            params["group_by"] = data["group_by"]
        params["tz"] = data["tz"]
        return params

    def selected(self) -> dict:
        """The value each control shows: the view's when valid, else what was sent (and the
        zone the page would use, not the list's first entry, when the URL names none)."""
        if self.is_valid():
            return self.url_params()
        chosen = {name: self.data.get(name, "") for name in self.fields}
        chosen["tz"] = self.cleaned_data.get("tz") or chosen["tz"] or self.saved_zone()
        if "group_by" in chosen:
            chosen["group_by"] = chosen["group_by"] or self.default_group_by
        return chosen

    def days(self) -> list[dt.date]:
        """The local dates of the chosen month (empty when the filters are not valid)."""
        if not self.is_valid():
            return []
        year, month = self.cleaned_data["month"]
        periods = timeslice.days_of_month(year, month, self.cleaned_data["zone"])
        return [p.local_start.date() for p in periods]

    def select_options(self, selected: dict, workspaces, models, accounts=()) -> dict:
        """The ``<option>``s of the shared selects: ``workspaces`` as ``(external id or None,
        name, is default)``, ``models`` as ``(model id, display name)``, ``accounts`` as
        ``(external id, name)``."""
        workspace_choices = [
            (
                external_id or DEFAULT_WORKSPACE,
                f"{name} (Default)" if is_default and name != "Default" else name,
            )
            for external_id, name, is_default in workspaces
        ]
        model_choices = [(model_id, f"{name} ({model_id})") for model_id, name in models]
        account_choices = [(e, account_label(e, n)) for e, n in accounts]
        day_choices = [(d.isoformat(), dateformat.format(d, "D j M")) for d in self.days()]
        return {
            "workspace_options": options(workspace_choices, selected.get("workspace", "")),
            "model_options": options(model_choices, selected.get("model", "")),
            "account_options": options(account_choices, selected.get("account", "")),
            "day_options": options(day_choices, selected.get("day", "")),
            "time_zone_options": time_zone_options(selected.get("tz", "")),
        }

    def error_messages(self) -> list[str]:
        """Each error as a person reads it: the control's label, then what is wrong."""
        return [
            m if field == "__all__" else f"{self.fields[field].label}: {m}"
            for field, errors in self.errors.items()
            for m in errors
        ]


def _years() -> str:
    return f"{timeslice.YEARS.start} to {timeslice.YEARS.stop - 1}"


class TimeZoneForm(forms.Form):
    """The time-zone control's POST: save a zone as the person's own, then go back."""

    tz = forms.CharField(max_length=64, label="Time zone")
    next = forms.CharField(required=False, max_length=2000)

    def clean_tz(self):
        value = self.cleaned_data["tz"]
        if value not in time_zones():
            raise ValidationError(
                f"“{value}” is not an IANA time zone; use a name such as Europe/London or UTC."
            )
        return value
