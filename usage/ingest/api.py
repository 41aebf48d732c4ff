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
from usage.ingest.keys import authenticate
from usage.ingest.services import ingest_records
from usage.models import IngestBatch

_READ_BLOCK = 1 << 16


class _TooLarge(Exception):
    pass


def _error(status: int, message: str, **headers) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _read_body(request, limit: int) -> bytes:
    """Read at most ``limit`` bytes of the request body, or raise _TooLarge.

    Reads in bounded pieces and never more than ``limit + 1`` bytes, also from a chunked body
    (which has no Content-Length).
    """
    length = request.META.get("CONTENT_LENGTH")
    try:
        declared = int(length or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise _TooLarge
    if not length and request.META.get("wsgi.input_terminated"):
        # A chunked body: Django reads a request without Content-Length as empty, but a
        # server that ends the input stream at the body's end (gunicorn, mod_wsgi) says so.
        stream = request.META["wsgi.input"]
    else:
        # Not request.body: it is capped by DATA_UPLOAD_MAX_MEMORY_SIZE, meant for forms.
        stream = request
    parts = []
    size = 0
    while True:
        block = stream.read(min(_READ_BLOCK, limit + 1 - size))
        if not block:
            return b"".join(parts)
        size += len(block)
        if size > limit:
            raise _TooLarge
        parts.append(block)


def _gunzip(data: bytes, limit: int) -> bytes:
    """Decompress gzip (several members allowed), stopping as soon as it exceeds ``limit``."""
    out = []
    size = 0
    while data:
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        chunk = decompressor.decompress(data, limit + 1 - size)
        while True:
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            out.append(chunk)
            if decompressor.eof or not decompressor.unconsumed_tail:
                break
            chunk = decompressor.decompress(decompressor.unconsumed_tail, limit + 1 - size)
        if not decompressor.eof:
            raise zlib.error("the gzip stream is truncated")
        data = decompressor.unused_data.lstrip(b"\x00")
    return b"".join(out)


def _bearer(request) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


@csrf_exempt  # bearer-authenticated machine API: no cookies, so no cross-site forgery
@require_POST
def ingest_logs(request):
    """Store a batch of raw request logs for the key's organisation."""
    bearer = _bearer(request)
    key = authenticate(bearer)
    if key is None:
        challenge = 'Bearer realm="meterboard"'
        if bearer:
            challenge += ', error="invalid_token"'
        return _error(401, "A valid ingest key is required.", WWW_Authenticate=challenge)

    limit = settings.INGEST_MAX_BODY_BYTES
    too_large = f"The body is larger than {limit} bytes; send smaller batches."
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip"):
        return _error(415, f"Content-Encoding {encoding!r} is not supported; use gzip.")
    try:
        data = _read_body(request, limit)
        if encoding != "identity":
            data = _gunzip(data, limit)
    except _TooLarge:
        return _error(413, too_large)
    except zlib.error as exc:
        return _error(400, f"The body is not valid gzip: {exc}")

    try:
        _, records = parse_body(data)
    except BodyError as exc:
        return _error(400, str(exc))
    del data
    result = ingest_records(key.org, records, source=IngestBatch.Source.HTTP)
    if result.total == 0:
        return _error(400, "The body holds no records.")
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
