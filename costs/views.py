from html import escape

from django.contrib import messages
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
from costs import export, services
from costs.forms import (
    CostFilterForm,
    ModelPriceForm,
    MyUsageForm,
    ToolPriceForm,
)
from costs.pricing import CODE_EXECUTION, COST_TYPES, TOKEN_TYPE_LABELS
from costs.selectors import GROUPS, cost_report, price_catalogue
from costs.templatetags.money import hours, usd, usd_exact
from usage.models import ServiceTier
from usage.selectors import NO_ACCOUNT, Scope, UsageQuery, org_models, usage_report

PRICE_EDITORS = (Role.ADMIN, Role.BILLING)
EVERY_ROLE = tuple(Role)


def _breakable(text: str) -> str:
    """API names such as cache_creation.ephemeral_5m_input_tokens may wrap after _ and ."""
    return text.replace("_", "_<wbr>").replace(".", ".<wbr>")


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


_DASH = "\u2014"


def _line_rows(report) -> str:
    """The <tr>s of the cost lines table, built here: a template loop costs several variable
    lookups and escapes per cell, and there are a few hundred lines. Every text is escaped."""
    by_workspace = report.group == "workspace"
    by_account = report.group == "account"
    escaped: dict[str, str] = {}  # the same few names, tiers and types on every row

    def esc(text: str) -> str:
        found = escaped.get(text)
        if found is None:
            found = escaped[text] = escape(text)
        return found

    rows = []
    for line in report.lines:
        key = line.key
        if key.cost_type == CODE_EXECUTION:
            quantity = f"{hours(line.quantity)} h"
        else:
            quantity = f"{line.quantity:,}"  # as floatformat:"0g" shows it (en)
        workspace = f"<td>{esc(key.workspace)}</td>" if by_workspace else ""
        if by_account:
            label = account_label(key.account_id, key.account_name) or NO_ACCOUNT
            workspace = f"<td>{esc(label)}</td>"
        if key.unpriced:
            start, amount = '<tr class="unpriced">', '<span class="error">Unpriced</span>'
        else:
            start, amount = "<tr>", usd(line.amount)
        rows.append(
            f"{start}<td>{esc(key.description)}</td>{workspace}"
            f'<td class="code">{esc(key.model)}</td><td>{esc(key.cost_type)}</td>'
            f'<td class="code">{_breakable(esc(key.token_type or _DASH))}</td>'
            f"<td>{esc(key.service_tier)}</td><td>{esc(key.context_window)}</td>"
            f'<td class="num">{quantity}</td>'
            f'<td class="num" title="{esc(usd_exact(line.amount))}">{amount}</td></tr>'
        )
    return mark_safe("\n".join(rows))  # noqa: S308 - every text above is escaped


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


def _chart(report, choices: dict, form) -> dict:
    """The cost chart's figure: floats for the bars, exact strings for hover."""
    drills = None
    if report.level == "month":  # a day's bar opens that day by hour
        selected = form.selected()
        drills = [
            report_url("costs:page", selected, day=p.local_start.date().isoformat())
            for p in report.periods
        ]
    series = [
        {
            "identity": _identity(choices, report.group, group),
            "name": group,
            "y": [float(a) for a in report.chart[group]],
            "exact": [usd_exact(a) for a in report.chart[group]],
        }
        for group in report.groups
    ]
    return charts.cost([p.label for p in report.periods], series, drills)


def _report(org, data: dict):
    """The cost report of the validated filters."""
    return cost_report(
        org,
        zone=data["zone"],
        year=data["month"][0],
        month=data["month"][1],
        day=data["day"],
        workspace=data["workspace"],
        model=data["model"],
        account_ids=(data["account"].pk,) if data["account"] else None,
        group=data["group_by"],
    )


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
    report = _report(request.org, data)
    month_params = {k: v for k, v in selected.items() if k != "day"}
    context.update(
        report=report,
        chart_script=charts.script(_chart(report, context, form), "cost-chart-data"),
        line_rows=_line_rows(report),
        token_type_labels=TOKEN_TYPE_LABELS,
        month_url=report_url("costs:page", month_params),
        export_url=report_url("costs:export", selected),
        save_zone_next=report_url("costs:page", selected),
        month_value=selected["month"],
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
    report = _report(request.org, data)
    return exports.response(export.rows(report, data["zone"]), export.filename(request.org, form))


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
            "requests": g["requests"],
            "cost": amounts.get(g["label"]),
        }
        for g in usage["groups"]
    ]
    return sorted(rows, key=lambda r: (-(r["cost"] or 0), -r["input_tokens"], r["model"]))


def _prices_context(request, model_form=None, tool_form=None) -> dict:
    editor = request.membership.role in PRICE_EDITORS
    context = {"catalogue": price_catalogue(request.org), "can_edit": editor}
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
