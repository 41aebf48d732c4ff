"""Report how long the server spent on each response, for browsers' dev tools and the benchmark."""

import time

from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from console.filters import ReportNotFound, wants_partial


class ServerTimingMiddleware:
    """Add ``Server-Timing: app;dur=<ms>`` (time inside Django, excluding the network)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed_ms = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = f"app;dur={elapsed_ms:.1f}"
        return response


class ReportNotFoundMiddleware:
    """Answer ``console.filters.ReportNotFound`` with the console's 404 page: the reason and a
    link to the report with no filters, never Django's debug page (the demo runs with DEBUG).

    For htmx the page's content replaces the main area (``HX-Retarget``), whatever part of
    the report asked; ``static/console/filters.js`` lets htmx swap this 404.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, ReportNotFound):
            return None
        context = {"reasons": exception.reasons, "back_url": exception.back_url}
        if wants_partial(request):
            response = render(request, "404.html#content", context, status=404)
            response["HX-Retarget"] = "#main"
            response["HX-Reswap"] = "innerHTML"
        else:
            response = render(request, "404.html", context, status=404)
        patch_vary_headers(response, ["HX-Request"])
        return response
