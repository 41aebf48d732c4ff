"""Meterboard settings, read strictly from the environment.

Two modes: ``METERBOARD_MODE=dev`` (the embedded default used by ``make run`` and
``make test``: SQLite, in-process tasks, a throwaway secret key, the demo app) and
``production`` (the default when nothing is said: every secret must be given, cookies are
secure, no demo).
A value that cannot be understood raises ImproperlyConfigured naming the variable.
"""

import base64
import binascii
import hashlib
import ipaddress
import os
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("METERBOARD_VAR_DIR", BASE_DIR / "var"))

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use true or false.")


def env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_networks(name: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """A comma-separated list of addresses and CIDR networks, e.g. ``10.0.0.5,fd00::/8``."""
    networks = []
    for item in env_list(name, []):
        try:
            networks.append(ipaddress.ip_network(item))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"{name}: {item!r} is not an IP address or CIDR network ({exc})."
            ) from None
    return tuple(networks)


MODE = os.environ.get("METERBOARD_MODE", "production").strip().lower()
if MODE not in {"dev", "production"}:
    raise ImproperlyConfigured(f"METERBOARD_MODE={MODE!r} must be 'dev' or 'production'.")
DEV = MODE == "dev"

DEBUG = env_bool("DEBUG", default=DEV)
if DEBUG and not DEV:
    raise ImproperlyConfigured("DEBUG=true is only allowed with METERBOARD_MODE=dev.")

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEV:
        raise ImproperlyConfigured(
            "SECRET_KEY is required in production; generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`."
        )
    SECRET_KEY = "dev-only-insecure-key-never-use-in-production-0123456789abcdef"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"] if DEV else [])
if not ALLOWED_HOSTS and not DEV:
    raise ImproperlyConfigured("ALLOWED_HOSTS is required in production (comma-separated).")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "csp",
    "console",
    "accounts",
    "usage",
    "costs",
    "orgsettings",
    "adminapi",
    "spend",
    "upstreams",
]
if DEV:
    # The demo generator and seed_demo, whose logins share a published password, exist only
    # where that password is allowed.
    INSTALLED_APPS.append("demo")

MIDDLEWARE = [
    "console.middleware.ServerTimingMiddleware",
    "adminapi.metrics.RequestTimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.middleware.CurrentOrganizationMiddleware",
    "console.middleware.ReportNotFoundMiddleware",
]

ROOT_URLCONF = "console.urls"
WSGI_APPLICATION = "console.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.navigation",
            ],
        },
    },
]


def _database(url: str) -> dict:
    scheme = urlparse(url).scheme
    if scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
        raise ImproperlyConfigured(
            f"DATABASE_URL scheme {scheme!r} is not supported; use postgres:// or sqlite:///."
        )
    try:
        config = dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL cannot be parsed: {exc}") from None
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    else:
        config["CONN_HEALTH_CHECKS"] = True
        test_name = env_str("TEST_DATABASE_NAME")
        if test_name:
            config["TEST"] = {"NAME": test_name}
    return config


DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'meterboard.sqlite3'}"
DATABASES = {"default": _database(DATABASE_URL)}
USING_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "console:home"
LOGOUT_REDIRECT_URL = "accounts:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"  # storage and server clock; people choose their own zone on the pages
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEV
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Celery: without a broker, tasks run in-process (the embedded default).
REDIS_URL = env_str("REDIS_URL")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
ROLLUP_INTERVAL_SECONDS = env_int("ROLLUP_INTERVAL_SECONDS", 10, minimum=1)
RAW_RETENTION_DAYS = env_int("RAW_RETENTION_DAYS", 400, minimum=1)
# Minute buckets serve the minute drill of recent incidents and are dropped a UTC day at a
# time after this many days (0 keeps them forever); every other figure reads quarter hours.
MINUTE_RETENTION_DAYS = env_int("MINUTE_RETENTION_DAYS", 35, minimum=0)
# Usage and Cost reports of periods that are over are kept in the cache while their buckets,
# prices and names are unchanged (usage/kept.py): how long at most (0: never kept), and the
# largest report kept (pickled).
REPORT_CACHE_SECONDS = env_int("REPORT_CACHE_SECONDS", 86_400, minimum=0)
REPORT_CACHE_MAX_BYTES = env_int("REPORT_CACHE_MAX_BYTES", 32 * 1024 * 1024, minimum=0)
INGEST_MAX_BODY_BYTES = env_int("INGEST_MAX_BODY_BYTES", 10 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEV
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "meterboard@localhost")

# Security: strict in production, relaxed only for the local dev server.
SESSION_COOKIE_SECURE = not DEV
CSRF_COOKIE_SECURE = not DEV
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEV)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEV else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEV
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEV)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp 4's format): scripts, styles and everything else only
# from our own origin; no inline script or style, no eval. Chart data rides in
# <script type="application/json">, which a browser parses but never runs. plotly.js's
# own rules come from a stylesheet (templates/console/_plotly.html), htmx's indicator
# styles are switched off (base.html), so neither needs 'unsafe-inline'.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Peers whose X-Forwarded-For names the client for sign-in throttling (accounts/throttle.py);
# from anyone else the header is ignored, since a client can write it.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")

# The Admin API (adminapi/): requests per minute per Admin key, and whether the cost report
# includes Priority Tier by default (Anthropic's leaves it out).
ADMINAPI_RATE_LIMIT_PER_MINUTE = env_int("ADMINAPI_RATE_LIMIT_PER_MINUTE", 300, minimum=1)
ADMINAPI_COST_INCLUDE_PRIORITY_TIER = env_bool("ADMINAPI_COST_INCLUDE_PRIORITY_TIER", False)
# GET /metrics answers a scraper with this bearer token or from these networks; neither: 404.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
METRICS_ALLOWED_IPS = env_networks("METRICS_ALLOWED_IPS")

# Pulling usage from upstreams (upstreams/): how often beat pulls, how many minutes after
# its end a minute counts as settled (Anthropic says its data lands within about five
# minutes), and how many minutes one run may import. Upstream keys are encrypted at rest
# with UPSTREAM_KEYS_SECRET: comma-separated Fernet keys (``Fernet.generate_key()``), the
# first encrypts, all decrypt, so a new key goes first and the old ones stay until
# ``manage.py reencrypt_upstream_keys`` has run. In dev it is derived from SECRET_KEY; in
# production it has no default (upstream keys cannot be stored without it).
UPSTREAM_KEYS_SECRET = env_list("UPSTREAM_KEYS_SECRET", [])
for _key in UPSTREAM_KEYS_SECRET:
    try:
        _valid = len(base64.urlsafe_b64decode(_key.encode())) == 32
    except (ValueError, binascii.Error):
        _valid = False
    if not _valid:
        raise ImproperlyConfigured(
            "UPSTREAM_KEYS_SECRET: each comma-separated key must be a Fernet key (32 bytes in "
            "URL-safe base64, as cryptography's Fernet.generate_key() prints)."
        )
if not UPSTREAM_KEYS_SECRET and DEV:
    UPSTREAM_KEYS_SECRET = [
        base64.urlsafe_b64encode(
            hashlib.sha256(f"upstream-keys:{SECRET_KEY}".encode()).digest()
        ).decode()
    ]
UPSTREAM_PULL_INTERVAL_SECONDS = env_int("UPSTREAM_PULL_INTERVAL_SECONDS", 60, minimum=10)
UPSTREAM_SETTLE_MINUTES = env_int("UPSTREAM_SETTLE_MINUTES", 10, minimum=0)
UPSTREAM_MAX_MINUTES_PER_RUN = env_int("UPSTREAM_MAX_MINUTES_PER_RUN", 44_640, minimum=1)
UPSTREAM_TIMEOUT_SECONDS = env_int("UPSTREAM_TIMEOUT_SECONDS", 30, minimum=1)
# A 429's retry-after is waited out up to this long (then the run stops, to resume later).
UPSTREAM_MAX_RETRY_AFTER_SECONDS = env_int("UPSTREAM_MAX_RETRY_AFTER_SECONDS", 60, minimum=0)
# Upstream URLs on private or loopback addresses (another Meterboard on the same network).
UPSTREAM_ALLOW_PRIVATE = env_bool("UPSTREAM_ALLOW_PRIVATE", DEV)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# Spend limits (spend/): how often limits are evaluated (after rollups, which run every
# ROLLUP_INTERVAL_SECONDS), how alert deliveries retry, and whether a webhook may reach a
# private or loopback address (refused in production unless the operator allows it: no
# server-side request forgery through alerts).
SPEND_EVALUATION_INTERVAL_SECONDS = env_int("SPEND_EVALUATION_INTERVAL_SECONDS", 30, minimum=1)
SPEND_DELIVERY_MAX_RETRIES = env_int("SPEND_DELIVERY_MAX_RETRIES", 10, minimum=0)
SPEND_DELIVERY_BACKOFF_SECONDS = env_int("SPEND_DELIVERY_BACKOFF_SECONDS", 5, minimum=1)
SPEND_DELIVERY_BACKOFF_MAX_SECONDS = env_int("SPEND_DELIVERY_BACKOFF_MAX_SECONDS", 3600, minimum=1)
SPEND_DELIVERY_STALL_SECONDS = env_int("SPEND_DELIVERY_STALL_SECONDS", 300, minimum=1)
SPEND_WEBHOOK_ALLOW_PRIVATE = env_bool("SPEND_WEBHOOK_ALLOW_PRIVATE", DEV)
CELERY_BEAT_SCHEDULE = {
    "evaluate spend limits": {
        "task": "spend.tasks.evaluate_limits",
        "schedule": SPEND_EVALUATION_INTERVAL_SECONDS,
        "options": {"expires": SPEND_EVALUATION_INTERVAL_SECONDS},
    },
}
