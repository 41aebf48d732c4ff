"""The gate of every Admin API endpoint: the key, its rate limit and Anthropic's error shape.

Every answer carries a ``request-id`` header; every error is Anthropic's shape
``{"type": "error", "error": {"type", "message"}, "request_id"}`` with Anthropic's status
codes. Used by the report endpoints (``adminapi.views``) and by other apps' endpoints in the
same style (``spend``'s limits read endpoint).
"""

import secrets
from functools import wraps

import orjson
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from adminapi import services
from adminapi.params import ApiError, Query


def _error_response(request_id: str, status: int, error_type: str, message: str, headers=None):
    response = JsonResponse(
        {
            "type": "error",
            "error": {"type": error_type, "message": message},
            "request_id": request_id,
        },
        status=status,
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _json(body: dict) -> HttpResponse:
    """``body`` as JSON, encoded by orjson: a month of results by every dimension is
    megabytes, which the standard encoder took a third of the answer's time to write. Types
    orjson leaves alone (Decimal, datetimes) are written as Django's encoder writes them."""
    content = orjson.dumps(
        body, default=DjangoJSONEncoder().default, option=orjson.OPT_PASSTHROUGH_DATETIME
    )
    return HttpResponse(content, content_type="application/json")


def _secret(request) -> str | None:
    """The key from ``x-api-key`` (as Anthropic's clients send it) or ``Authorization: Bearer``."""
    key = request.headers.get("x-api-key", "").strip()
    if key:
        return key
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip() or None
    return None


def admin_api(view):
    """Authenticate the key, count it against its rate limit, and answer errors as Anthropic."""

    @csrf_exempt  # key-authenticated machine API: no cookies, so no cross-site forgery
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        request_id = "req_" + secrets.token_hex(12)
        try:
            if request.method not in ("GET", "HEAD"):
                raise ApiError(
                    405, "invalid_request_error", f"Method {request.method} is not allowed."
                )
            secret = _secret(request)
            if secret is None:
                raise ApiError(401, "authentication_error", "x-api-key header is required.")
            key = services.authenticate(secret)
            if key is None:
                raise ApiError(401, "authentication_error", "invalid x-api-key")
            allowance = services.take_request(key)
            if not allowance.allowed:
                raise ApiError(
                    429,
                    "rate_limit_error",
                    "This Admin API key has made too many requests this minute; "
                    f"retry after {allowance.retry_after_seconds} seconds.",
                    {"retry-after": str(allowance.retry_after_seconds)},
                )
            response = _json(view(request, key.org, Query(request.GET), *args, **kwargs))
        except ApiError as exc:
            headers = dict(exc.headers)
            if exc.status == 405:
                headers["Allow"] = "GET, HEAD"
            response = _error_response(request_id, exc.status, exc.error_type, exc.message, headers)
        response["request-id"] = request_id
        return response

    return wrapped
