"""Anthropic's Admin API paths under /v1/organizations/, and the Admin keys settings page."""

from django.urls import path

from adminapi import views

app_name = "adminapi"

urlpatterns = [
    path("v1/organizations/usage_report/messages", views.usage_messages, name="usage_messages"),
    path("v1/organizations/cost_report", views.cost_report, name="cost_report"),
    path("v1/organizations/workspaces", views.workspace_list, name="workspaces"),
    path(
        "v1/organizations/workspaces/<str:workspace_id>",
        views.workspace_detail,
        name="workspace",
    ),
    path("v1/organizations/api_keys", views.api_key_list, name="api_keys"),
    path("v1/organizations/api_keys/<str:api_key_id>", views.api_key_detail, name="api_key"),
    path("v1/<path:rest>", views.not_found),
    path("settings/admin-keys/", views.admin_keys, name="admin_keys"),
    path("settings/admin-keys/create/", views.create_admin_key, name="create_admin_key"),
    path("settings/admin-keys/<int:pk>/revoke/", views.revoke_admin_key, name="revoke_admin_key"),
]
