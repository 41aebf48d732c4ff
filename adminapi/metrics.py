"""``GET /metrics`` for operators, in Prometheus' text format (the official client library).

* ``meterboard_ingest_records_total{source, outcome}``: records accepted, duplicate and
  rejected, by source (http, import, demo), summed over the ingest batches;
* ``meterboard_rollup_pending_batches`` and ``meterboard_rollup_oldest_pending_age_seconds``:
  the rollup backlog and how long its oldest batch has waited;
* ``meterboard_rollup_delay_seconds`` (summary over the last hour's batches): from a
  batch's acceptance to its rows being in the buckets;
* ``meterboard_request_duration_seconds{view, method}`` (histogram): request latencies by
  page and endpoint, from ``RequestTimingMiddleware``.

The first three are read from the database at scrape time, so every web process reports the
same figures. Latencies are per process; with several gunicorn workers set
``PROMETHEUS_MULTIPROC_DIR`` (the client library's multiprocess mode) so that a scrape sees
all of them. Access: ``Authorization: Bearer <METRICS_TOKEN>``, or a client address in
``METRICS_ALLOWED_IPS``; with neither setting the endpoint answers 404, as if absent.
"""

import datetime as dt
import hmac
import os
import time
from ipaddress import ip_address

from django.conf import settings
from django.db.models import Count, Min, Sum
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from accounts.throttle import client_address
from usage.models import IngestBatch

DELAY_WINDOW = dt.timedelta(hours=1)
OUTCOMES = (("accepted", "accepted"), ("duplicates", "duplicate"), ("rejected", "rejected"))

REQUEST_DURATION = Histogram(
    "meterboard_request_duration_seconds",
    "Time spent in Django per request, by view (page or endpoint) and method.",
    ["view", "method"],
    registry=None,  # collected by the registries built in ``_registry``
)


class DatabaseCollector:
    """Ingest and rollup figures, read from the database at scrape time."""

    def collect(self):
        records = CounterMetricFamily(
            "meterboard_ingest_records",
            "Records received, by source and outcome (accepted, duplicate, rejected).",
            labels=["source", "outcome"],
        )
        sums = IngestBatch.objects.values("source").annotate(
            **{field: Sum(field) for field, _label in OUTCOMES}
        )
        for row in sums.order_by("source"):
            for field, label in OUTCOMES:
                records.add_metric([row["source"], label], row[field] or 0)
        yield records

        now = timezone.now()
        pending = IngestBatch.objects.filter(rolled_up_at__isnull=True).aggregate(
            n=Count("id"), oldest=Min("created_at")
        )
        yield GaugeMetricFamily(
            "meterboard_rollup_pending_batches",
            "Accepted batches not yet rolled up into buckets.",
            value=pending["n"],
        )
        age = (now - pending["oldest"]).total_seconds() if pending["oldest"] else 0
        yield GaugeMetricFamily(
            "meterboard_rollup_oldest_pending_age_seconds",
            "How long the oldest batch not yet rolled up has waited (0 when none).",
            value=max(0.0, age),
        )

        recent = IngestBatch.objects.filter(rolled_up_at__gte=now - DELAY_WINDOW).values_list(
            "created_at", "rolled_up_at"
        )
        delays = [(done - created).total_seconds() for created, done in recent]
        yield SummaryMetricFamily(
            "meterboard_rollup_delay_seconds",
            "From a batch's acceptance to its rows being in the buckets, over the last hour.",
            count_value=len(delays),
            sum_value=sum(delays),
        )


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(REQUEST_DURATION)
    registry.register(DatabaseCollector())
    return registry


def _allowed(request) -> bool:
    token, networks = settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS
    if not token and not networks:
        raise Http404("Metrics are not enabled.")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token):
        return True
    address = client_address(request)  # the scraper's own, also behind a trusted proxy
    return address is not None and any(ip_address(address) in n for n in networks)


@require_GET
def metrics(request):
    """The metrics, for a scraper with the token or from an allowed address."""
    if not _allowed(request):
        return HttpResponse("A valid metrics token is required.\n", status=401)
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)


class RequestTimingMiddleware:
    """Observe each request's time in Django under its view name (``usage:page``...)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match else "unmatched"
        REQUEST_DURATION.labels(view, request.method).observe(time.perf_counter() - started)
        return response
