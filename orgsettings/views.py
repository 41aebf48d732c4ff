"""Settings pages: workspaces and API keys (reports roles see, Admins change), ingest keys and
rate limits (Admins only). Anything of another organisation is a 404."""

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import admin_required, reports_required, scoped
from adminapi.services import ADMIN_KEYS
from console.confirm import confirm_page, confirmed
from console.filters import workspace_value
from console.secret_keys import KeyKind
from orgsettings import selectors, services
from orgsettings.forms import (
    ApiKeyFilterForm,
    ApiKeyStatusForm,
    KeyNameForm,
    LinkAccountForm,
    PageForm,
    RateLimitForm,
    RenameForm,
)
from usage.forms import NO_API_KEY
from usage.ingest.keys import INGEST_KEYS


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


@dataclass(frozen=True)
class KeyPage:
    """One settings page of bearer secrets: ingest keys or Admin API keys."""

    kind: KeyKind
    name: str  # "ingest_key": URL names orgsettings:ingest_keys, create_ingest_key, ...
    title: str
    noun: str
    intro: str
    find: Callable

    def url(self, action: str = "") -> str:
        return f"orgsettings:{action}_{self.name}" if action else f"orgsettings:{self.name}s"


INGEST_KEY_PAGE = KeyPage(
    INGEST_KEYS,
    "ingest_key",
    "Ingest keys",
    "ingest key",
    "A gateway or an OpenTelemetry exporter sends your request logs with one of these keys as "
    "<code>Authorization: Bearer …</code>.",
    selectors.ingest_key,
)
ADMIN_KEY_PAGE = KeyPage(
    ADMIN_KEYS,
    "admin_key",
    "Admin API keys",
    "Admin API key",
    "Tools that speak Anthropic's Usage &amp; Cost Admin API read this organisation's reports "
    "with one of these keys, sent as <code>x-api-key</code> or "
    "<code>Authorization: Bearer …</code>. A key can only read.",
    selectors.admin_key,
)


def _keys_page(request, page: KeyPage, form=None, created=None, status=200):
    context = {
        "page": page,
        "intro": mark_safe(page.intro),  # noqa: S308 - our own text above, no input in it
        "keys": selectors.secret_keys(request.org, page.kind.model),
        "form": form or KeyNameForm(),
        "created": created,
        "create_url": page.url("create"),
        "revoke_url": page.url("revoke"),
    }
    return render(request, "orgsettings/secret_keys.html", context, status=status)


def _key_views(page: KeyPage):
    """The list, create and revoke views of one kind of key (Admins only)."""

    @require_GET
    @admin_required
    def listing(request):
        """The keys with their last use; revoked ones stay listed."""
        return _keys_page(request, page)

    @require_POST
    @admin_required
    def create(request):
        """Create a key and show its secret this once."""
        form = KeyNameForm(request.POST)
        if not form.is_valid():
            return _keys_page(request, page, form, status=400)
        key, secret = page.kind.create(request.org, form.cleaned_data["name"], actor=request.user)
        response = _keys_page(request, page, created={"key": key, "secret": secret})
        response["Cache-Control"] = "no-store"  # the secret must not be kept by any cache
        return response

    @require_http_methods(["GET", "POST"])
    @scoped(page.find)
    @admin_required
    def revoke(request, key):
        """Revoke a key once confirmed; requests with it get 401 from then on."""
        if not confirmed(request):
            return confirm_page(
                request,
                cancel_url=reverse(page.url()),
                title=f"Revoke the {page.noun} {key.name}?",
                question=f"Revoke the {page.noun} {key.name} ({key.prefix}…)?",
                consequence="Every request that sends it is refused from then on (401). "
                "A revoked key cannot be restored; create a new one instead.",
                button=f"Revoke {key.name}",
            )
        page.kind.revoke(key, actor=request.user)
        messages.success(request, f"{page.noun.capitalize()} {key.name} revoked.")
        return redirect(page.url())

    return listing, create, revoke


ingest_keys, create_ingest_key, revoke_ingest_key = _key_views(INGEST_KEY_PAGE)
admin_keys, create_admin_key, revoke_admin_key = _key_views(ADMIN_KEY_PAGE)
