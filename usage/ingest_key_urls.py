from django.urls import path

from usage import manage_views as views

app_name = "ingest_keys"

urlpatterns = [
    path("", views.ingest_keys, name="list"),
    path("create/", views.create_ingest_key, name="create"),
    path("<int:pk>/revoke/", views.revoke_ingest_key, name="revoke"),
]
