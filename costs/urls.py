from django.urls import path

from costs import views

app_name = "costs"

urlpatterns = [
    path("", views.cost_page, name="page"),
]
