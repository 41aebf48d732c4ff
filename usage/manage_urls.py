from django.urls import path

from usage import manage_views as views

app_name = "manage"

urlpatterns = [
    path("workspaces/", views.workspaces, name="workspaces"),
    path("workspaces/<int:pk>/rename/", views.rename_workspace, name="rename_workspace"),
    path("api-keys/", views.api_keys, name="api_keys"),
    path("api-keys/<int:pk>/rename/", views.rename_api_key, name="rename_api_key"),
    path("api-keys/<int:pk>/status/", views.set_api_key_status, name="set_api_key_status"),
    path("limits/", views.limits, name="limits"),
    path("limits/set/", views.set_limit, name="set_limit"),
]
