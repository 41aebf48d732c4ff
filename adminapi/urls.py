"""Anthropic's Admin API paths under /v1/ (namespace ``adminapi``, machines, key-authenticated),
its reference and OpenAPI document (``admin_api_docs``, public) and the operators'
``/metrics``. The Admin keys settings page is ``orgsettings``'."""

from django.urls import include, path

from adminapi import docs, metrics, views

api_patterns = [
    path("organizations/usage_report/messages", views.usage_messages, name="usage_messages"),
    path("organizations/cost_report", views.cost_report, name="cost_report"),
    path("organizations/workspaces", views.workspace_list, name="workspaces"),
    path("organizations/workspaces/<str:workspace_id>", views.workspace_detail, name="workspace"),
    path("organizations/api_keys", views.api_key_list, name="api_keys"),
    path("organizations/api_keys/<str:api_key_id>", views.api_key_detail, name="api_key"),
    path("<path:rest>", views.not_found, name="not_found"),
]

doc_patterns = [
    path("", docs.reference, name="reference"),
    path("openapi.json", docs.openapi_json, name="openapi"),
]

urlpatterns = [
    path("v1/", include((api_patterns, "adminapi"))),
    path("docs/admin-api/", include((doc_patterns, "admin_api_docs"))),
    path("metrics", include(([path("", metrics.metrics, name="metrics")], "ops_metrics"))),
]
