"""Outbound HTTP to addresses an organisation gives us (webhooks, upstreams)."""

import urllib.request


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect could lead to an address the URL check refused, and urllib would carry the
    # request's headers (an upstream's x-api-key) along to it.
    def redirect_request(self, *args, **kwargs):
        return None


# Opens a request without following redirects: a 3xx answer raises HTTPError.
opener = urllib.request.build_opener(_NoRedirect)
