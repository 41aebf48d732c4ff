"""The mark the Usage and Cost pages show when their filters select exactly a limit's scope."""

from django import template
from django.utils import timezone

from accounts.models import Role
from console.models import ApiKey
from spend import selectors

register = template.Library()

# The roles that may open the Limits page (``spend.views.spend_required``); others see no mark.
LIMIT_ROLES = (Role.ADMIN, Role.BILLING)


@register.inclusion_tag("spend/_limit_mark.html", takes_context=True)
def limit_mark(context, form) -> dict:
    """The limits whose scope is the valid report filter ``form``'s selection: none when a
    model or "no API key" narrows it further, or for a role that may not see Limits."""
    request = context["request"]
    membership = getattr(request, "membership", None)
    if membership is None or membership.role not in LIMIT_ROLES:
        return {"marks": []}
    data = form.cleaned_data
    key = data.get("api_key")
    if data.get("model") or (key and not isinstance(key, ApiKey)):
        return {"marks": []}
    chosen = {
        "workspace": data.get("workspace"),
        "api_key": key or None,
        "account": data.get("account"),
    }
    if sum(value is not None for value in chosen.values()) > 1:
        return {"marks": []}  # a limit has one scope at most
    return {"marks": selectors.marks(request.org, now=timezone.now(), **chosen)}
