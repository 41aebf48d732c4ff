from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from accounts.middleware import SESSION_KEY


@require_POST
@login_required
def switch_organization(request):
    """Make another of the person's organisations the current one."""
    membership = request.user.memberships.filter(org__slug=request.POST.get("org", "")).first()
    if membership is None:
        raise Http404("No such organisation.")
    request.session[SESSION_KEY] = membership.org_id
    return redirect("console:home")
