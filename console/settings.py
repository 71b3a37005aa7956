"""Settings, read from the environment only (12-factor).

Production (the default) refuses to start without SECRET_KEY, DATABASE_URL and REDIS_URL.
`EMBEDDED=1` (set by `manage.py up` unless already set) supplies the quickstart defaults instead:
SQLite and a filesystem Celery broker under `var/`, and a secret key generated into `var/`.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from console import egress, public_url

BASE_DIR = Path(__file__).resolve().parent.parent


class _RecordingEnv(environ.Env):
    """`environ.Env` that remembers every variable the settings read: secret references
    (console/secret_refs.py) may never name one of them, whatever the allow-list says."""

    def __init__(self, **scheme: object) -> None:
        super().__init__(**scheme)
        self.read_names: set[str] = set()

    def get_value(self, var: str, *args: object, **kwargs: object) -> object:
        self.read_names.add(var)
        return super().get_value(var, *args, **kwargs)


env = _RecordingEnv()
# A live view: variables read further down (by any section) land here too.
SETTINGS_ENV_NAMES = env.read_names
DEBUG = env.bool("DEBUG", default=False)
EMBEDDED = env.bool("EMBEDDED", default=False)
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))


def _embedded_secret_key() -> str:
    """A secret generated once per checkout for the quickstart; never a fixed string."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def _required(name: str) -> str:
    value = env.str(name, default="")
    if not value:
        raise ImproperlyConfigured(
            f"{name} is required when DEBUG is off (set it in the environment, "
            f"or run the quickstart with EMBEDDED=1)."
        )
    return value


def _env_number(name: str, default: float, low: float, high: float, *, integer: bool = True):
    """A number from the environment within [low, high]; anything else stops startup, naming it."""
    raw = env.str(name, default="").strip()
    if not raw:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ImproperlyConfigured(f"{name}: {raw!r} is not {kind}.") from None
    if not low <= value <= high:
        raise ImproperlyConfigured(f"{name}: {raw} is outside {low:g}-{high:g}.")
    return value


def _env_flag(name: str, default: bool) -> bool:
    """1/0, true/false, yes/no, on/off; anything else stops startup, naming the variable."""
    raw = env.str(name, default="").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}: {raw!r} is not a switch (use 1 or 0).")


if env.str("SECRET_KEY", default=""):
    SECRET_KEY = env.str("SECRET_KEY")
elif EMBEDDED or DEBUG:
    SECRET_KEY = _embedded_secret_key()
else:
    SECRET_KEY = _required("SECRET_KEY")

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if (DEBUG or EMBEDDED) else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

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
    "ninja",  # serves Swagger UI from static/ (without it /api/v1/docs loads a CDN the CSP refuses)
    "template_partials",
    "django_filters",
    "django_celery_beat",
    "axes",
    "console",
    "console.notifications",
    "fleet",
    "fleet.budgets",
    "fleet.saved_views",
    "checks",
    "checks.audits",
]

MIDDLEWARE = [
    "console.healthz_host.HealthzAnyHostMiddleware",  # probes by the instance's own address
    "console.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "console.input_guard.RejectUnstorableInputMiddleware",
    "console.timezones.ViewerTimeZoneMiddleware",
    "console.access.LoginRequiredExceptApiMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "console.broker.BrokerUnavailableMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "console.urls"
WSGI_APPLICATION = "console.wsgi.application"
ASGI_APPLICATION = "console.asgi.application"

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
                "console.access.roles_context",
            ],
        },
    }
]

if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db_url("DATABASE_URL")}
elif EMBEDDED or DEBUG:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "console.sqlite3"}
    }
else:
    DATABASES = {"default": env.db_url_config(_required("DATABASE_URL"))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share the file. WAL: readers never wait for a writer. A writer waits
    # for the one before it instead of failing with "database is locked": as long as the longest
    # write transaction (a fleet import of 1,000 services held it ~20 s on a busy 2-core machine).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": _env_number("FLEET_SQLITE_BUSY_TIMEOUT_SECONDS", 60, 1, 3600),
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
elif EMBEDDED or DEBUG:
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
else:
    CELERY_BROKER_URL = _required("REDIS_URL")
# When the broker is down, an action that sends a task must fail fast with a clear message rather
# than hang the request: short connect/read timeouts and few publish retries.
FLEET_BROKER_TIMEOUT_SECONDS = _env_number(
    "FLEET_BROKER_TIMEOUT_SECONDS", 3, 0.5, 60, integer=False
)
CELERY_BROKER_CONNECTION_TIMEOUT = FLEET_BROKER_TIMEOUT_SECONDS
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}
if REDIS_URL:
    # A Redis that accepts connections but never answers (stopped with SIGSTOP, a dead proxy) is
    # given up on after the read timeout; it stays above the worker's 1 s BRPOP poll.
    _redis_timeouts = {
        "socket_connect_timeout": FLEET_BROKER_TIMEOUT_SECONDS,
        "socket_timeout": FLEET_BROKER_TIMEOUT_SECONDS + 2,
    }
    CELERY_BROKER_TRANSPORT_OPTIONS = dict(_redis_timeouts)
    CACHES["default"]["OPTIONS"] = dict(_redis_timeouts)
# Worker liveness and the reaper (console/heartbeat.py, console/reaper.py).
FLEET_WORKER_HEARTBEAT_SECONDS = _env_number("FLEET_WORKER_HEARTBEAT_SECONDS", 10, 1, 300)
FLEET_WORKER_STALE_SECONDS = _env_number("FLEET_WORKER_STALE_SECONDS", 60, 3, 3600)
if FLEET_WORKER_STALE_SECONDS < 2 * FLEET_WORKER_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        "FLEET_WORKER_STALE_SECONDS: must be at least twice FLEET_WORKER_HEARTBEAT_SECONDS "
        f"({2 * FLEET_WORKER_HEARTBEAT_SECONDS}), got {FLEET_WORKER_STALE_SECONDS}."
    )
FLEET_QUEUED_TIMEOUT_MINUTES = _env_number("FLEET_QUEUED_TIMEOUT_MINUTES", 60, 1, 7 * 24 * 60)
FLEET_RUN_TIMEOUT_HOURS = _env_number("FLEET_RUN_TIMEOUT_HOURS", 6, 1, 7 * 24)
FLEET_SWEEP_LAG_SECONDS = _env_number("FLEET_SWEEP_LAG_SECONDS", 120, 10, 24 * 3600)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = False
# Queues by kind, so a slow cloud API or a fleet audit cannot starve health checks: deployments
# run a worker pool per queue (deploy/, `manage.py up`); a worker started without -Q consumes all.
FLEET_TASK_QUEUES = ("probes", "cloud", "audits", "notifications", "celery")
CELERY_TASK_QUEUES = [Queue(name) for name in FLEET_TASK_QUEUES]
CELERY_TASK_DEFAULT_QUEUE = "celery"  # fleet imports and housekeeping (the reaper)
CELERY_TASK_ROUTES = {
    "checks.*": {"queue": "probes"},
    "fleet.redeploy_task": {"queue": "cloud"},
    "fleet.redeploy_batch_task": {"queue": "cloud"},
    "fleet.apply_scaling_task": {"queue": "cloud"},
    "fleet.sync_service_task": {"queue": "cloud"},
    "fleet.sync_scaling_task": {"queue": "cloud"},
    "budgets.*": {"queue": "cloud"},
    "audits.*": {"queue": "audits"},
    "notifications.*": {"queue": "notifications"},
}
# Any number of beat processes may run; only the holder of a leader lock (Redis, or a file lock
# on the embedded default) sends scheduled tasks (console/beat.py).
CELERY_BEAT_SCHEDULER = "console.beat:LeaderScheduler"
FLEET_BEAT_LOCK_SECONDS = _env_number("FLEET_BEAT_LOCK_SECONDS", 30, 6, 600)
CELERY_TIMEZONE = "UTC"

# Login throttling (django-axes): the console login and the admin login both go through
# authenticate(), where the throttle backend refuses a locked user or address first.
AUTHENTICATION_BACKENDS = [
    "console.login_throttle.ThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "console.login_throttle.ThrottleHandler"
AXES_FAILURE_LIMIT = _env_number("FLEET_LOGIN_FAILURE_LIMIT", 5, 2, 100)
AXES_COOLOFF_TIME = timedelta(minutes=_env_number("FLEET_LOGIN_LOCK_MINUTES", 15, 1, 7 * 24 * 60))
# A user name or an address reaching the limit is locked, whichever comes first.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# Tries while locked do not push the end of the lock further out: it ends when the page says.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked.html"
AXES_ENABLE_ADMIN = False  # console.admin registers the lock list with unlocks in the audit log
AXES_VERBOSE = False
# Wrong API bearer tokens from one address before it is refused (429) for FLEET_LOGIN_LOCK_MINUTES.
FLEET_API_TOKEN_FAILURE_LIMIT = _env_number("FLEET_API_TOKEN_FAILURE_LIMIT", 20, 2, 10_000)
# Behind N trusted proxies the client address is the Nth from the right in X-Forwarded-For (the
# nearest proxy is the connection's own address, so N-1 proxies are listed after the client).
# Addresses a client writes in front of the proxies' own entries are never read (see
# console/login_throttle.py client_address); the login lock and the API token limit share it.
FLEET_TRUSTED_PROXY_COUNT = _env_number("FLEET_TRUSTED_PROXY_COUNT", 0, 0, 10)
AXES_CLIENT_IP_CALLABLE = "console.login_throttle.client_address"
# Failures before the lock are answered more and more slowly: this long after the second,
# doubling each time, at most FLEET_LOGIN_SLOWDOWN_MAX_SECONDS.
FLEET_LOGIN_SLOWDOWN_SECONDS = _env_number(
    "FLEET_LOGIN_SLOWDOWN_SECONDS", 0.5, 0, 10, integer=False
)
FLEET_LOGIN_SLOWDOWN_MAX_SECONDS = _env_number(
    "FLEET_LOGIN_SLOWDOWN_MAX_SECONDS", 4, 0, 30, integer=False
)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# HTTPS. Production (not embedded, not DEBUG) redirects plain HTTP to HTTPS and sends HSTS;
# the quickstart on loopback has no certificate, so both default off there.
_PRODUCTION = not (DEBUG or EMBEDDED)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = _env_flag("SECURE_COOKIES", _PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = _env_flag("SECURE_SSL_REDIRECT", _PRODUCTION)
# Load-balancer and kubelet probes reach /healthz over plain HTTP on the pod's own address.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = _env_number(
    "SECURE_HSTS_SECONDS", 31_536_000 if _PRODUCTION else 0, 0, 2 * 31_536_000
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_flag("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Preloading is a promise for the whole domain that is slow to take back: the deployer opts in.
SECURE_HSTS_PRELOAD = _env_flag("SECURE_HSTS_PRELOAD", False)
# TLS ended at a load balancer that sets X-Forwarded-Proto: trust that header (only then).
if _env_flag("FLEET_TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
# check --deploy warns while preload is off (W021); off is the deliberate default above.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
    }
}

# The fleet's own knobs.
# The OpenAPI schema and /api/v1/docs for anonymous callers too (logged-in users always get them).
FLEET_API_DOCS_PUBLIC = env.bool("FLEET_API_DOCS_PUBLIC", default=False)
FLEET_DASHBOARD_PAGE_SIZE = env.int("FLEET_DASHBOARD_PAGE_SIZE", default=50)
FLEET_DASHBOARD_REFRESH_SECONDS = env.int("FLEET_DASHBOARD_REFRESH_SECONDS", default=10)

# Egress policy (console/egress.py): where probes, alerts and cloud calls may connect.
# Metadata and link-local addresses are refused always; these CIDR lists decide the rest.
try:
    FLEET_EGRESS_DENY = egress.parse_cidrs(
        "FLEET_EGRESS_DENY", env.str("FLEET_EGRESS_DENY", default="")
    )
    FLEET_EGRESS_ALLOW = egress.parse_cidrs(
        "FLEET_EGRESS_ALLOW", env.str("FLEET_EGRESS_ALLOW", default="")
    )
    egress.check_allow_list(FLEET_EGRESS_ALLOW, FLEET_EGRESS_DENY)
except ValueError as _exc:
    raise ImproperlyConfigured(str(_exc)) from None
FLEET_EGRESS_RESOLVER = None  # (host, port) -> addresses; a hook for tests, None = the system's

# Cloud operations.
FLEET_CLOUD_OPERATION_TIMEOUT_SECONDS = env.int(
    "FLEET_CLOUD_OPERATION_TIMEOUT_SECONDS", default=600
)
# Releases: a canary's default watch time and probe pace; how long `--wait` lets a job sit queued
# before it checks for a live worker.
FLEET_CANARY_WATCH_SECONDS = env.int("FLEET_CANARY_WATCH_SECONDS", default=300)
FLEET_CANARY_PROBE_INTERVAL_SECONDS = env.float("FLEET_CANARY_PROBE_INTERVAL_SECONDS", default=15)
FLEET_CLI_WORKER_GRACE_SECONDS = env.float("FLEET_CLI_WORKER_GRACE_SECONDS", default=3)
if not 1 <= FLEET_CANARY_WATCH_SECONDS <= 3600:
    raise ImproperlyConfigured(
        f"FLEET_CANARY_WATCH_SECONDS must be from 1 to 3600 (got {FLEET_CANARY_WATCH_SECONDS})."
    )
for _name in ("FLEET_CANARY_PROBE_INTERVAL_SECONDS", "FLEET_CLI_WORKER_GRACE_SECONDS"):
    if not 0 < globals()[_name] <= 3600:
        raise ImproperlyConfigured(f"{_name} must be more than 0 and at most 3600 seconds.")

# Health checks.
PROBE_RAW_RETENTION_HOURS = env.int("PROBE_RAW_RETENTION_HOURS", default=48)
PROBE_ROLLUP_RETENTION_DAYS = env.int("PROBE_ROLLUP_RETENTION_DAYS", default=90)
PROBE_BATCH_SIZE = env.int("PROBE_BATCH_SIZE", default=50)
PROBE_CONCURRENCY = env.int("PROBE_CONCURRENCY", default=100)

# Alerting.
ALERT_REMINDER_MINUTES = env.int("ALERT_REMINDER_MINUTES", default=60)
ALERT_DELIVERY_MAX_ATTEMPTS = env.int("ALERT_DELIVERY_MAX_ATTEMPTS", default=5)
ALERT_RETRY_BACKOFF_SECONDS = env.float("ALERT_RETRY_BACKOFF_SECONDS", default=30)
ALERT_RETRY_BACKOFF_MAX_SECONDS = env.float("ALERT_RETRY_BACKOFF_MAX_SECONDS", default=1800)
ALERT_HTTP_TIMEOUT_SECONDS = env.float("ALERT_HTTP_TIMEOUT_SECONDS", default=10)
# The console's public URL: links in alert messages are absolute with it (console/public_url.py).
CONSOLE_BASE_URL = public_url.parse_public_url(
    "CONSOLE_BASE_URL", env.str("CONSOLE_BASE_URL", default="")
)
# smtp+tls://user:pass@host:587; the default prints mail to the console log.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="fleet-console@localhost")
if EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend":  # noqa: F821 (email_url)
    EMAIL_BACKEND = "console.notifications.smtp.EmailBackend"  # under the egress policy
    if _problem := egress.EgressPolicy(FLEET_EGRESS_ALLOW, FLEET_EGRESS_DENY).host_problem(
        EMAIL_HOST  # noqa: F821 (set by email_url)
    ):
        raise ImproperlyConfigured(f"EMAIL_URL host refused by the egress policy: {_problem}.")

# Secret references (env:NAME, file:/path): the deployer's allow-list, see console/secret_refs.py.
_ENV_PREFIX_RE = re.compile(r"^[A-Z_][A-Z0-9_]*\Z")


def _secret_env_prefixes(raw: str) -> tuple[str, ...]:
    """Comma-separated name prefixes; "" allows no env: references, "*" any name."""
    items = [p.strip() for p in raw.split(",") if p.strip()]
    if items == ["*"]:
        return ("",)
    bad = [p for p in items if not _ENV_PREFIX_RE.match(p)]
    if bad:
        raise ImproperlyConfigured(
            f"FLEET_SECRET_ENV_PREFIXES: '{bad[0]}' is not an environment variable name prefix "
            "(upper-case letters, digits and '_'; or '*' alone for any name)."
        )
    return tuple(items)


def _secret_dirs(raw: str) -> tuple[str, ...]:
    """Comma-separated absolute directories; "" allows no file: references."""
    items = [d.strip() for d in raw.split(",") if d.strip()]
    bad = [d for d in items if not d.startswith("/") or "\x00" in d]
    if bad:
        raise ImproperlyConfigured(
            f"FLEET_SECRET_DIRS: '{bad[0]}' is not an absolute directory path."
        )
    return tuple(items)


FLEET_SECRET_ENV_PREFIXES = _secret_env_prefixes(
    env.str("FLEET_SECRET_ENV_PREFIXES", default="FLEET_SECRET_")
)
FLEET_SECRET_DIRS = _secret_dirs(
    env.str("FLEET_SECRET_DIRS", default="/run/secrets,/var/run/secrets,/etc/fleet-secrets")
)

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOG_JSON = env.bool("LOG_JSON", default=not (DEBUG or EMBEDDED))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json" if LOG_JSON else "plain"}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
