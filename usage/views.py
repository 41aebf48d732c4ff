"""The Usage page (with its htmx partials) and its CSV export."""

from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET

from accounts.access import reports_required
from accounts.models import User
from console import charts, exports
from usage import export, selectors
from usage.forms import BREAKDOWN_COLUMNS, PERIOD_COLUMNS, UsageFilterForm
from usage.models import ServiceTier

RATE_LIMITED_PER_PAGE = 50


def _form(request) -> UsageFilterForm:
    form = UsageFilterForm(request.GET, org=request.org, user=request.user)
    if not form.is_valid() and form.not_found:
        raise Http404("No such workspace or API key in this organisation.")
    return form


def _remember_time_zone(request, form: UsageFilterForm) -> None:
    """A zone chosen on the page becomes the person's default (one UPDATE when it changes)."""
    chosen = form.cleaned_data["tz"]
    if request.GET.get("tz") and request.user.time_zone != chosen:
        User.objects.filter(pk=request.user.pk).update(time_zone=chosen)
        request.user.time_zone = chosen


PARAM_ORDER = [
    "workspace", "model", "month", "day", "hour", "api_key", "group_by", "tz", "sort", "part",
    "rl_page",
]  # fmt: skip


def _url(name: str, params: dict, **changes) -> str:
    """A URL of the view with ``changes``, parameters in one order so each view has one URL."""
    merged = {**params, **changes}
    ordered = [(k, merged[k]) for k in PARAM_ORDER if merged.get(k)]
    return f"{reverse(name)}?{urlencode(ordered)}"


def _links(params: dict, level: str, periods) -> dict:
    """Drill-down, breadcrumb and export URLs of the view (every level lives in the URL)."""
    month_params = {k: v for k, v in params.items() if k not in ("day", "hour")}
    crumbs = [{"label": params["month"], "url": _url("usage:page", month_params)}]
    if "day" in params:
        day_params = {k: v for k, v in params.items() if k != "hour"}
        crumbs.append({"label": params["day"], "url": _url("usage:page", day_params)})
    if "hour" in params:
        crumbs.append({"label": params["hour"], "url": _url("usage:page", params)})
    drill_param = {"month": "day", "day": "hour"}.get(level)
    drills = [
        _url("usage:page", params, **{drill_param: p.key}) if drill_param else None for p in periods
    ]
    return {
        "crumbs": crumbs,
        "drills": drills,
        "export": _url("usage:export", params),
        "self": _url("usage:page", params),
        "limits": _url("usage:page", params, part="limits"),
        "rate_limited": _url("usage:page", params, part="rate_limited"),
    }


def _identity(group_by: str, value):
    """What a group's colour follows: its id, or its place among the fixed service tiers
    (as on the Cost page, so a tier keeps its colour there too)."""
    if group_by == "service_tier" and value in ServiceTier.values:
        return ServiceTier.values.index(value)
    return value


def _chart(report: dict, query, links: dict) -> dict:
    """The tokens chart's figure (plain numbers; Plotly formats nothing we need exact)."""
    periods, per_period = report["periods"], report["per_period"]
    x = [p.label for p in periods]
    if not query.group_by:
        return charts.usage_tokens(x, per_period, links["drills"])
    by_group: dict = {}
    for row in report["rows"]:
        by_group.setdefault(row["group"], {})[row["period"]] = selectors.derived(row)
    empty = selectors.derived(dict.fromkeys(selectors.BUCKET_COLUMNS, 0))
    groups = [
        {
            "identity": _identity(query.group_by, g["group"][0]),
            "label": g["label"],
            "cells": [by_group[g["group"]].get(i, empty) for i in range(len(periods))],
        }
        for g in report["groups"]  # in the table's order
    ]
    return charts.usage_groups(x, groups, links["drills"])


SORT_HEADERS = [
    ("group", "Group", False),
    ("input_tokens", "Input", True),
    ("uncached_input_tokens", "Uncached", True),
    ("cache_write_tokens", "Cache writes", True),
    ("cache_read_tokens", "Cache reads", True),
    ("output_tokens", "Output", True),
    ("requests", "Requests", True),
    ("rate_limited_requests", "Rate-limited", True),
    ("web_search_requests", "Web searches", True),
]


def _cells(counts: dict, columns: list[str]) -> SafeString:
    """A table row's number cells, built at once: a template spends a variable lookup and
    an escape on each of the 60 x 7 cells of an hour by minute."""
    cells = "".join(f'<td class="num">{counts[c]:,}</td>' for c in columns)
    return mark_safe(cells)  # noqa: S308 - integers: digits, commas and a sign only


def _formatted(counts: dict) -> dict:
    """Integers with thousands separators (much cheaper than the intcomma filter per cell)."""
    return {k: f"{v:,}" for k, v in counts.items() if isinstance(v, int)}


def _percent(share: float | None, signed: bool = False) -> str | None:
    if share is None:
        return None
    return f"{share * 100:+.1f}%" if signed else f"{share * 100:.1f}%"


def _sort_headers(params: dict, sort: str) -> list[dict]:
    sort = sort or "-input_tokens"
    headers = []
    for column, label, numeric in SORT_HEADERS:
        current = sort.lstrip("-") == column
        descending = sort.startswith("-")
        # Numbers sort largest first on the first click, names A to Z.
        wanted = ("" if descending else "-") if current else ("-" if numeric else "")
        headers.append(
            {
                "label": label,
                "num": numeric,
                "url": _url("usage:page", params, sort=wanted + column),
                "aria_sort": ("descending" if descending else "ascending") if current else "",
            }
        )
    return headers


def _invalid(request, form: UsageFilterForm):
    """The page (or its htmx part) with the filters as typed and what is wrong with them."""
    selected = {k: form.data.get(k, "") for k in form.fields}
    # The zone the page would use, not the list's first entry, when the URL names none.
    selected["tz"] = form.cleaned_data.get("tz") or selected["tz"] or "UTC"
    context = {
        "form": form,
        "errors": form.error_messages(),
        "selected": selected,
        **form.select_options(selected, None, []),
    }
    template = "usage/page.html#content" if _partial(request) else "usage/page.html"
    return render(request, template, context, status=400)


@require_GET
@reports_required
def usage_page(request):
    """The Usage page: the whole page, or for htmx the part that changed."""
    form = _form(request)
    if not form.is_valid():
        return _invalid(request, form)
    _remember_time_zone(request, form)
    query = form.query()
    params = form.url_params()
    if query.sort:
        params["sort"] = query.sort
    report = selectors.usage_report(query)
    for group in report["groups"]:
        group["cells"] = _cells(group, BREAKDOWN_COLUMNS)
    links = _links(params, report["level"], report["periods"])
    chart = _chart(report, query, links)
    part = form.cleaned_data.get("part") or ""
    context = {
        "form": form,
        "query": query,
        "selected": params,
        "report": report,
        "links": links,
        "chart": chart,
        "chart_script": charts.script(chart, "usage-chart-data"),
        "rate_limited_script": charts.script(
            charts.rate_limited([p.label for p in report["periods"]], report["rate_limited"]),
            "rate-limited-chart-data",
        ),
        "changes": {f: _percent(v, signed=True) for f, v in report["changes"].items()},
        "cache_read_percent": _percent(report["totals"]["cache_read_rate"]),
        "sort_headers": _sort_headers(params, query.sort),
        "tf": _formatted(report["totals"]),
        "total_cells": _cells(report["totals"], BREAKDOWN_COLUMNS),
        "period_rows": [
            {"label": p.label, "drill": d, "cells": _cells(c, PERIOD_COLUMNS)}
            for p, c, d in zip(
                report["periods"], report["per_period"], links["drills"], strict=True
            )
        ],
        "part": part,
        **form.select_options(
            params, form.cleaned_data.get("workspace"), selectors.days_for_select(query)
        ),
    }
    if part == "limits":
        context.update(_rate_limit_use(query, report))
    if part == "rate_limited":
        context.update(_rate_limited(query, report, params))
    template = "usage/page.html"
    if _partial(request):
        template += "#" + (part or "content")
    with timezone.override(query.zone):  # dates on the page read in the chosen zone
        response = render(request, template, context)
    if _partial(request) and not part:
        response["HX-Push-Url"] = links["self"]
    patch_vary_headers(response, ["HX-Request"])
    return response


def _partial(request) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def _rate_limit_use(query, report) -> dict:
    if report["level"] == "month":
        return {"limits": None}
    hours = report["periods"] if report["level"] == "day" else [query.hour]
    use = selectors.rate_limit_use(query.scope, hours)
    for row in use:
        row["period_label"] = hours[row["period"]].label
        row["cache_read_percent"] = _percent(row["cache_read_rate"])
    chart = charts.script(charts.rate_limit_use([h.label for h in hours], use), "limits-chart-data")
    return {"limits": {"rows": use, "periods": hours, "chart_script": chart}}


def _rate_limited(query, report, params: dict) -> dict:
    per_period = [c["rate_limited_requests"] for c in report["per_period"]]
    page, horizon = selectors.rate_limited_requests(
        query.scope, report["periods"], per_period, query.rl_page, RATE_LIMITED_PER_PAGE
    )
    number = page.number
    return {
        "rl_page": page,
        "rl_links": {
            "previous": _url("usage:page", params, part="rate_limited", rl_page=number - 1),
            "next": _url("usage:page", params, part="rate_limited", rl_page=number + 1),
        },
        "rl_horizon": horizon,
        "rl_purged": report["periods"][0].start < horizon,
    }


@require_GET
@reports_required
def export_csv(request):
    """The displayed view as CSV, streamed; its sums equal the page's totals."""
    form = _form(request)
    if not form.is_valid():
        return _invalid(request, form)
    query = form.query()
    granularity = form.cleaned_data.get("granularity") or ""
    natural = {"month": "day", "day": "hour", "hour": "minute"}[query.level_and_periods[0]]
    if granularity in ("", natural):
        rows = export.rows(form, selectors.usage_report(query), query)
    else:
        rows = export.finer_rows(form, query, granularity)
    return exports.response(rows, export.filename(request.org, form))
