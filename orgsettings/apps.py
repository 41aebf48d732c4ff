from django.apps import AppConfig


class OrgSettingsConfig(AppConfig):
    name = "orgsettings"
    verbose_name = "Organisation settings"
