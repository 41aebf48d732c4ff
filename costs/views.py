from decimal import Decimal
from html import escape

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from accounts.access import reports_required, role_required
from accounts.models import Role
from console import charts, exports
from console.filters import filter_form, report_url, wants_partial
from console.models import account_label
from costs import breakdown, excel, export, services
from costs.families import price_families
from costs.forms import (
    CostFilterForm,
    ModelPriceForm,
    MyUsageForm,
    ToolPriceForm,
)
from costs.pricing import COST_TYPES, TOKEN_TYPE_LABELS, from_pico
from costs.selectors import GROUPS, cost_report, cost_report_of, price_catalogue
from costs.templatetags.money import usd, usd_exact
from usage.models import ServiceTier
from usage.selectors import Scope, UsageQuery, org_models, usage_report

PRICE_EDITORS = (Role.ADMIN, Role.BILLING)
EVERY_ROLE = tuple(Role)


def _renamed_group(request):
    """Cost URLs from before the one vocabulary said ``group=``: the same view with
    ``group_by=``, so old bookmarks and shared links keep working (None when not old)."""
    if "group" not in request.GET:
        return None
    query = request.GET.copy()
    group = query.pop("group")
    query.setdefault("group_by", group[-1])
    return redirect(f"{request.path}?{urlencode(query, doseq=True)}", permanent=True)


def _choices(form: CostFilterForm, selected: dict) -> dict:
    """The filter bar's options, and the lists the chart's colours are drawn from."""
    workspaces = list(form.org.workspaces.all())
    models = list(org_models(form.org.id))
    listed = form.select_options(
        selected,
        [(w.external_id, w.name, w.is_default) for w in workspaces],
        [(m.model_id, m.display_name) for m in models],
        form.org.accounts.values_list("external_id", "name"),
    )
    return {"workspaces": workspaces, "models": models, **listed}


def _amount_cell(pico: int, unpriced: int, css: str = "num") -> str:
    """A money cell: cents shown, every digit on hover; usage no price covers says so."""
    amount = from_pico(pico)
    text = usd(amount) if pico or not unpriced else '<span class="badge warn">Unpriced</span>'
    if pico and unpriced:
        text += ' <span class="badge warn" title="Part of this usage has no price">+</span>'
    return f'<td class="{css}" title="{escape(usd_exact(amount))}">{text}</td>'


def _breakdown_rows(table: breakdown.Breakdown, people: dict[str, str] | None = None) -> str:
    """The <tbody>s of the breakdown, one per group: its row (a subtotal when it has several
    lines) and its lines, shown when the row's <details> is open (CSS only, no script).
    Built here: a template spends several lookups and an escape per cell, and grouped by
    workspace there are a few hundred lines. Every text is escaped.

    Grouped by user, ``people`` maps each row to its own view's URL (the page filtered to
    that person, grouped by model): the ranking lists every person, their lines are there.
    """
    shown = table.shown
    bodies = []
    for row in table.rows:
        cells = "".join(_amount_cell(row.pico[i], row.unpriced[i]) for i in shown)
        count = row.count
        if people is not None:
            url = people.get(row.name)
            name = escape(row.name)
            if url:
                name = f'<a href="{escape(url)}">{name}</a>'
            bodies.append(
                f'<tbody class="group"><tr class="group-row"><th scope="row">{name}'
                f' <span class="muted">{count} line{"s" if count != 1 else ""}</span></th>'
                f"{cells}{_amount_cell(row.total_pico, sum(row.unpriced), 'num total')}"
                "</tr></tbody>"
            )
            continue
        lines = "".join(
            f'<tr class="line"><th scope="row">{escape(line.name)}</th>'
            + "".join(_amount_cell(line.pico[i], line.unpriced[i]) for i in shown)
            + _amount_cell(line.total_pico, sum(line.unpriced), "num total")
            + "</tr>"
            for line in row.lines
        )
        bodies.append(
            f'<tbody class="group"><tr class="group-row"><th scope="row"><details>'
            f"<summary>{escape(row.name)}"
            f' <span class="muted">{count} line{"s" if count != 1 else ""}</span></summary>'
            f"</details></th>{cells}"
            f"{_amount_cell(row.total_pico, sum(row.unpriced), 'num total')}</tr>{lines}</tbody>"
        )
    return mark_safe("\n".join(bodies))  # noqa: S308 - every text above is escaped


def _sort_headers(table: breakdown.Breakdown, selected: dict, sort: str, group_label: str):
    """The breakdown's column headings as links that sort by them (server side, so they
    work without script): numbers largest first on the first click, names A to Z."""
    sort = sort or breakdown.DEFAULT_SORT
    columns = [("group", group_label), *table.headings, ("total", "Total")]
    headers = []
    for key, label in columns:
        numeric = key != "group"
        current = sort.lstrip("-") == key
        descending = sort.startswith("-")
        wanted = ("" if descending else "-") if current else ("-" if numeric else "")
        headers.append(
            {
                "label": label,
                "num": numeric,
                "url": report_url("costs:page", selected, sort=wanted + key),
                "aria_sort": ("descending" if descending else "ascending") if current else "",
            }
        )
    return headers


def _identity(choices: dict, group: str, name: str):
    """What a group's colour follows (``console.charts.colors``): a model's or workspace's
    id, as on the Usage page, or the place of a fixed group (service tier, cost or token
    type) in its list."""
    if group == "model":
        ids = {m.display_name: m.pk for m in choices["models"]}
    elif group == "workspace":
        ids = {w.name: w.pk for w in choices["workspaces"]}
    elif group == "cost_type":
        ids = {label: i for i, label in enumerate(COST_TYPES.values())}
    elif group == "token_type":
        labels = [*TOKEN_TYPE_LABELS.values(), *COST_TYPES.values()]
        ids = {label: i for i, label in enumerate(labels)}
    elif group == "account":
        return name  # a person's colour follows their label, a stable checksum
    else:
        ids = {label: i for i, (_value, label) in enumerate(ServiceTier.choices)}
    return ids.get(name, name)


def _drills(report, form) -> list[str] | None:
    """Each day's view by hour (a month's bars and table rows open them); None for a day."""
    if report.level != "month":
        return None
    selected = form.selected()
    return [
        report_url("costs:page", selected, day=p.local_start.date().isoformat())
        for p in report.periods
    ]


def _usd_cell(amount: Decimal, css: str = "num") -> str:
    return f'<td class="{css}" title="{escape(usd_exact(amount))}">{escape(usd(amount))}</td>'


def _chart_groups(report) -> dict[str, list[Decimal]]:
    """{group: amount per period} as the chart draws them, largest first: every group, or
    grouped by user the ``charts.TOP_PEOPLE`` who cost most and everyone else, the exact sum
    of the others in each period (a thousand people were a 10 MB page). The breakdown ranks
    every person; their lines open on their own view."""
    groups = report.groups
    if report.group != "account" or len(groups) <= charts.TOP_PEOPLE + 1:
        return {group: report.chart[group] for group in groups}
    shown = {group: report.chart[group] for group in groups[: charts.TOP_PEOPLE]}
    rest = groups[charts.TOP_PEOPLE :]
    others = [
        sum(amounts, Decimal(0)) for amounts in zip(*(report.chart[g] for g in rest), strict=True)
    ]
    shown[charts.everyone_else(len(rest))] = others
    return shown


def _people(report, selected: dict) -> dict[str, str] | None:
    """Grouped by user: {row name: the page of that person alone, grouped by model}."""
    if report.group != "account" or report.priced is None:
        return None
    query = {k: v for k, v in selected.items() if k != "sort"}
    return {
        account_label(external_id, name): report_url(
            "costs:page", {**query, "account": external_id, "group_by": "model"}
        )
        for external_id, name in report.priced.accounts.values()
        if external_id  # usage of no account has no view of its own
    }


def _period_rows(report, groups: dict, drills: list[str] | None) -> list[dict]:
    """The table of the chart, as on the Usage page: a row per day (or hour) with each
    group's amount, in the chart's order, and their total: the very amounts the bars draw,
    so the chart's numbers are there without a mouse. A period still to come says so."""
    rows = []
    for i, period in enumerate(report.periods):
        if report.future[i]:
            cells = '<td class="muted future">still to come</td>' + "<td></td>" * len(groups)
        else:
            amounts = [chart[i] for chart in groups.values()]
            cells = "".join(_usd_cell(a) for a in amounts)
            cells += _usd_cell(sum(amounts, Decimal(0)), "num total")
        rows.append(
            {
                "label": period.label,
                "drill": drills[i] if drills and not report.future[i] else None,
                "cells": mark_safe(cells),  # noqa: S308 - every text above is escaped
            }
        )
    return rows


def _chart(report, groups: dict, choices: dict, drills: list[str] | None) -> dict:
    """The cost chart's figure: floats for the bars, exact strings for hover."""
    # Fewer groups than the report's: the last is everyone else (``_chart_groups``).
    rest = list(groups)[-1] if len(groups) < len(report.groups) else None
    series = [
        {
            "identity": charts.EVERYONE_ELSE
            if group == rest
            else _identity(choices, report.group, group),
            "name": group,
            "y": [float(a) for a in amounts],
            "exact": [usd_exact(a) for a in amounts],
        }
        for group, amounts in groups.items()
    ]
    figure = charts.cost(charts.axis_labels(report.periods), series, drills)
    return charts.still_to_come(figure, report.future)


def _invalid(request, form: CostFilterForm):
    """The page (or its htmx part) with the filters as typed and what is wrong with them."""
    selected = form.selected()
    context = {"form": form, "selected": selected, **_choices(form, selected)}
    template = "costs/page.html#view" if wants_partial(request) else "costs/page.html"
    response = render(request, template, context, status=400)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
@reports_required
def cost_page(request):
    """The Cost page (the whole page, or its results partial for htmx)."""
    if renamed := _renamed_group(request):
        return renamed
    form = filter_form(CostFilterForm, request)
    if not form.is_valid():
        return _invalid(request, form)
    data = form.cleaned_data
    selected = form.selected()
    context = {"form": form, "selected": selected, **_choices(form, selected)}
    report = cost_report_of(request.org, data, form.now)
    table = breakdown.build(report, data["sort"])
    drills = _drills(report, form)
    groups = _chart_groups(report)
    figure = _chart(report, groups, context, drills)
    if data["sort"]:
        selected["sort"] = data["sort"]
    month_params = {k: v for k, v in selected.items() if k != "day"}
    # The same breadcrumb as the Usage page's: the month, then the day being read.
    crumbs = [{"label": selected["month"], "url": report_url("costs:page", month_params)}]
    if "day" in selected:
        crumbs.append({"label": selected["day"], "url": report_url("costs:page", selected)})
    context.update(
        report=report,
        chart_figure=figure,
        chart_script=charts.script(figure, "cost-chart-data"),
        chart_groups=list(groups),
        period_rows=_period_rows(report, groups, drills),
        breakdown=table,
        breakdown_rows=_breakdown_rows(table, _people(report, selected)),
        breakdown_totals=table.totals.amounts(table.shown),
        sort_headers=_sort_headers(table, selected, data["sort"], GROUPS[data["group_by"]]),
        token_type_labels=TOKEN_TYPE_LABELS,
        # The card names the token types in the breakdown's words ("5m cache write").
        token_type_amounts=[
            (label, amount)
            for (_key, label), (_api_label, amount) in zip(
                breakdown.COLUMNS[: len(TOKEN_TYPE_LABELS)], report.totals.token_types, strict=True
            )
        ],
        crumbs=crumbs,
        export_url=report_url("costs:export", selected),
        focus_url=report_url("spend:focus", month_params),
        excel_url=report_url("costs:excel", selected),
        save_zone_next=report_url("costs:page", selected),
        group_label=GROUPS[data["group_by"]],
    )
    partial = wants_partial(request)
    response = render(request, "costs/page.html#view" if partial else "costs/page.html", context)
    if partial:  # the address bar gets the canonical URL, not every empty field
        response["HX-Push-Url"] = report_url("costs:page", selected)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
@reports_required
def cost_export(request):
    """The Cost page's lines as a streamed CSV file."""
    if renamed := _renamed_group(request):
        return renamed
    form = filter_form(CostFilterForm, request)
    if not form.is_valid():
        return _invalid(request, form)
    data = form.cleaned_data
    report = cost_report_of(request.org, data, form.now, lines_per_period=True)
    return exports.response(export.rows(report, data["zone"]), export.filename(request.org, form))


@require_GET
@reports_required
def cost_excel(request):
    """The Cost page's selection grouped every way, as one .xlsx workbook (costs/excel.py)."""
    form = filter_form(CostFilterForm, request)
    if not form.is_valid():
        return _invalid(request, form)
    content = excel.workbook(excel.views(request.org, form.cleaned_data, form.now))
    response = HttpResponse(content, content_type=excel.CONTENT_TYPE)
    name = export.filename(request.org, form).removesuffix(".csv") + ".xlsx"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_GET
@role_required(*EVERY_ROLE)
def my_usage(request):
    """My usage: the month's usage and cost of the person's own accounts, for every role.

    Decision: it lives with the Cost page because it shows cost, and imports run from costs
    toward usage, never back. Scoped by account, so nobody sees a colleague's figures.
    """
    form = filter_form(MyUsageForm, request)
    context = {"form": form, "accounts": form.accounts}
    if not form.is_valid():
        context["selected"] = form.selected()
        return render(request, "costs/my_usage.html", context, status=400)
    ids = form.account_ids()
    if ids:  # the usage and cost of the person's accounts; nothing to read without one
        data = form.cleaned_data
        year, month, zone = *data["month"], data["zone"]
        scope = Scope(request.org.id, account_ids=ids)
        usage = usage_report(UsageQuery(scope, zone, year, month, group_by="model"))
        cost = cost_report(
            request.org, zone=zone, year=year, month=month, account_ids=ids, group="model"
        )
        context.update(usage=usage, cost=cost, by_model=_by_model(usage, cost))
    context["selected"] = form.url_params()
    return render(request, "costs/my_usage.html", context)


def _by_model(usage: dict, cost) -> list[dict]:
    """One row per model the person used: tokens, requests and cost, costliest first."""
    amounts = dict(cost.ranking)
    rows = [
        {
            "model": g["label"],
            "input_tokens": g["input_tokens"],
            "output_tokens": g["output_tokens"],
            # None: some of it was imported from an upstream, whose reports count no requests.
            "requests": g["requests"] if g["requests_known"] else None,
            "cost": amounts.get(g["label"]),
        }
        for g in usage["groups"]
    ]
    return sorted(rows, key=lambda r: (-(r["cost"] or 0), -r["input_tokens"], r["model"]))


def _prices_context(request, model_form=None, tool_form=None) -> dict:
    editor = request.membership.role in PRICE_EDITORS
    catalogue = price_catalogue(request.org)
    context = {
        "catalogue": catalogue,
        "families": price_families(catalogue["models"]),
        "can_edit": editor,
    }
    if editor:
        context["model_form"] = model_form or ModelPriceForm(org=request.org)
        context["tool_form"] = tool_form or ToolPriceForm(org=request.org)
    return context


@require_GET
@reports_required
def prices(request):
    """The price catalogue; Admin and Billing also get the forms to add a price."""
    return render(request, "costs/prices.html", _prices_context(request))


@require_POST
@role_required(*PRICE_EDITORS)
def add_model_price(request):
    """Add a token price from a date (and its batch half when asked)."""
    form = ModelPriceForm(request.POST, org=request.org)
    if not form.is_valid():
        return render(
            request, "costs/prices.html", _prices_context(request, model_form=form), status=400
        )
    added = services.add_model_price(
        request.org,
        request.user,
        form.save(commit=False),
        also_batch=form.cleaned_data["also_batch"],
    )
    messages.success(request, "Added: " + "; ".join(str(p) for p in added) + ".")
    return redirect("costs:prices")


@require_POST
@role_required(*PRICE_EDITORS)
def add_tool_price(request):
    """Add a web-search or code-execution price from a date."""
    form = ToolPriceForm(request.POST, org=request.org)
    if not form.is_valid():
        return render(
            request, "costs/prices.html", _prices_context(request, tool_form=form), status=400
        )
    added = services.add_tool_price(request.org, request.user, form.save(commit=False))
    messages.success(request, f"Added: {added}.")
    return redirect("costs:prices")
