"""The Limits page (``spend``: Admins and Billing, signed in) and the read endpoint for
gateways (``spend_api``: an Admin API key, the Admin API's auth and error shape)."""

from django.urls import include, path

from spend import views

page_patterns = [
    path("", views.page, name="page"),
    path("create/", views.create_limit, name="create"),
    path("<int:pk>/edit/", views.edit_limit, name="edit"),
    path("<int:pk>/delete/", views.delete_limit, name="delete"),
    path("endpoints/create/", views.create_endpoint, name="create_endpoint"),
    path("endpoints/<int:pk>/delete/", views.delete_endpoint, name="delete_endpoint"),
    path("chargeback/", views.chargeback_report, name="chargeback"),
    path("focus.csv", views.focus_export, name="focus"),
    path("focus-metadata.json", views.focus_metadata, name="focus_metadata"),
]

api_patterns = [
    path("spend_limits", views.limits_api, name="limits"),
]

urlpatterns = [
    path("spend/", include((page_patterns, "spend"))),
    path("v1/meterboard/", include((api_patterns, "spend_api"))),
]
