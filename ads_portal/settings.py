"""Settings read from the environment, with embedded defaults.

With nothing set the portal runs embedded: SQLite, an in-memory channel layer and
Celery tasks executed eagerly in the calling process. `DATABASE_URL` switches to
PostgreSQL (or any database dj-database-url understands) and `REDIS_URL` switches
the channel layer and the Celery broker to Redis.
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


SECRET_KEY = os.environ.get("SECRET_KEY", "insecure-dev-key-change-me-in-production")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_htmx",
    "django_filters",
    "simple_history",
    "channels",
    "accounts",
    "audit",
    "telemetry",
    "detections",
    "triage",
    "validation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "ads_portal.middleware.StripControlCharactersMiddleware",
    "ads_portal.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "accounts.middleware.LoginRequiredEverywhereMiddleware",
]

ROOT_URLCONF = "ads_portal.urls"

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
            ],
            # Page pieces every template uses (one date format, short ids with copy buttons).
            "builtins": ["ads_portal.ui"],
        },
    },
]

WSGI_APPLICATION = "ads_portal.wsgi.application"
ASGI_APPLICATION = "ads_portal.asgi.application"

DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # WAL lets the dev server read while an ingest or worker writes.
            # IMMEDIATE: a writer takes the lock at BEGIN and waits up to `timeout` for it, rather than
            # failing with "database is locked" when it upgrades a read (one ingest is bounded by
            # INGEST_MAX_SECONDS, below the timeout).
            "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;", "timeout": 90, "transaction_mode": "IMMEDIATE"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# One date format everywhere (ads_portal/formats/en/formats.py), admin included.
FORMAT_MODULE_PATH = ["ads_portal.formats"]
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# Serve straight from the app and project static folders: no collectstatic needed to run the demo.
WHITENOISE_USE_FINDERS = True

REDIS_URL = os.environ.get("REDIS_URL", "")

if REDIS_URL:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: eager in the embedded default so a fresh checkout needs no worker.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BEAT_SCHEDULE = {
    "detect-pending-events": {"task": "detections.tasks.detect_pending_events", "schedule": 30.0},
    "run-scheduled-analytics": {"task": "detections.tasks.run_scheduled_analytics", "schedule": 300.0},
    "raise-pending-alerts": {"task": "triage.tasks.raise_pending_alerts", "schedule": 60.0},
    "check-source-health": {"task": "telemetry.tasks.check_source_health", "schedule": 60.0},
    "purge-old-events": {"task": "telemetry.tasks.purge_old_events", "schedule": 3600.0},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Sessions only: HTTP basic allowed password guessing without CSRF or the login throttle.
        # Ingest sources authenticate with their own bearer tokens (telemetry.api).
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    # Every error body has a `detail` sentence; field errors stay under `errors`.
    "EXCEPTION_HANDLER": "ads_portal.api.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ADS Portal API",
    "VERSION": "1.0.0",
    # Several models have a `status`; name each enum after its model instead of StatusXXXEnum.
    "ENUM_NAME_OVERRIDES": {
        "StrategyStatusEnum": "detections.models.Strategy.Status",
        "RuleStatusEnum": "detections.models.DetectionRule.Status",
        "RunStatusEnum": "detections.models.DetectionRun.Status",
        "AlertStatusEnum": "triage.models.Alert.Status",
        "RuleKindEnum": "detections.models.DetectionRule.Kind",
        "RunKindEnum": "detections.models.DetectionRun.Kind",
        # Rule levels and alert severities are one scale.
        "SeverityLevelEnum": "triage.models.Severity",
        "FindingSeverityEnum": ["error", "warning", "info"],
    },
}

# Ingestion limits: telemetry is attacker-controlled, so every size is bounded.
INGEST_MAX_BODY_BYTES = env_int("INGEST_MAX_BODY_BYTES", 50 * 1024 * 1024)
INGEST_MAX_DECOMPRESSED_BYTES = env_int("INGEST_MAX_DECOMPRESSED_BYTES", 200 * 1024 * 1024)
EVENT_RETENTION_DAYS = env_int("EVENT_RETENTION_DAYS", 30)
# Bounds on one delivery (telemetry.services.ingest_stream; the CLI's local files are unbounded).
# Events outside [earliest, receipt + max future] are rejected: they would poison source health.
INGEST_EARLIEST_EVENT_TIME = os.environ.get("INGEST_EARLIEST_EVENT_TIME", "2000-01-01T00:00:00+00:00")
INGEST_MAX_FUTURE_SECONDS = env_int("INGEST_MAX_FUTURE_SECONDS", 24 * 3600)
INGEST_MAX_LINES = env_int("INGEST_MAX_LINES", 5_000_000)
INGEST_MAX_BLANK_LINES = env_int("INGEST_MAX_BLANK_LINES", 100_000)
# Below the SQLite busy timeout, so a concurrent ingest waits for this one instead of failing.
INGEST_MAX_SECONDS = env_int("INGEST_MAX_SECONDS", 60)
DATA_UPLOAD_MAX_MEMORY_SIZE = INGEST_MAX_BODY_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# The Kubernetes cluster response actions apply to (isolate a container's pod with a NetworkPolicy).
# Unset: nothing is applied, the policy is offered as a manifest to download.
ADS_KUBERNETES = (
    {
        "host": os.environ["ADS_K8S_HOST"],
        "token": os.environ.get("ADS_K8S_TOKEN", ""),
        "ca_cert": os.environ.get("ADS_K8S_CA_CERT", ""),
        "verify_ssl": env_bool("ADS_K8S_VERIFY_SSL", True),
        "timeout_seconds": float(os.environ.get("ADS_K8S_TIMEOUT_SECONDS") or 5),
    }
    if os.environ.get("ADS_K8S_HOST")
    else None
)

# Where the shared real-data corpora live (tests and benchmarks read from here).
# Looked for beside the checkout first, then at the workspace's fixed location (a CI clone may live elsewhere).
_SHARED_DATA_CANDIDATES = [BASE_DIR.parent / "shared" / "data", Path("/work/shared/data")]
SHARED_DATA_DIR = Path(
    os.environ.get("ADS_SHARED_DATA")
    or next((str(p) for p in _SHARED_DATA_CANDIDATES if p.is_dir()), str(_SHARED_DATA_CANDIDATES[0]))
)

# Access control (issue 13): what an analyst's suppression may cover, and login throttling.
# An analyst's suppression is scoped to a rule or strategy and expires within this many days;
# one that would have hidden more past matches than this needs a detection engineer.
SUPPRESSION_ANALYST_MAX_DAYS = env_int("SUPPRESSION_ANALYST_MAX_DAYS", 30)
SUPPRESSION_ANALYST_MAX_PAST_MATCHES = env_int("SUPPRESSION_ANALYST_MAX_PAST_MATCHES", 50)
SUPPRESSION_MIN_LITERAL_CHARACTERS = 2  # "ci" is a namespace; "a*" matches nearly everything
# Failed logins within the window lock the username (or the client address) out; counters in CACHES.
LOGIN_FAILURES_PER_USERNAME = env_int("LOGIN_FAILURES_PER_USERNAME", 5)
LOGIN_FAILURES_PER_IP = env_int("LOGIN_FAILURES_PER_IP", 20)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 900)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900)
AUTHENTICATION_BACKENDS = ["accounts.backends.ThrottledModelBackend"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
