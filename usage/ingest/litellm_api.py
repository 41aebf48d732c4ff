"""``POST /api/v1/litellm``: what a LiteLLM proxy's generic API logging callback sends.

Authenticated like ``/api/v1/logs`` (``Authorization: Bearer <ingest key>``, a header the
callback's ``headers`` setting or ``GENERIC_LOGGER_HEADERS`` sets), with the same body size
and gzip limits. The body is LiteLLM's StandardLoggingPayloads: a JSON array, NDJSON or a
single object (``sources.litellm.parse_body``). The answer is ``/api/v1/logs``' plus the
number of payloads skipped (cache hits, calls that are not completions, failures without a
status): ``{"accepted", "duplicates", "rejected", "skipped", "errors": [{position,
request_id, field, message}]}``, ``field`` naming the payload's own field. 200 when
something was stored or was a duplicate, or when nothing was rejected; 422 when payloads
were rejected and none stored; 400 for an unreadable body; 401, 413 and 415 as
``/api/v1/logs``. LiteLLM neither reads the answer nor retries, so it matters to people
reading the proxy's debug log and to other senders.
"""

import zlib

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from usage.ingest.api import _bearer, _error, _gunzip, _read_body, _TooLarge
from usage.ingest.contract import BodyError
from usage.ingest.keys import authenticate
from usage.ingest.sources import litellm


@csrf_exempt  # bearer-authenticated machine API: no cookies, so no cross-site forgery
@require_POST
def ingest_litellm(request):
    """Store a batch of LiteLLM logging payloads for the key's organisation."""
    bearer = _bearer(request)
    key = authenticate(bearer)
    if key is None:
        challenge = 'Bearer realm="meterboard"'
        if bearer:
            challenge += ', error="invalid_token"'
        return _error(401, "A valid ingest key is required.", WWW_Authenticate=challenge)

    limit = settings.INGEST_MAX_BODY_BYTES
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip"):
        return _error(415, f"Content-Encoding {encoding!r} is not supported; use gzip.")
    try:
        data = _read_body(request, limit)
        if encoding != "identity":
            data = _gunzip(data, limit)
    except _TooLarge:
        return _error(413, f"The body is larger than {limit} bytes; use a smaller batch_size.")
    except zlib.error as exc:
        return _error(400, f"The body is not valid gzip: {exc}")

    try:
        pairs = litellm.parse_body(data)
    except BodyError as exc:
        return _error(400, str(exc))
    del data
    result, skipped = litellm.ingest_payloads(key.org, pairs)
    if result.total + skipped == 0:
        return _error(400, "The body holds no payloads.")
    status = 422 if result.rejected and not result.accepted + result.duplicates else 200
    return JsonResponse(
        {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "rejected": result.rejected,
            "skipped": skipped,
            "errors": [rejection.as_dict() for rejection in result.rejections],
        },
        status=status,
    )
