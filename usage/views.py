"""The Usage page (with its htmx partials) and its CSV export."""

from django.conf import settings
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET

from accounts.access import reports_required
from console import charts, exports
from console.filters import filter_form, report_url, wants_partial
from usage import export, selectors
from usage.forms import BREAKDOWN_COLUMNS, PERIOD_COLUMNS, UsageFilterForm
from usage.models import ServiceTier

RATE_LIMITED_PER_PAGE = 50


def _links(params: dict, level: str, periods, drillable=lambda period: True) -> dict:
    """Drill-down, breadcrumb and export URLs of the view (every level lives in the URL);
    a period ``drillable`` says no to has no drill-down link."""
    month_params = {k: v for k, v in params.items() if k not in ("day", "hour")}
    crumbs = [{"label": params["month"], "url": report_url("usage:page", month_params)}]
    if "day" in params:
        day_params = {k: v for k, v in params.items() if k != "hour"}
        crumbs.append({"label": params["day"], "url": report_url("usage:page", day_params)})
    if "hour" in params:
        crumbs.append({"label": params["hour"], "url": report_url("usage:page", params)})
    drill_param = {"month": "day", "day": "hour"}.get(level)
    drills = [
        report_url("usage:page", params, **{drill_param: p.key})
        if drill_param and drillable(p)
        else None
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


def _identity(group_by: str, value):
    """What a group's colour follows: its id, or its place among the fixed service tiers
    (as on the Cost page, so a tier keeps its colour there too)."""
    if group_by == "service_tier" and value in ServiceTier.values:
        return ServiceTier.values.index(value)
    return value


def _chart(report: dict, query, links: dict) -> dict:
    """The tokens chart's figure (plain numbers; Plotly formats nothing we need exact)."""
    periods, per_period = report["periods"], report["per_period"]
    x = charts.axis_labels(periods)
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
    if query.group_by == "account" and len(groups) > charts.TOP_PEOPLE + 1:
        groups = _top_people(groups, report["groups"])
    return charts.usage_groups(x, groups, links["drills"])


def _top_people(groups: list[dict], rows: list[dict]) -> list[dict]:
    """The chart's groups by user: the TOP_PEOPLE with the most tokens, largest first, and
    everyone else, whose cells add up the others' (the breakdown still lists every person)."""
    tokens = [row["input_tokens"] + row["output_tokens"] for row in rows]
    order = sorted(range(len(groups)), key=lambda i: (-tokens[i], groups[i]["label"].lower()))
    top, rest = order[: charts.TOP_PEOPLE], order[charts.TOP_PEOPLE :]
    cells = [
        {
            column: sum(groups[i]["cells"][p][column] for i in rest)
            for column in ("input_tokens", "output_tokens")
        }
        for p in range(len(groups[0]["cells"]))
    ]
    label = charts.everyone_else(len(rest))
    rest_group = {"identity": charts.EVERYONE_ELSE, "label": label, "cells": cells}
    return [groups[i] for i in top] + [rest_group]


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


REQUESTS_NOT_KNOWN_CELL = (
    f'<td class="num muted" title="{selectors.REQUESTS_NOT_KNOWN}">not known</td>'
)


def _cells(counts: dict, columns: list[str]) -> SafeString:
    """A table row's number cells, built at once: a template spends a variable lookup and
    an escape on each of the 60 x 7 cells of an hour by minute."""
    cells = "".join(
        f'<td class="num">{counts[c]:,}</td>'
        if c != "requests" or not counts["uncounted_rows"]
        else REQUESTS_NOT_KNOWN_CELL
        for c in columns
    )
    return mark_safe(cells)  # noqa: S308 - integers: digits, commas and a sign only


def _future_cells(count: int) -> SafeString:
    """A row's cells for a period not yet begun: still to come, not zero."""
    cells = '<td class="muted future">still to come</td>' + "<td></td>" * (count - 1)
    return mark_safe(cells)  # noqa: S308 - fixed text


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
    # An hour whose minutes are no longer kept is not offered as a drill to minutes.
    old_hours = report["level"] == "day" and selectors.minutes_gone(
        query.scope, query.group_dims, report["periods"][0].start, query.now
    )

    def drillable(period) -> bool:
        return not selectors.minutes_gone(query.scope, query.group_dims, period.start, query.now)

    links = _links(params, report["level"], report["periods"], drillable)
    chart = charts.still_to_come(_chart(report, query, links), report["future"])
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
            charts.still_to_come(
                charts.rate_limited(charts.axis_labels(report["periods"]), report["rate_limited"]),
                report["future"],
            ),
            "rate-limited-chart-data",
        ),
        "changes": {f: _percent(v, signed=True) for f, v in report["changes"].items()},
        "cache_read_percent": _percent(report["totals"]["cache_read_rate"]),
        "sort_headers": _sort_headers(params, query.sort),
        "tf": _formatted(report["totals"]),
        "total_cells": _cells(report["totals"], BREAKDOWN_COLUMNS),
        "period_rows": [
            {
                "label": p.label,
                "drill": None if future else d,
                "cells": _future_cells(len(PERIOD_COLUMNS))
                if future
                else _cells(c, PERIOD_COLUMNS),
            }
            for p, c, d, future in zip(
                report["periods"],
                report["per_period"],
                links["drills"],
                report["future"],
                strict=True,
            )
        ],
        "part": part,
        "group_label": dict(form.fields["group_by"].choices).get(query.group_by, "")
        if query.group_by
        else "",
        "save_zone_next": links["self"],
        "minute_retention_days": settings.MINUTE_RETENTION_DAYS,
        "old_hours": old_hours,
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
    if selectors.minutes_gone(query.scope, query.group_dims, hours[0].start, query.now):
        return {"limits": {"minutes_gone": True}}  # peaks per minute: none left to read
    use = selectors.rate_limit_use(query.scope, hours)
    for row in use:
        row["period_label"] = hours[row["period"]].label
        row["cache_read_percent"] = _percent(row["cache_read_rate"])
    figure = charts.rate_limit_use(charts.axis_labels(hours), use)
    return {
        "limits": {
            "rows": use,
            "periods": hours,
            "chart_script": charts.script(figure, "limits-chart-data"),
            "charted": bool(figure["data"]),  # some model in view has a limit set
        }
    }


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


@require_GET
@reports_required
def export_csv(request):
    """The displayed view as CSV, streamed; its sums equal the page's totals."""
    form = filter_form(UsageFilterForm, request)
    if not form.is_valid():
        return _invalid(request, form)
    query = form.query()
    granularity = form.cleaned_data.get("granularity") or ""
    level, periods = query.level_and_periods
    natural = {"month": "day", "day": "hour", "hour": "minute"}[level]
    if (granularity or natural) == "minute" and selectors.minutes_gone(
        query.scope, query.group_dims, periods[0].start, query.now
    ):
        form.add_error(
            "granularity",
            f"Minute detail is kept for {settings.MINUTE_RETENTION_DAYS} days; this period "
            "starts before that: export its days by hour.",
        )
        return _invalid(request, form)
    if granularity in ("", natural):
        rows = export.rows(form, selectors.usage_report(query), query)
    else:
        rows = export.finer_rows(form, query, granularity)
    return exports.response(rows, export.filename(request.org, form))
