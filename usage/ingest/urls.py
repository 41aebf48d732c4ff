from django.urls import path

from usage.ingest import api

app_name = "api"

urlpatterns = [
    path("v1/logs", api.ingest_logs, name="logs"),
]
