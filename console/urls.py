from django.contrib import admin
from django.urls import include, path

from accounts import views as accounts_views
from costs.urls import me_urlpatterns

console_pages = [
    path("", accounts_views.home, name="home"),
    path("time-zone/", accounts_views.save_time_zone, name="save_time_zone"),
]

urlpatterns = [
    path("", include((console_pages, "console"))),
    path("accounts/", include("accounts.urls")),
    path("usage/", include("usage.urls")),
    path("cost/", include("costs.urls")),
    path("me/", include((me_urlpatterns, "me"))),
    path("settings/", include("orgsettings.urls")),
    path("settings/upstreams/", include("upstreams.urls")),
    path("", include("spend.urls")),  # /spend/ pages, /v1/meterboard/spend_limits
    path("api/", include("usage.ingest.urls")),
    path("", include("adminapi.urls")),  # /v1/, /docs/admin-api/, /settings/admin-keys/
    path("otlp/", include("usage.ingest.otlp_urls")),
    # Operators of this installation only (is_staff); organisation members never get in.
    path("ops/admin/", admin.site.urls),
]
