from django.apps import AppConfig


class SpendConfig(AppConfig):
    name = "spend"
    verbose_name = "Spend limits and alerts"
