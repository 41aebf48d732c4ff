from django.urls import path

from usage.ingest import otlp_api

app_name = "otlp"

# An exporter appends v1/<signal> to OTEL_EXPORTER_OTLP_ENDPOINT; per-signal endpoints are
# taken as written, so a trailing slash is routed too (APPEND_SLASH cannot redirect a POST).
urlpatterns = [
    path("v1/logs", otlp_api.export_logs, name="logs"),
    path("v1/logs/", otlp_api.export_logs),
    path("v1/traces", otlp_api.export_traces, name="traces"),
    path("v1/traces/", otlp_api.export_traces),
    path("v1/metrics", otlp_api.export_metrics, name="metrics"),
    path("v1/metrics/", otlp_api.export_metrics),
]
