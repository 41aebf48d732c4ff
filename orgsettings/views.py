"""Settings pages: workspaces and API keys (reports roles see, Admins change), ingest keys and
rate limits (Admins only). Anything of another organisation is a 404."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from accounts.access import admin_required, reports_required, scoped
from console.filters import workspace_value
from orgsettings import selectors, services
from orgsettings.forms import (
    ApiKeyFilterForm,
    ApiKeyStatusForm,
    IngestKeyForm,
    LinkAccountForm,
    PageForm,
    RateLimitForm,
    RenameForm,
)
from usage.forms import NO_API_KEY
from usage.ingest import keys as ingest_key_services


def usage_url(**params) -> str:
    """A link to the Usage page (current month) filtered by the given parameters."""
    return f"{reverse('usage:page')}?{urlencode(params)}"


def _or_404(obj, what: str):
    if obj is None:
        raise Http404(f"No such {what} in this organisation.")
    return obj


@require_GET
@reports_required
def workspaces(request):
    """Workspaces with their API key count and usage this month."""
    start = selectors.month_start()
    rows = [
        {
            "workspace": w,
            "usage": usage,
            "usage_url": usage_url(workspace=workspace_value(w)),
            "keys_url": f"{reverse('orgsettings:api_keys')}?{urlencode({'workspace': w.pk})}",
        }
        for w, usage in selectors.workspaces_with_usage(request.org, start)
    ]
    return render(request, "orgsettings/workspaces.html", {"rows": rows, "month": start})


@require_POST
@scoped(selectors.workspace)
@admin_required
def rename_workspace(request, workspace):
    """Rename a workspace (Admin)."""
    form = RenameForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A workspace needs a name of at most 200 characters.")
        return redirect("orgsettings:workspaces")
    try:
        services.rename_workspace(workspace, form.cleaned_data["name"], actor=request.user)
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Workspace renamed to {workspace.name}.")
    return redirect("orgsettings:workspaces")


ACCOUNTS_PER_PAGE = 100


@require_GET
@reports_required
def accounts(request):
    """The people and services behind requests, with their usage this month and the member
    each is linked to (Admins link them), a page of 100 at a time."""
    form = PageForm(request.GET)
    if not form.is_valid():
        return render(request, "orgsettings/accounts.html", {"form": form}, status=400)
    page = Paginator(selectors.accounts(request.org), ACCOUNTS_PER_PAGE).get_page(
        form.cleaned_data["page"]
    )
    start = selectors.month_start()
    rows = [
        {"account": a, "usage": usage, "usage_url": usage_url(account=a.external_id)}
        for a, usage in selectors.accounts_with_usage(request.org, start, list(page))
    ]
    context = {"rows": rows, "page": page, "month": start}
    if request.membership.is_admin:
        context["members"] = selectors.members(request.org)
    return render(request, "orgsettings/accounts.html", context)


@require_POST
@scoped(selectors.account)
@admin_required
def link_account(request, account):
    """Link an account to a member, or unlink it (Admin)."""
    form = LinkAccountForm(request.org, request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a member of this organisation, or none.")
        return redirect("orgsettings:accounts")
    member = form.cleaned_data["member"]
    services.link_account(account, member, actor=request.user)
    if member is None:
        messages.success(request, f"{account.label} is linked to nobody.")
    else:
        messages.success(request, f"{account.label} is linked to {member.email}.")
    return redirect("orgsettings:accounts")


@require_GET
@reports_required
def api_keys(request):
    """API keys (optionally of one workspace) with their usage this month."""
    form = ApiKeyFilterForm(request.GET)
    if not form.is_valid():
        context = {"form": form, "workspaces": selectors.workspaces(request.org)}
        return render(request, "orgsettings/api_keys.html", context, status=400)
    workspace = None
    if form.cleaned_data["workspace"]:
        workspace = _or_404(
            selectors.workspace(request.org, form.cleaned_data["workspace"]), "workspace"
        )
    start = selectors.month_start()
    keys, keyless = selectors.api_keys_with_usage(request.org, start, workspace)
    ws_filter = {"workspace": workspace_value(workspace)} if workspace else {}
    rows = [
        {
            "key": key,
            "usage": usage,
            "usage_url": usage_url(
                workspace=workspace_value(key.workspace), api_key=key.external_id
            ),
        }
        for key, usage in keys
    ]
    context = {
        "form": form,
        "rows": rows,
        "keyless": keyless,
        "keyless_url": usage_url(**ws_filter, api_key=NO_API_KEY),
        "workspace": workspace,
        "workspaces": selectors.workspaces(request.org),
        "month": start,
    }
    return render(request, "orgsettings/api_keys.html", context)


def _back_to_keys(request):
    # Return to the list as it was filtered, but only to our own page.
    workspace = request.POST.get("back_workspace", "")
    url = reverse("orgsettings:api_keys")
    return redirect(f"{url}?{urlencode({'workspace': workspace})}" if workspace.isdigit() else url)


@require_POST
@scoped(selectors.api_key)
@admin_required
def rename_api_key(request, key):
    """Rename an API key (Admin)."""
    form = RenameForm(request.POST)
    if form.is_valid():
        services.rename_api_key(key, form.cleaned_data["name"], actor=request.user)
        messages.success(request, f"API key renamed to {key.name}.")
    else:
        messages.error(request, "An API key needs a name of at most 200 characters.")
    return _back_to_keys(request)


@require_POST
@scoped(selectors.api_key)
@admin_required
def set_api_key_status(request, key):
    """Disable an API key, or re-enable it (Admin)."""
    form = ApiKeyStatusForm(request.POST)
    if form.is_valid():
        services.set_api_key_status(key, form.cleaned_data["status"], actor=request.user)
        messages.success(request, f"API key {key.name} is now {key.get_status_display().lower()}.")
    else:
        messages.error(request, "Choose active or disabled.")
    return _back_to_keys(request)


def _limits_page(request, form=None, status=200):
    rows = selectors.models_for_limits(request.org)
    context = {
        "rows": rows,
        "form": form or RateLimitForm(request.org),
        "models": [model for model, _limit in rows],
    }
    return render(request, "orgsettings/limits.html", context, status=status)


@require_GET
@admin_required
def limits(request):
    """Per-model rate limits (per minute) that the Usage page draws against."""
    return _limits_page(request)


@require_POST
@admin_required
def set_limit(request):
    """Set or clear one model's rate limits (Admin)."""
    form = RateLimitForm(request.org, request.POST)
    if not form.is_valid():
        return _limits_page(request, form, status=400)
    data = dict(form.cleaned_data)
    model = data.pop("model")
    services.set_rate_limit(request.org, model, actor=request.user, **data)
    messages.success(request, f"Rate limits for {model.display_name} saved.")
    return redirect("orgsettings:limits")


def _ingest_keys_page(request, form=None, created=None, status=200):
    context = {
        "keys": selectors.ingest_keys(request.org),
        "form": form or IngestKeyForm(),
        "created": created,
    }
    return render(request, "orgsettings/ingest_keys.html", context, status=status)


@require_GET
@admin_required
def ingest_keys(request):
    """Ingest keys with their last use; revoked ones stay listed."""
    return _ingest_keys_page(request)


@require_POST
@admin_required
def create_ingest_key(request):
    """Create an ingest key and show its secret this once (Admin)."""
    form = IngestKeyForm(request.POST)
    if not form.is_valid():
        return _ingest_keys_page(request, form, status=400)
    key, secret = ingest_key_services.create_ingest_key(
        request.org, form.cleaned_data["name"], actor=request.user
    )
    response = _ingest_keys_page(request, created={"key": key, "secret": secret})
    response["Cache-Control"] = "no-store"  # the secret must not be kept by any cache
    return response


@require_POST
@scoped(selectors.ingest_key)
@admin_required
def revoke_ingest_key(request, key):
    """Revoke an ingest key; requests with it get 401 from then on (Admin)."""
    ingest_key_services.revoke_ingest_key(key, actor=request.user)
    messages.success(request, f"Ingest key {key.name} revoked.")
    return redirect("orgsettings:ingest_keys")
