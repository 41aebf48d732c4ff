"""The OTLP/HTTP receiver: ``POST /otlp/v1/logs``, ``/otlp/v1/traces`` and ``/otlp/v1/metrics``.

An exporter takes ``https://meterboard.example/otlp`` as ``OTEL_EXPORTER_OTLP_ENDPOINT`` and
an ingest key in ``OTEL_EXPORTER_OTLP_HEADERS`` (``Authorization=Bearer mbi_...``). Bodies are
``application/x-protobuf`` or ``application/json`` (OTLP JSON), plain, gzip or deflate, within
``INGEST_MAX_BODY_BYTES`` as sent and decompressed. Answers follow the OTLP specification:

* 200 with an ``Export…ServiceResponse`` in the request's encoding: ``partial_success`` unset
  when every item was stored (or was a duplicate of one stored before), otherwise the
  rejected count and a message naming the first items and attributes rejected, and the
  items skipped (not requests). Also when every item was rejected: the batch was read, and
  sending it again would not help;
* 400 undecodable, 401 no valid ingest key, 405 not a POST, 413 too large, 415 another
  content type or encoding, 503 with ``Retry-After`` while the database is unavailable (the
  one case where the exporter should try again): each with a ``google.rpc.Status`` body.

Metrics are decoded and answered with success, and not stored: Claude Code's token and cost
metrics are sums of the events the logs endpoint already counts.
"""

import json
import zlib

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import code_pb2
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from usage.ingest.services import IngestResult, ingest_records
from usage.ingest.sources.claude_code import map_logs
from usage.ingest.sources.genai import map_spans
from usage.ingest.sources.otlp import JSON, PROTOBUF, Mapped, Undecodable, decode
from usage.ingest.transport import (
    DEFLATE,
    GZIP,
    TooLarge,
    UnsupportedEncoding,
    bearer_secret,
    content_encoding,
    decompress,
    read_body,
    request_key,
)
from usage.models import IngestBatch

# Seconds an exporter should wait before retrying while the database is unavailable.
RETRY_AFTER_SECONDS = 30
# The partial-success message names the first reasons only: the answer must stay small.
MAX_REASONS = 20
_MAX_REASON_LENGTH = 300


@csrf_exempt  # bearer-authenticated machine API: no cookies, so no cross-site forgery
def export_logs(request):
    """Store Claude Code's API events of an OTLP logs export."""
    return _export(
        request,
        logs_service_pb2.ExportLogsServiceRequest,
        logs_service_pb2.ExportLogsServiceResponse,
        map_logs,
        "rejected_log_records",
    )


@csrf_exempt
def export_traces(request):
    """Store the GenAI inference spans of an OTLP traces export."""
    return _export(
        request,
        trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse,
        map_spans,
        "rejected_spans",
    )


@csrf_exempt
def export_metrics(request):
    """Accept an OTLP metrics export and store nothing (see the module docstring)."""
    return _export(
        request,
        metrics_service_pb2.ExportMetricsServiceRequest,
        metrics_service_pb2.ExportMetricsServiceResponse,
        None,
        "rejected_data_points",
    )


def _export(request, request_type, response_type, mapper, rejected_field) -> HttpResponse:
    content_type = request.content_type.lower()
    # An error to a request of another content type is answered in OTLP JSON (readable).
    encoding = content_type if content_type in (PROTOBUF, JSON) else JSON
    if request.method != "POST":
        return _failure(encoding, 405, code_pb2.UNIMPLEMENTED, "Use POST.", Allow="POST")
    try:
        key = request_key(request)
    except (OperationalError, InterfaceError):
        return _unavailable(encoding)
    if key is None:
        challenge = 'Bearer realm="meterboard"'
        if bearer_secret(request):
            challenge += ', error="invalid_token"'
        return _failure(
            encoding,
            401,
            code_pb2.UNAUTHENTICATED,
            "A valid ingest key is required: Authorization: Bearer mbi_...",
            WWW_Authenticate=challenge,
        )
    if content_type not in (PROTOBUF, JSON):
        return _failure(
            encoding,
            415,
            code_pb2.INVALID_ARGUMENT,
            f"Content-Type {content_type!r:.80} is not supported; send {PROTOBUF} or {JSON}.",
        )

    limit = settings.INGEST_MAX_BODY_BYTES
    try:
        compression = content_encoding(request, accepted=(GZIP, DEFLATE))
    except UnsupportedEncoding as exc:
        return _failure(
            encoding,
            415,
            code_pb2.INVALID_ARGUMENT,
            f"Content-Encoding {str(exc)!r:.80} is not supported; use gzip or deflate.",
        )
    try:
        body = decompress(read_body(request, limit), compression, limit)
        message = decode(body, content_type, request_type)
    except TooLarge:
        return _failure(
            encoding,
            413,
            code_pb2.INVALID_ARGUMENT,
            f"The body is larger than {limit} bytes (as sent or decompressed); "
            "export smaller batches.",
        )
    except zlib.error as exc:
        return _failure(
            encoding, 400, code_pb2.INVALID_ARGUMENT, f"The body is not valid {compression}: {exc}"
        )
    except Undecodable as exc:
        return _failure(encoding, 400, code_pb2.INVALID_ARGUMENT, str(exc))
    del body

    response = response_type()
    if mapper is None:
        return _reply(encoding, response)
    mapped = mapper(message)
    del message
    records = [(n, item.record) for n, item in enumerate(mapped.items) if item.record is not None]
    try:
        result = (
            ingest_records(key.org, records, source=IngestBatch.Source.HTTP)
            if records
            else IngestResult()
        )
    except (OperationalError, InterfaceError):
        return _unavailable(encoding)
    rejected, explanation = _explain(mapped, result)
    if rejected or explanation:
        setattr(response.partial_success, rejected_field, rejected)
        response.partial_success.error_message = explanation
    return _reply(encoding, response)


def _explain(mapped: Mapped, result: IngestResult) -> tuple[int, str]:
    """The rejected count and a message naming the first rejections, then the skips."""
    reasons = []
    for position, item in enumerate(mapped.items):
        if item.rejection is not None:
            reasons.append((position, item.label, None, item.rejection.source, item.rejection))
    for rejection in result.rejections:
        item = mapped.items[rejection.position]
        source = item.origins.get(rejection.field, rejection.field) if rejection.field else None
        reasons.append((rejection.position, item.label, rejection.request_id, source, rejection))
    reasons.sort(key=lambda reason: reason[0])
    parts = []
    for _, label, request_id, source, problem in reasons[:MAX_REASONS]:
        where = label if request_id is None else f"{label} (request_id {request_id!r})"
        what = f"{source}: {problem.message}" if source else problem.message
        parts.append(f"{where}: {what}"[:_MAX_REASON_LENGTH])
    if len(reasons) > MAX_REASONS:
        parts.append(f"and {len(reasons) - MAX_REASONS} more rejected")
    if mapped.skipped:
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(mapped.skipped.items()))
        parts.append(f"skipped (not requests, not errors): {skipped}")
    return len(reasons), "; ".join(parts)


def _reply(encoding: str, message: Message, status: int = 200, **headers) -> HttpResponse:
    """A message in the request's encoding (OTLP JSON's int64 are strings, as json_format's)."""
    if encoding == JSON:
        body = json.dumps(json_format.MessageToDict(message)).encode()
    else:
        body = message.SerializeToString()
    response = HttpResponse(body, status=status, content_type=encoding)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _failure(encoding: str, status: int, code: int, text: str, **headers) -> HttpResponse:
    """An OTLP error answer: a google.rpc.Status, never our own JSON error shape."""
    return _reply(encoding, Status(code=code, message=text), status, **headers)


def _unavailable(encoding: str) -> HttpResponse:
    return _failure(
        encoding,
        503,
        code_pb2.UNAVAILABLE,
        "The database is unavailable; retry later.",
        Retry_After=str(RETRY_AFTER_SECONDS),
    )
