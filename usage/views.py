"""The Usage page (with its htmx partials) and its CSV export."""

import csv

import orjson
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import slugify
from django.views.decorators.http import require_GET

from accounts.access import reports_required
from console.filters import filter_form, report_url, wants_partial
from usage import selectors, timeslice
from usage.forms import BREAKDOWN_COLUMNS, NO_API_KEY, PERIOD_COLUMNS, UsageFilterForm

RATE_LIMITED_PER_PAGE = 50


def _links(params: dict, level: str, periods) -> dict:
    """Drill-down, breadcrumb and export URLs of the view (every level lives in the URL)."""
    month_params = {k: v for k, v in params.items() if k not in ("day", "hour")}
    crumbs = [{"label": params["month"], "url": report_url("usage:page", month_params)}]
    if "day" in params:
        day_params = {k: v for k, v in params.items() if k != "hour"}
        crumbs.append({"label": params["day"], "url": report_url("usage:page", day_params)})
    if "hour" in params:
        crumbs.append({"label": params["hour"], "url": report_url("usage:page", params)})
    drill_param = {"month": "day", "day": "hour"}.get(level)
    drills = [
        report_url("usage:page", params, **{drill_param: p.key}) if drill_param else None
        for p in periods
    ]
    return {
        "crumbs": crumbs,
        "drills": drills,
        "export": report_url("usage:export", params),
        "self": report_url("usage:page", params),
        "limits": report_url("usage:page", params, part="limits"),
        "rate_limited": report_url("usage:page", params, part="rate_limited"),
    }


def _hover(label: str, c: dict) -> str:
    return (
        f"<b>{label}</b><br>Input {c['input_tokens']:,}: uncached {c['uncached_input_tokens']:,}"
        f", cache writes {c['cache_write_tokens']:,}, cache reads {c['cache_read_tokens']:,}"
        f"<br>Output {c['output_tokens']:,}<br>Requests {c['requests']:,}"
    )


def _chart(report: dict, query, links: dict) -> dict:
    """The data usage.js draws (plain numbers; Plotly formats nothing we need exact)."""
    periods, per_period = report["periods"], report["per_period"]
    x = [p.label for p in periods]
    if query.group_by:
        by_group: dict = {}
        for row in report["rows"]:
            by_group.setdefault(row["group"], {})[row["period"]] = selectors.derived(row)
        labels = {g["group"]: g["label"] for g in report["groups"]}
        empty = selectors.derived(dict.fromkeys(selectors.BUCKET_COLUMNS, 0))
        traces = []
        for g in report["groups"]:  # in the table's order
            cells = [by_group[g["group"]].get(i, empty) for i in range(len(periods))]
            traces.append(
                {
                    "name": labels[g["group"]],
                    "y": [c["input_tokens"] + c["output_tokens"] for c in cells],
                    "text": [
                        _hover(f"{labels[g['group']]}, {x[i]}", c) for i, c in enumerate(cells)
                    ],
                }
            )
    else:
        text = [_hover(x[i], c) for i, c in enumerate(per_period)]
        traces = [
            {"name": name, "y": [c[col] for c in per_period], "text": text}
            for col, name in [
                ("uncached_input_tokens", "Input: uncached"),
                ("cache_write_tokens", "Input: cache writes"),
                ("cache_read_tokens", "Input: cache reads"),
                ("output_tokens", "Output"),
            ]
        ]
    return {
        "level": report["level"],
        "x": x,
        "keys": [p.key for p in periods],
        "drills": links["drills"],
        "traces": traces,
        "rate_limited": [{"name": r["name"], "y": r["y"]} for r in report["rate_limited"]],
    }


_JSON_SCRIPT_ESCAPES = (("&", "\\u0026"), ("<", "\\u003C"), (">", "\\u003E"))


def _json_script(value, element_id: str) -> SafeString:
    """What the ``json_script`` filter makes, some thirty times faster for the 50 kB of a
    chart by the minute (orjson, and three replaces instead of ``str.translate``)."""
    text = orjson.dumps(value).decode()
    for char, escaped in _JSON_SCRIPT_ESCAPES:
        text = text.replace(char, escaped)
    safe = mark_safe(text)  # noqa: S308 - JSON with <, > and & escaped, as json_script does
    return format_html('<script id="{}" type="application/json">{}</script>', element_id, safe)


def _limits_chart(use: list[dict], periods) -> dict:
    models: dict = {}
    for row in use:
        m = models.setdefault(
            row["model"],
            {
                "name": row["model"],
                "input": [None] * len(periods),
                "output": [None] * len(periods),
                "input_limit": row["input_limit"],
                "output_limit": row["output_limit"],
            },
        )
        m["input"][row["period"]] = row["peak_input_tpm"]
        m["output"][row["period"]] = row["peak_output_tpm"]
    return {"x": [p.label for p in periods], "models": list(models.values())}


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
                "url": report_url("usage:page", params, sort=wanted + column),
                "aria_sort": ("descending" if descending else "ascending") if current else "",
            }
        )
    return headers


def _invalid(request, form: UsageFilterForm):
    """The page (or its htmx part) with the filters as typed and what is wrong with them."""
    selected = form.selected()
    context = {"form": form, "selected": selected, **form.select_options(selected)}
    template = "usage/page.html#content" if wants_partial(request) else "usage/page.html"
    response = render(request, template, context, status=400)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
@reports_required
def usage_page(request):
    """The Usage page: the whole page, or for htmx the part that changed."""
    form = filter_form(UsageFilterForm, request)
    if not form.is_valid():
        return _invalid(request, form)
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
        "chart_script": _json_script(chart, "usage-chart-data"),
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
        "save_zone_next": links["self"],
        **form.select_options(params),
    }
    if part == "limits":
        context.update(_rate_limit_use(query, report))
    if part == "rate_limited":
        context.update(_rate_limited(query, report, params))
    template = "usage/page.html"
    if wants_partial(request):
        template += "#" + (part or "content")
    with timezone.override(query.zone):  # dates on the page read in the chosen zone
        response = render(request, template, context)
    if wants_partial(request) and not part:
        response["HX-Push-Url"] = links["self"]
    patch_vary_headers(response, ["HX-Request"])
    return response


def _rate_limit_use(query, report) -> dict:
    if report["level"] == "month":
        return {"limits": None}
    hours = report["periods"] if report["level"] == "day" else [query.hour]
    use = selectors.rate_limit_use(query.scope, hours)
    for row in use:
        row["period_label"] = hours[row["period"]].label
        row["cache_read_percent"] = _percent(row["cache_read_rate"])
    chart = _json_script(_limits_chart(use, hours), "limits-chart-data")
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
            "previous": report_url("usage:page", params, part="rate_limited", rl_page=number - 1),
            "next": report_url("usage:page", params, part="rate_limited", rl_page=number + 1),
        },
        "rl_horizon": horizon,
        "rl_purged": report["periods"][0].start < horizon,
    }


CSV_COLUMNS = [
    "period_start",
    "period_end",
    "time_zone",
    "workspace",
    "api_key",
    "model",
    "service_tier",
    "context_window",
    "input_tokens",
    "uncached_input_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "output_tokens",
    "web_search_requests",
    "code_execution_seconds",
    "requests",
    "rate_limited_requests",
    "rate_limited_by_requests",
    "rate_limited_by_input_tokens",
    "rate_limited_by_output_tokens",
]
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value):
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


class _Echo:
    def write(self, value):
        return value


def _filter_names(form: UsageFilterForm) -> dict:
    data = form.cleaned_data
    key = data.get("api_key")
    if key == NO_API_KEY:
        key_name = "No API key"
    else:
        key_name = f"{key.name} ({key.external_id})" if key else "All API keys"
    workspace = data.get("workspace")
    return {
        "workspace": workspace.name if workspace else "All workspaces",
        "api_key": key_name,
        "model": data["model"].model_id if data.get("model") else "All models",
        "service_tier": "All service tiers",
        "context_window": "All context windows",
    }


def _csv_row(period, dims: dict, c: dict, query) -> list:
    return [
        period.local_start.isoformat(),
        period.local_end.isoformat(),
        query.zone.key,
        *(escape_cell(dims[d]) for d in CSV_COLUMNS[3:8]),
        c["input_tokens"],
        c["uncached_input_tokens"],
        c["cache_write_5m_tokens"],
        c["cache_write_1h_tokens"],
        c["cache_read_tokens"],
        c["output_tokens"],
        c["web_search_requests"],
        f"{c['code_execution_ms'] / 1000:.3f}",
        c["requests"],
        c["rate_limited_requests"],
        c["rate_limited_by_requests"],
        c["rate_limited_by_input_tokens"],
        c["rate_limited_by_output_tokens"],
    ]


def csv_rows(form: UsageFilterForm, report: dict, query):
    """The export's rows: one per period (and group, when grouped), header first."""
    yield CSV_COLUMNS
    names = _filter_names(form)
    periods = report["periods"]
    if query.group_by:
        labels = report["labels"][query.group_by]
        if query.group_by == "model":  # the CSV names a model by its id, the page by name
            labels = selectors.dimension_labels(
                query.scope.org_id, query.group_dims, report["rows"], for_csv=True
            )["model"]
        cells = (
            (r["period"], labels.get(r["group"][0], r["group"][0]), selectors.derived(r))
            for r in report["rows"]
        )
    else:
        cells = ((i, None, c) for i, c in enumerate(report["per_period"]))
    for index, group_label, c in cells:
        dims = dict(names)
        if query.group_by:
            dims[query.group_by] = group_label
        yield _csv_row(periods[index], dims, c, query)


def _finer_periods(query, granularity: str):
    """The view's span at ``granularity``, in chunks of a local day (hours) or hour (minutes)."""
    level, periods = query.level_and_periods
    for period in periods:
        if level == "month":  # a local day
            hours = timeslice.hours_of_day(period.local_start.date(), query.zone)
        else:  # a local hour of the chosen day
            hours = [period]
        if granularity == "hour":
            yield hours
        else:  # an hour at a time: a chunk holds at most 60 minutes x groups rows
            for hour in hours:
                yield timeslice.minutes_of_hour(hour, query.zone)


def finer_csv_rows(form: UsageFilterForm, query, granularity: str):
    """Rows finer than the bars shown (a month by minute can be millions), streamed a bar
    at a time so memory stays flat; they add up to the same totals as the page."""
    yield CSV_COLUMNS
    names = _filter_names(form)
    dims_of_query = query.group_dims
    for periods in _finer_periods(query, granularity):
        rows = selectors.usage_by_period(query.scope, periods, dims_of_query)
        labels = selectors.dimension_labels(query.scope.org_id, dims_of_query, rows, for_csv=True)
        for r in rows:
            dims = dict(names)
            if query.group_by:
                dims[query.group_by] = labels[query.group_by].get(r["group"][0], r["group"][0])
            yield _csv_row(periods[r["period"]], dims, selectors.derived(r), query)


def _filename(request, form: UsageFilterForm) -> str:
    params = form.url_params()
    parts = ["usage", request.org.slug, params.get("day", params["month"])]
    if "hour" in params:
        parts.append(params["hour"].replace(":", ""))
    by = {"month": "by-day", "day": "by-hour", "hour": "by-minute"}[_level(params)]
    granularity = form.cleaned_data.get("granularity")
    parts.append(f"by-{granularity}" if granularity else by)
    for key in ("workspace", "api_key", "model"):
        if key in params:
            parts.append(params[key])
    if "group_by" in params:
        parts.append(f"per-{params['group_by']}")
    parts.append(params["tz"])
    return "_".join(slugify(p.replace("/", "-")) for p in parts) + ".csv"


def _level(params: dict) -> str:
    return "hour" if "hour" in params else "day" if "day" in params else "month"


@require_GET
@reports_required
def export_csv(request):
    """The displayed view as CSV, streamed; its sums equal the page's totals."""
    form = filter_form(UsageFilterForm, request)
    if not form.is_valid():
        return _invalid(request, form)
    query = form.query()
    granularity = form.cleaned_data.get("granularity") or ""
    natural = {"month": "day", "day": "hour", "hour": "minute"}[query.level_and_periods[0]]
    if granularity in ("", natural):
        rows = csv_rows(form, selectors.usage_report(query), query)
    else:
        rows = finer_csv_rows(form, query, granularity)
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{_filename(request, form)}"'
    return response
