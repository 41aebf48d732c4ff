from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from accounts.context_processors import NAV_ITEMS
from accounts.models import User
from console.filters import TimeZoneForm


@require_GET
@login_required
def home(request):
    """Send people to the first page they may open, or tell them there is none."""
    membership = request.membership
    if membership is not None:
        for _section, _label, name, roles in NAV_ITEMS:
            if membership.role in roles:
                return redirect(name)
    return render(request, "console/home.html")


@require_POST
@login_required
def save_time_zone(request):
    """Save the zone chosen with the reports' time-zone control, then go back to the view.

    The only way a report changes the saved zone: a ``tz`` in a link shows that view in
    another zone and saves nothing (a shared or cross-site link must not change what a
    person sees on later pages), and this POST is CSRF-protected.
    """
    form = TimeZoneForm(request.POST)
    if not form.is_valid():
        text = " ".join(f"{form.fields[f].label}: {m}" for f, e in form.errors.items() for m in e)
        return HttpResponseBadRequest(text, content_type="text/plain; charset=utf-8")
    zone = form.cleaned_data["tz"]
    User.objects.filter(pk=request.user.pk).update(time_zone=zone)
    messages.success(request, f"Your time zone is now {zone}.")
    back = form.cleaned_data["next"]
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = "console:home"
    return redirect(back)
