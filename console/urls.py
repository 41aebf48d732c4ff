from django.contrib import admin
from django.urls import include, path

from console import views

urlpatterns = [
    path("", include(([path("", views.home, name="home")], "console"))),
    path("accounts/", include("accounts.urls")),
    path("usage/", include("usage.urls")),
    path("cost/", include("costs.urls")),
    path("settings/", include("usage.manage_urls")),
    path("settings/ingest-keys/", include("usage.ingest_key_urls")),
    path("api/", include("usage.api_urls")),
    path("", include("adminapi.urls")),  # /v1/, /docs/admin-api/, /settings/admin-keys/
    # Operators of this installation only (is_staff); organisation members never get in.
    path("ops/admin/", admin.site.urls),
]
