from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from accounts.context_processors import NAV_ITEMS


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
