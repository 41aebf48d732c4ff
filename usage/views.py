from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.access import reports_required


@require_GET
@reports_required
def usage_page(request):
    """The Usage page."""
    return render(request, "usage/page.html")
