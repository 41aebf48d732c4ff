"""Attach the current organisation and the person's membership in it to each request."""

from accounts.models import Membership

SESSION_KEY = "current_org_id"


class CurrentOrganizationMiddleware:
    """Set ``request.membership`` and ``request.org`` (None when signed out or without any)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = None
        request.org = None
        if request.user.is_authenticated:
            memberships = Membership.objects.select_related("org").filter(user=request.user)
            wanted = request.session.get(SESSION_KEY)
            membership = (wanted and memberships.filter(org_id=wanted).first()) or (
                memberships.order_by("org__name", "org_id").first()
            )
            if membership:
                request.membership = membership
                request.org = membership.org
        return self.get_response(request)
