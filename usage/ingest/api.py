"""The machine API: gateways POST raw request logs with an ingest key.

``POST /api/v1/logs`` with ``Authorization: Bearer <ingest key>`` and a JSON array or NDJSON
body, optionally ``Content-Encoding: gzip``. The answer is
``{"accepted", "duplicates", "rejected", "errors": [{position, request_id, field, message}]}``:

* 200 when at least one record was accepted or was a duplicate (a partial batch: the valid
  records are stored and ``errors`` lists the others, so a client retries nothing blindly);
* 422 when every record was rejected (nothing stored; fix the records, do not retry);
* 400 when the body itself cannot be read (broken gzip, an unparseable JSON array, no
  records at all), 401 for a missing, unknown or revoked key, 413 for a body larger than
  ``INGEST_MAX_BODY_BYTES`` on the wire or once decompressed, 415 for another encoding.
"""

import zlib

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from usage.ingest.contract import BodyError, parse_body
from usage.ingest.services import ingest_records
from usage.ingest.transport import (
    TooLarge,
    UnsupportedEncoding,
    bearer_secret,
    content_encoding,
    decompress,
    read_body,
    request_key,
)
from usage.models import IngestBatch, IngestKey


def error(status: int, message: str, **headers) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def read_request(request) -> tuple[IngestKey, bytes] | JsonResponse:
    """The key and the (decompressed) body of a JSON ingest request, or the error to answer.

    Shared by ``/api/v1/logs`` and ``/api/v1/litellm``, which answer failures alike.
    """
    key = request_key(request)
    if key is None:
        challenge = 'Bearer realm="meterboard"'
        if bearer_secret(request):
            challenge += ', error="invalid_token"'
        return error(401, "A valid ingest key is required.", WWW_Authenticate=challenge)

    limit = settings.INGEST_MAX_BODY_BYTES
    try:
        encoding = content_encoding(request)
    except UnsupportedEncoding as exc:
        return error(415, f"Content-Encoding {str(exc)!r} is not supported; use gzip.")
    try:
        return key, decompress(read_body(request, limit), encoding, limit)
    except TooLarge:
        return error(413, f"The body is larger than {limit} bytes; send smaller batches.")
    except zlib.error as exc:
        return error(400, f"The body is not valid gzip: {exc}")


@csrf_exempt  # bearer-authenticated machine API: no cookies, so no cross-site forgery
@require_POST
def ingest_logs(request):
    """Store a batch of raw request logs for the key's organisation."""
    read = read_request(request)
    if isinstance(read, JsonResponse):
        return read
    key, data = read
    try:
        _, records = parse_body(data)
    except BodyError as exc:
        return error(400, str(exc))
    del data
    result = ingest_records(key.org, records, source=IngestBatch.Source.HTTP)
    if result.total == 0:
        return error(400, "The body holds no records.")
    status = 422 if result.rejected == result.total else 200
    return JsonResponse(
        {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "rejected": result.rejected,
            "errors": [rejection.as_dict() for rejection in result.rejections],
        },
        status=status,
    )
