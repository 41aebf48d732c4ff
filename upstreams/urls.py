"""The upstreams settings pages, mounted at /settings/upstreams/."""

from django.urls import path

from upstreams import views

app_name = "upstreams"

urlpatterns = [
    path("", views.upstream_list, name="list"),
    path("add/", views.add_upstream, name="add"),
    path("<int:pk>/edit/", views.edit_upstream, name="edit"),
    path("<int:pk>/pause/", views.pause_upstream, name="pause"),
    path("<int:pk>/pull/", views.pull_now, name="pull"),
    path("<int:pk>/delete/", views.delete_upstream, name="delete"),
]
