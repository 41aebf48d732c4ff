from django.urls import path

from usage.ingest import api, litellm_api

app_name = "api"

urlpatterns = [
    path("v1/logs", api.ingest_logs, name="logs"),
    path("v1/litellm", litellm_api.ingest_litellm, name="litellm"),
]
