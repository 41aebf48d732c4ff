from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.access import reports_required


@require_GET
@reports_required
def cost_page(request):
    """The Cost page."""
    return render(request, "costs/page.html")
