"""The organisation settings pages, mounted at /settings/."""

from django.urls import path

from orgsettings import views

app_name = "orgsettings"

urlpatterns = [
    path("workspaces/", views.workspaces, name="workspaces"),
    path("workspaces/<int:pk>/rename/", views.rename_workspace, name="rename_workspace"),
    path("api-keys/", views.api_keys, name="api_keys"),
    path("api-keys/<int:pk>/rename/", views.rename_api_key, name="rename_api_key"),
    path("api-keys/<int:pk>/status/", views.set_api_key_status, name="set_api_key_status"),
    path("accounts/", views.accounts, name="accounts"),
    path("accounts/<int:pk>/member/", views.link_account, name="link_account"),
    path("ingest-keys/", views.ingest_keys, name="ingest_keys"),
    path("ingest-keys/create/", views.create_ingest_key, name="create_ingest_key"),
    path("ingest-keys/<int:pk>/revoke/", views.revoke_ingest_key, name="revoke_ingest_key"),
    path("admin-keys/", views.admin_keys, name="admin_keys"),
    path("admin-keys/create/", views.create_admin_key, name="create_admin_key"),
    path("admin-keys/<int:pk>/revoke/", views.revoke_admin_key, name="revoke_admin_key"),
    path("limits/", views.limits, name="limits"),
    path("limits/set/", views.set_limit, name="set_limit"),
]
