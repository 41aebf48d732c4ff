"""Report how long the server spent on each response, for browsers' dev tools and the benchmark."""

import time


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
