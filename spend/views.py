"""The Limits page (Admin and Billing) and the read endpoint gateways poll to enforce."""

from zoneinfo import ZoneInfo

from django.contrib import messages
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import reports_required, role_required, scoped
from accounts.models import Role
from adminapi.gate import admin_api  # the Admin API's key auth, rate limit and error shape
from console import exports
from console.confirm import confirm_page, confirmed
from console.filters import filter_form
from console.models import Account, ApiKey, Workspace
from console.services import record_audit
from costs.excel import usd
from costs.forms import CostFilterForm
from costs.selectors import scope_of
from spend import chargeback, focus, selectors, services
from spend.forms import ChargebackForm, EndpointForm, LimitForm
from spend.models import Limit, WebhookEndpoint

spend_required = role_required(Role.ADMIN, Role.BILLING)


def _scope_options(org) -> list[tuple[str, str]]:
    """(value, label) of every scope a limit can have, as LimitForm reads them."""
    keys = ApiKey.objects.filter(org=org).select_related("workspace")
    return [
        ("org", "Whole organisation"),
        *((f"workspace:{w.pk}", f"Workspace: {w.name}") for w in Workspace.objects.filter(org=org)),
        *((f"api_key:{k.pk}", f"API key: {k.name} ({k.workspace.name})") for k in keys),
        *((f"account:{a.pk}", f"User: {a.label}") for a in Account.objects.filter(org=org)),
    ]


def _page(request, form=None, endpoint_form=None, secret=None, status=200):
    now = timezone.now()
    context = {
        "rows": [selectors.status(limit, now) for limit in selectors.limits_of(request.org)],
        "alerts": selectors.recent_alerts(request.org),
        "endpoints": selectors.endpoints_of(request.org),
        "form": form or LimitForm(request.org, initial={"time_zone": request.user.time_zone}),
        "endpoint_form": endpoint_form or EndpointForm(),
        "scope_options": _scope_options(request.org),
        "secret": secret,
    }
    return render(request, "spend/page.html", context, status=status)


@require_GET
@spend_required
def page(request):
    """Every limit with its spend this period, share, projection, and the alerts sent."""
    return _page(request)


@require_POST
@spend_required
def create_limit(request):
    form = LimitForm(request.org, request.POST)
    if not form.is_valid():
        return _page(request, form=form, status=400)
    limit = services.create_limit(request.org, request.user, **form.service_arguments())
    record_audit(
        request.org,
        request.user,
        "spend_limit.create",
        limit.name,
        after={"amount": str(limit.amount), "unit": limit.unit, "period": limit.period},
    )
    messages.success(request, f"Limit {limit.name} saved.")
    return redirect("spend:page")


def _limit_of(org, pk):
    return Limit.objects.filter(org=org, pk=pk).first()


def _audited(limit: Limit) -> dict:
    """What the audit log records of a limit before and after an edit."""
    return {
        "scope": limit.scope_label,
        "unit": limit.unit,
        "amount": _text(limit.amount),
        "period": limit.period,
        "time_zone": limit.time_zone,
        "thresholds": [
            {"kind": t.kind, "percent": t.percent, "emails": t.emails,
             "endpoints": sorted(e.name for e in t.endpoints.all())}
            for t in limit.thresholds.all()
        ],
    }  # fmt: skip


@require_http_methods(["GET", "POST"])
@scoped(_limit_of)
@spend_required
def edit_limit(request, limit):
    """A limit's edit page, and its saving: alerts already sent this period stay sent."""
    if request.method == "POST":
        form = LimitForm(request.org, request.POST)
        if form.is_valid():
            before = _audited(limit)
            limit = services.update_limit(limit, **form.service_arguments())
            record_audit(
                request.org,
                request.user,
                "spend_limit.update",
                limit.name,
                before=before,
                after=_audited(limit),
            )
            messages.success(request, f"Limit {limit.name} saved.")
            return redirect("spend:page")
        status = 400
    else:
        form = LimitForm(request.org, initial=LimitForm.initial_of(limit))
        status = 200
    context = {
        "limit": limit,
        "form": form,
        "endpoints": selectors.endpoints_of(request.org),
        "scope_options": _scope_options(request.org),
    }
    return render(request, "spend/edit.html", context, status=status)


@require_http_methods(["GET", "POST"])
@scoped(_limit_of)
@spend_required
def delete_limit(request, limit):
    """Delete a limit with its thresholds and alerts, once confirmed."""
    if not confirmed(request):
        return confirm_page(
            request,
            cancel_url=reverse("spend:page"),
            title=f"Delete the limit {limit.name}?",
            question=f"Delete the limit {limit.name} ({limit.scope_label})?",
            consequence="Its thresholds stop alerting, its alerts and their deliveries are "
            "deleted with it, and gateways polling the limits no longer see it.",
            button=f"Delete {limit.name}",
        )
    record_audit(request.org, request.user, "spend_limit.delete", limit.name)
    limit.delete()
    messages.success(request, f"Limit {limit.name} deleted.")
    return redirect("spend:page")


@require_POST
@spend_required
def create_endpoint(request):
    """A webhook endpoint; its signing secret is shown on this answer only."""
    form = EndpointForm(request.POST)
    if not form.is_valid():
        return _page(request, endpoint_form=form, status=400)
    endpoint = services.create_endpoint(request.org, **form.cleaned_data)
    record_audit(request.org, request.user, "webhook_endpoint.create", endpoint.name)
    return _page(request, secret=endpoint.secret)


def _endpoint_of(org, pk):
    return WebhookEndpoint.objects.filter(org=org, pk=pk).first()


@require_http_methods(["GET", "POST"])
@scoped(_endpoint_of)
@spend_required
def delete_endpoint(request, endpoint):
    """Delete a webhook endpoint, once confirmed."""
    if not confirmed(request):
        return confirm_page(
            request,
            cancel_url=reverse("spend:page"),
            title=f"Delete the webhook endpoint {endpoint.name}?",
            question=f"Delete the webhook endpoint {endpoint.name} ({endpoint.url})?",
            consequence="Thresholds stop posting to it, and its deliveries (sent or waiting) "
            "are deleted with it. Its secret cannot be shown again.",
            button=f"Delete {endpoint.name}",
        )
    record_audit(
        request.org, request.user, "webhook_endpoint.delete", endpoint.name,
        before={"url": endpoint.url},
    )  # fmt: skip
    endpoint.delete()
    messages.success(request, f"Webhook endpoint {endpoint.name} deleted.")
    return redirect("spend:page")


@require_GET
@spend_required
def chargeback_report(request):
    """Cost by workspace, API key, user or model against local months: a page, CSV or .xlsx."""
    params = request.GET if "start" in request.GET else _this_month(request)
    form = ChargebackForm(params)
    if not form.is_valid():
        return render(request, "spend/chargeback.html", {"form": form}, status=400)
    data = form.cleaned_data
    pivot = chargeback.chargeback(
        request.org, zone=ZoneInfo(data["tz"]), first=data["start"], last=data["end"], by=data["by"]
    )
    table = usd(pivot)
    name = exports.filename(
        "chargeback",
        request.org.slug,
        params["start"],
        params["end"],
        f"by-{data['by']}",
        data["tz"],
    )
    if data["format"] == "csv":
        header = [chargeback.BY[data["by"]], *table.columns]
        rows = [[label, *values] for label, values in zip(table.index, table.values, strict=True)]
        return exports.response([header, *rows], name)
    if data["format"] == "xlsx":
        response = HttpResponse(
            chargeback.to_xlsx(pivot, "Chargeback"),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        response["Content-Disposition"] = f'attachment; filename="{name[:-4]}.xlsx"'
        return response
    context = {"form": form, "table": table, "query": params.urlencode()}
    return render(request, "spend/chargeback.html", context)


@require_GET
@reports_required
def focus_export(request):
    """The Cost page's month (in UTC) as a FinOps FOCUS CSV, for the roles that see costs.

    Takes the Cost page's query string; the zone, day, grouping and order are not used, since
    FOCUS rows are UTC days of one billing month."""
    form = filter_form(CostFilterForm, request)
    if not form.is_valid():
        errors = "; ".join(f"{field}: {' '.join(e)}" for field, e in form.errors.items())
        return HttpResponseBadRequest(errors, content_type="text/plain; charset=utf-8")
    data = form.cleaned_data
    year, month = data["month"]
    rows = focus.csv_rows(request.org, year=year, month=month, scope=scope_of(request.org, data))
    name = exports.filename("focus", request.org.slug, f"{year}-{month:02d}", "UTC")
    response = exports.response(rows, name)
    # FOCUS: the data names its schema, readable without opening the data.
    metadata_url = request.build_absolute_uri(reverse("spend:focus_metadata"))
    response["Link"] = f'<{metadata_url}>; rel="describedby"; type="application/json"'
    return response


@require_GET
@reports_required
def focus_metadata(request):
    """The FOCUS metadata (data generator, dataset instance, schema) of the FOCUS export."""
    return JsonResponse(focus.metadata(request.org), json_dumps_params={"indent": 2})


def _this_month(request):
    month = timezone.localdate(timezone=ZoneInfo(request.user.time_zone)).strftime("%Y-%m")
    params = QueryDict(mutable=True)
    params.update({"start": month, "end": month, "tz": request.user.time_zone})
    return params


def _text(amount) -> str:
    """An exact decimal as plain digits, without trailing zeros or exponent: "1000", "0.25"."""
    return format(amount.normalize(), "f")


@admin_api
def limits_api(request, org, query):
    """Every limit of the key's organisation with its spend and remaining amount this period."""
    now = timezone.now()
    data = []
    for limit in selectors.limits_of(org):
        row = selectors.status(limit, now)
        data.append(
            {
                "id": limit.pk,
                "name": limit.name,
                "scope": {
                    "workspace_id": limit.workspace.external_id if limit.workspace else None,
                    "api_key_id": limit.api_key.external_id if limit.api_key else None,
                    "account_id": limit.account.external_id if limit.account else None,
                },
                "unit": limit.unit,
                "amount": _text(limit.amount),
                "period": limit.period,
                "time_zone": limit.time_zone,
                "period_starts_at": row["window"].start.isoformat(),
                "period_ends_at": row["window"].end.isoformat(),
                "spend": _text(row["spend"]),
                "remaining": _text(row["remaining"]),
                "exceeded": row["spend"] >= limit.amount,
            }
        )
    return {"data": data}
