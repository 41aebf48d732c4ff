"""The left navigation: only the pages the current person may open."""

from django.urls import reverse

from accounts.models import REPORT_ROLES, Role

ADMIN_ONLY = frozenset({Role.ADMIN})
SPEND_ROLES = frozenset({Role.ADMIN, Role.BILLING})
EVERY_ROLE = frozenset(Role)

# (section, label, url name, roles that may open it). The one navigation of every page (the
# settings pages have no tab bar of their own): money under Billing, where Admin and Billing
# look for prices and budgets; the people and keys only an Admin manages under Admin.
NAV_ITEMS = [
    ("Reports", "Usage", "usage:page", REPORT_ROLES),
    ("Reports", "Cost", "costs:page", REPORT_ROLES),
    ("Billing", "Prices", "costs:prices", REPORT_ROLES),
    ("Billing", "Spend limits", "spend:page", SPEND_ROLES),
    ("Organisation", "Workspaces", "orgsettings:workspaces", REPORT_ROLES),
    ("Organisation", "API keys", "orgsettings:api_keys", REPORT_ROLES),
    ("Organisation", "Accounts", "orgsettings:accounts", REPORT_ROLES),
    ("Organisation", "Rate limits", "orgsettings:limits", ADMIN_ONLY),
    ("Admin", "Members", "accounts:members", ADMIN_ONLY),
    ("Admin", "Ingest keys", "orgsettings:ingest_keys", ADMIN_ONLY),
    ("Admin", "Admin API keys", "orgsettings:admin_keys", ADMIN_ONLY),
    ("Admin", "Upstreams", "upstreams:list", ADMIN_ONLY),
    ("Admin", "Audit log", "accounts:audit_log", ADMIN_ONLY),
    # Last, so that home sends reports roles to Usage and everyone else here.
    ("You", "My usage", "me:usage", EVERY_ROLE),
]


def navigation(request):
    membership = getattr(request, "membership", None)
    if membership is None:
        return {"nav_sections": [], "other_memberships": [], "nav_current": ""}
    sections: dict[str, list[dict]] = {}
    items = []
    for section, label, name, roles in NAV_ITEMS:
        if membership.role not in roles:
            continue
        item = {"label": label, "url": reverse(name), "active": False}
        sections.setdefault(section, []).append(item)
        items.append(item)
    # The longest URL the path starts with is the current page: on /cost/prices/ that is
    # Prices, not Cost as well.
    current = max(
        (i for i in items if request.path.startswith(i["url"])),
        key=lambda i: len(i["url"]),
        default=None,
    )
    if current is not None:
        current["active"] = True
    others = [m for m in request.memberships if m.pk != membership.pk]
    return {
        "nav_sections": list(sections.items()),
        "other_memberships": others,
        # Named beside the folded menu on a phone, so one can tell where one is.
        "nav_current": current["label"] if current else "",
    }
