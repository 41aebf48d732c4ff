"""The gate on every console page: sign-in, a membership, and a role that may open it."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import render

from accounts import selectors
from accounts.models import REPORT_ROLES, Role


def role_required(*roles):
    """Let through members of the current organisation whose role is one of ``roles``.

    Anonymous people go to the login page; members with another role (or people with no
    membership) get a 403 page that names the roles that may open it.
    """
    allowed = frozenset(roles)

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            membership = getattr(request, "membership", None)
            if membership is None or membership.role not in allowed:
                names = [label for value, label in Role.choices if value in allowed]
                context = {"allowed_roles": names}
                if membership is None:
                    context["removal"] = selectors.last_removal(request.user)
                return render(request, "403.html", context, status=403)
            return view(request, *args, **kwargs)

        wrapped.allowed_roles = allowed
        return wrapped

    return decorator


reports_required = role_required(*REPORT_ROLES)
admin_required = role_required(Role.ADMIN)


def scoped(find):
    """Resolve the URL's ``pk`` to an object of the current organisation before any role check.

    ``find(org, pk)`` returns the object or None. An id of another organisation (or of nothing)
    is a 404 for every signed-in person whatever their role, so a URL naming another
    organisation's workspace, key, member, invitation or ingest key never gets a 403. The
    view receives the object instead of the id.
    """

    def decorator(view):
        @wraps(view)
        def wrapped(request, pk, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            obj = find(request.org, pk) if request.org is not None else None
            if obj is None:
                raise Http404("Not found in this organisation.")
            return view(request, obj, *args, **kwargs)

        if hasattr(view, "allowed_roles"):
            wrapped.allowed_roles = view.allowed_roles
        return wrapped

    return decorator
