"""The left navigation: only the pages the current person may open."""

from django.urls import reverse

from accounts.models import REPORT_ROLES, Role

# (label, url name, roles that may open it)
NAV_ITEMS = [
    ("Usage", "usage:page", REPORT_ROLES),
    ("Cost", "costs:page", REPORT_ROLES),
]


def navigation(request):
    membership = getattr(request, "membership", None)
    if membership is None:
        return {"nav_items": [], "other_memberships": []}
    items = [
        {
            "label": label,
            "url": reverse(name),
            "active": request.resolver_match and request.resolver_match.view_name == name,
        }
        for label, name, roles in NAV_ITEMS
        if membership.role in roles
    ]
    others = [m for m in request.user.memberships.select_related("org") if m.pk != membership.pk]
    return {"nav_items": items, "other_memberships": others, "Role": Role}
