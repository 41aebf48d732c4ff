"""What every HTTP source shares: the bearer ingest key and a body read within the size limit.

``/api/v1/logs``, the OTLP endpoints and LiteLLM's endpoint read the body with ``read_body``
(never more than the limit and one byte, also for a chunked body), decompress it with
``decompress`` (under the same limit, so a compression bomb costs nothing) and find the
organisation with ``request_key``. Each answers the failures in its own protocol's terms.
"""

import zlib

from usage.ingest.keys import authenticate
from usage.models import IngestKey

_READ_BLOCK = 1 << 16
GZIP = "gzip"
DEFLATE = "deflate"
_ENCODINGS = {"identity": None, "gzip": GZIP, "x-gzip": GZIP, "deflate": DEFLATE}


class TooLarge(Exception):
    """The body is over the limit, as sent or once decompressed."""


class UnsupportedEncoding(Exception):
    """A Content-Encoding this endpoint does not take."""


def bearer_secret(request) -> str | None:
    """The credentials of an ``Authorization: Bearer`` header (any case), or None."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


def request_key(request) -> IngestKey | None:
    """The unrevoked ingest key the request's bearer token names, or None."""
    return authenticate(bearer_secret(request))


def content_encoding(request, accepted: tuple[str, ...] = (GZIP,)) -> str | None:
    """The request's compression (None for identity), or raise UnsupportedEncoding."""
    name = request.headers.get("Content-Encoding", "identity").strip().lower()
    encoding = _ENCODINGS.get(name, name)
    if encoding is not None and encoding not in accepted:
        raise UnsupportedEncoding(name)
    return encoding


def read_body(request, limit: int) -> bytes:
    """Read at most ``limit`` bytes of the request body, or raise TooLarge.

    Reads in bounded pieces and never more than ``limit + 1`` bytes, also from a chunked body
    (which has no Content-Length).
    """
    length = request.META.get("CONTENT_LENGTH")
    try:
        declared = int(length or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise TooLarge
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
            raise TooLarge
        parts.append(block)


def decompress(data: bytes, encoding: str | None, limit: int) -> bytes:
    """The body decompressed (``content_encoding``'s answer), or raise TooLarge / zlib.error."""
    if encoding == GZIP:
        return gunzip(data, limit)
    if encoding == DEFLATE:
        return inflate(data, limit)
    return data


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress gzip (several members allowed), stopping as soon as it exceeds ``limit``."""
    out = []
    size = 0
    while data:
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        out.append(_bounded(decompressor, data, limit - size))
        size += len(out[-1])
        data = decompressor.unused_data.lstrip(b"\x00")
    return b"".join(out)


def inflate(data: bytes, limit: int) -> bytes:
    """Decompress HTTP ``deflate`` (a zlib stream), stopping as soon as it exceeds ``limit``."""
    return _bounded(zlib.decompressobj(wbits=zlib.MAX_WBITS), data, limit)


def _bounded(decompressor, data: bytes, limit: int) -> bytes:
    """One compressed stream, never more than ``limit + 1`` bytes of output at a time."""
    out = []
    size = 0
    chunk = decompressor.decompress(data, limit + 1)
    while True:
        size += len(chunk)
        if size > limit:
            raise TooLarge
        out.append(chunk)
        if decompressor.eof or not decompressor.unconsumed_tail:
            break
        chunk = decompressor.decompress(decompressor.unconsumed_tail, limit + 1 - size)
    if not decompressor.eof:
        raise zlib.error("the compressed stream is truncated")
    return b"".join(out)
