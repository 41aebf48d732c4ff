"""Attach the current organisation and the person's membership in it to each request."""

from accounts.models import Membership

SESSION_KEY = "current_org_id"


class CurrentOrganizationMiddleware:
    """Set ``request.memberships`` (all of the person's, by organisation name), and
    ``request.membership`` and ``request.org`` for the current one (None when signed out or
    without any). One query; the navigation's organisation switcher reuses the list."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.memberships = []
        request.membership = None
        request.org = None
        if request.user.is_authenticated:
            request.memberships = list(
                Membership.objects.select_related("org")
                .filter(user=request.user)
                .order_by("org__name", "org_id")
            )
            wanted = request.session.get(SESSION_KEY)
            current = next((m for m in request.memberships if m.org_id == wanted), None)
            request.membership = current or next(iter(request.memberships), None)
            if request.membership:
                request.org = request.membership.org
        return self.get_response(request)
