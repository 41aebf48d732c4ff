"""The upstreams settings page (Admins only): list, add, edit, pause, pull now, delete."""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import admin_required, scoped
from console.confirm import confirm_page, confirmed
from upstreams import crypto, selectors, services, tasks
from upstreams.forms import UpstreamForm


def _list_page(request, form=None, status=200):
    context = {
        "upstreams": selectors.upstreams(request.org),
        "form": form or UpstreamForm(request.org),
        "settle_minutes": settings.UPSTREAM_SETTLE_MINUTES,
    }
    return render(request, "upstreams/list.html", context, status=status)


@require_GET
@admin_required
def upstream_list(request):
    """The upstreams with their position, last success and last error; the add form."""
    return _list_page(request)


@require_POST
@admin_required
def add_upstream(request):
    """Add an upstream; the next pull starts at its first day."""
    form = UpstreamForm(request.org, request.POST)
    if not form.is_valid():
        return _list_page(request, form, status=400)
    try:
        upstream = services.create_upstream(request.org, actor=request.user, **form.cleaned_data)
    except crypto.KeysSecretMissing as exc:
        form.add_error(None, str(exc))
        return _list_page(request, form, status=400)
    messages.success(request, f"Upstream {upstream.name} added; its minutes import as they settle.")
    return redirect("upstreams:list")


@require_http_methods(["GET", "POST"])
@scoped(selectors.upstream)
@admin_required
def edit_upstream(request, upstream):
    """Rename an upstream, change its URL or its key."""
    form = UpstreamForm(request.org, request.POST or None, instance=upstream)
    if request.method == "GET":
        form = UpstreamForm(
            request.org,
            initial={"name": upstream.name, "base_url": upstream.base_url},
            instance=upstream,
        )
    elif form.is_valid():
        try:
            services.update_upstream(upstream, actor=request.user, **form.cleaned_data)
        except crypto.KeysSecretMissing as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Upstream {upstream.name} saved.")
            return redirect("upstreams:list")
    status = 400 if request.method == "POST" else 200
    return render(
        request, "upstreams/edit.html", {"upstream": upstream, "form": form}, status=status
    )


@require_POST
@scoped(selectors.upstream)
@admin_required
def pause_upstream(request, upstream):
    """Pause pulls, or resume them from the position."""
    paused = request.POST.get("paused") == "yes"
    services.set_paused(upstream, paused, actor=request.user)
    messages.success(request, f"Upstream {upstream.name} {'paused' if paused else 'resumed'}.")
    return redirect("upstreams:list")


@require_POST
@scoped(selectors.upstream)
@admin_required
def pull_now(request, upstream):
    """Queue a pull at once instead of waiting for the next beat."""
    tasks.pull_upstream.delay(upstream.pk)
    messages.success(request, f"A pull of {upstream.name} was queued.")
    return redirect("upstreams:list")


@require_http_methods(["GET", "POST"])
@scoped(selectors.upstream)
@admin_required
def delete_upstream(request, upstream):
    """Delete an upstream once confirmed (the console's confirmation page)."""
    if not confirmed(request):
        return confirm_page(
            request,
            cancel_url=reverse("upstreams:list"),
            title=f"Delete upstream {upstream.name}?",
            question=f"Stop pulling from {upstream.base_url} and forget its key?",
            consequence=f"The usage already imported stays. It reached "
            f"{upstream.position:%Y-%m-%d %H:%M} UTC: an upstream added again later counts "
            "anew what it imports, so start it after that.",
            button=f"Delete {upstream.name}",
        )
    services.delete_upstream(upstream, actor=request.user)
    messages.success(request, f"Upstream {upstream.name} deleted.")
    return redirect("upstreams:list")
