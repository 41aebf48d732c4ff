from django.contrib import admin
from django.urls import include, path

from console import views

console_pages = [
    path("", views.home, name="home"),
    path("time-zone/", views.save_time_zone, name="save_time_zone"),
]

urlpatterns = [
    path("", include((console_pages, "console"))),
    path("accounts/", include("accounts.urls")),
    path("usage/", include("usage.urls")),
    path("cost/", include("costs.urls")),
    path("settings/", include("usage.manage_urls")),
    path("settings/ingest-keys/", include("usage.ingest_key_urls")),
    path("api/", include("usage.api_urls")),
    # Operators of this installation only (is_staff); organisation members never get in.
    path("ops/admin/", admin.site.urls),
]
