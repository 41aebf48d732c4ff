"""The confirmation step every destructive action takes (members, invitations, keys, limits,
webhook endpoints, upstreams; the page is accounts/confirm.html).

The action's link (GET) and a POST without ``confirm=yes`` (a stale or forged one-click
form) show the question; only the confirmation form's own POST acts.
"""

from django.shortcuts import render


def confirmed(request) -> bool:
    """Whether this is the confirmation page's POST."""
    return request.method == "POST" and request.POST.get("confirm") == "yes"


def confirm_page(
    request, *, cancel_url: str, title: str, question: str, consequence: str, button: str
):
    """The question, what follows from the answer, and the button that acts."""
    context = {
        "title": title,
        "question": question,
        "consequence": consequence,
        "button": button,
        "cancel_url": cancel_url,
        "action_url": request.path,
    }
    return render(request, "accounts/confirm.html", context)
