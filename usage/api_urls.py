from django.urls import path

from usage import api

app_name = "api"

urlpatterns = [
    path("v1/logs", api.ingest_logs, name="logs"),
]
