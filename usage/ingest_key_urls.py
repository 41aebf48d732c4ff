"""The Ingest keys settings page (Admin only), mounted at /settings/ingest-keys/.

The views live with the other settings pages (``usage.manage_views``, with their tabs);
the services are in ``usage.ingest.keys``.
"""

from django.urls import path

from usage import manage_views as views

app_name = "ingest_keys"

urlpatterns = [
    path("", views.ingest_keys, name="list"),
    path("create/", views.create_ingest_key, name="create"),
    path("<int:pk>/revoke/", views.revoke_ingest_key, name="revoke"),
]
