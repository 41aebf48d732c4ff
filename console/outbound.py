"""Outbound HTTP to addresses an organisation gives us (webhooks, upstreams)."""

import ipaddress
import socket
import urllib.request

from django.core.exceptions import ValidationError


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect could lead to an address the URL check refused, and urllib would carry the
    # request's headers (an upstream's x-api-key) along to it.
    def redirect_request(self, *args, **kwargs):
        return None


# Opens a request without following redirects: a 3xx answer raises HTTPError.
opener = urllib.request.build_opener(_NoRedirect)


def check_public_host(host: str, port: int | None, setting: str) -> None:
    """Refuse a host that does not resolve, or resolves to any address that is not public
    (private, loopback, link-local, shared, reserved): no request forgery through a URL an
    organisation gives us. ``setting`` names the operator setting that allows them."""
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise ValidationError(f"The host {host!r} does not resolve.") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global:
            raise ValidationError(
                f"{host} resolves to {address}, a private or loopback address; "
                f"an operator must set {setting}=true to allow it."
            )
