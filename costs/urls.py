from django.urls import path

from costs import views

app_name = "costs"

urlpatterns = [
    path("", views.cost_page, name="page"),
    path("export.csv", views.cost_export, name="export"),
    path("export.xlsx", views.cost_excel, name="excel"),
    path("prices/", views.prices, name="prices"),
    path("prices/add-model-price/", views.add_model_price, name="add_model_price"),
    path("prices/add-tool-price/", views.add_tool_price, name="add_tool_price"),
]

# A person's own pages, mounted at /me/ (console/urls.py).
me_urlpatterns = [
    path("usage/", views.my_usage, name="usage"),
]
