from django.contrib import admin
from django.urls import include, path

from console import views

urlpatterns = [
    path("", include(([path("", views.home, name="home")], "console"))),
    path("accounts/", include("accounts.urls")),
    path("usage/", include("usage.urls")),
    path("cost/", include("costs.urls")),
    path("ops/admin/", admin.site.urls),
]
