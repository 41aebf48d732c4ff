"""Settings read the environment strictly; production settings pass the deploy checks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "METERBOARD_MODE": "production",
    "SECRET_KEY": "x" * 30 + "-production-secret-for-the-deploy-check-only",
    "ALLOWED_HOSTS": "meterboard.example.com",
}


def run(code: str, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("METERBOARD_", "DEBUG"))}
    clean.pop("SECRET_KEY", None)
    clean.pop("ALLOWED_HOSTS", None)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


SETTINGS = "import console.settings as s; print(s.DEBUG, s.SECRET_KEY[:3], s.ALLOWED_HOSTS)"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"METERBOARD_MODE": "production"}, "SECRET_KEY is required"),
        ({"METERBOARD_MODE": "staging"}, "METERBOARD_MODE='staging'"),
        ({**PRODUCTION, "ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS is required"),
        ({**PRODUCTION, "DEBUG": "true"}, "DEBUG=true is only allowed"),
        ({"METERBOARD_MODE": "dev", "DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"METERBOARD_MODE": "dev", "DATABASE_URL": "mysql://x/y"}, "scheme 'mysql'"),
        ({"METERBOARD_MODE": "dev", "RAW_RETENTION_DAYS": "soon"}, "is not an integer"),
        ({"METERBOARD_MODE": "dev", "RAW_RETENTION_DAYS": "0"}, "must be at least 1"),
        ({"METERBOARD_MODE": "dev", "MINUTE_RETENTION_DAYS": "35d"}, "is not an integer"),
        ({"METERBOARD_MODE": "dev", "MINUTE_RETENTION_DAYS": "-1"}, "must be at least 0"),
        (
            {"METERBOARD_MODE": "dev", "TRUSTED_PROXIES": "10.0.0.2,proxy.internal"},
            "TRUSTED_PROXIES: 'proxy.internal' is not an IP address or CIDR network",
        ),
        (
            {"METERBOARD_MODE": "dev", "TRUSTED_PROXIES": "10.0.0.2/24"},
            "TRUSTED_PROXIES: '10.0.0.2/24' is not an IP address or CIDR network",
        ),
        (
            {"METERBOARD_MODE": "dev", "METRICS_ALLOWED_IPS": "scraper"},
            "METRICS_ALLOWED_IPS: 'scraper' is not an IP address or CIDR network",
        ),
        ({"METERBOARD_MODE": "dev", "ADMINAPI_RATE_LIMIT_PER_MINUTE": "0"}, "must be at least 1"),
    ],
)
def test_bad_values_raise_improperly_configured(env, message):
    result = run(SETTINGS, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_production_defaults_are_safe():
    result = run(
        SETTINGS + "; print(s.SESSION_COOKIE_SECURE, s.SECURE_HSTS_SECONDS > 0)", **PRODUCTION
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "xxx", "['meterboard.example.com']", "True", "True"]


def test_trusted_proxies_are_addresses_and_networks_and_none_by_default():
    show = "import console.settings as s; print([str(n) for n in s.TRUSTED_PROXIES])"
    assert run(show, **PRODUCTION).stdout.strip() == "[]"
    result = run(show, **PRODUCTION, TRUSTED_PROXIES=" 10.0.0.2, 172.16.0.0/12,,fd00::/8 ")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['10.0.0.2/32', '172.16.0.0/12', 'fd00::/8']"


def test_minute_retention_is_35_days_by_default_and_0_keeps_minutes_forever():
    show = "import console.settings as s; print(s.MINUTE_RETENTION_DAYS)"
    assert run(show, METERBOARD_MODE="dev").stdout.strip() == "35"
    assert run(show, METERBOARD_MODE="dev", MINUTE_RETENTION_DAYS="0").stdout.strip() == "0"


def test_dev_mode_needs_no_configuration():
    result = run(SETTINGS, METERBOARD_MODE="dev")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "True"


def test_check_deploy_is_clean_with_production_settings():
    # The deploy check judges a production environment, not this test runner's (the browser
    # tests set DJANGO_ALLOW_ASYNC_UNSAFE for themselves).
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update(PRODUCTION)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


APPS_AND_COMMANDS = (
    "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'console.settings'; "
    "django.setup(); from django.apps import apps; "
    "from django.core.management import get_commands; "
    "print(apps.is_installed('demo'), 'seed_demo' in get_commands())"
)


def test_only_dev_mode_installs_the_demo_app_and_seed_demo():
    # seed_demo creates logins with the password the README publishes.
    production = run(APPS_AND_COMMANDS, **PRODUCTION)
    assert production.returncode == 0, production.stderr
    assert production.stdout.split() == ["False", "False"]
    dev = run(APPS_AND_COMMANDS, METERBOARD_MODE="dev")
    assert dev.returncode == 0, dev.stderr
    assert dev.stdout.split() == ["True", "True"]
