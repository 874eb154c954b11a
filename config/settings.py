"""Settings for the reservation service: every deploy-dependent value comes from the environment.

With no environment at all the service runs on its embedded default: a SQLite file and a
file-system broker under ``data/``, nothing to start. ``DATABASE_URL=postgres://…`` and
``CELERY_BROKER_URL=redis://…`` switch to the scale-out profile.
"""

import ipaddress
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from redis.backoff import NoBackoff
from redis.retry import Retry

from apps.core.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

INSECURE_DEFAULT_SECRET_KEY = "insecure-development-key-change-me"

DATA_DIR = Path(env("DATA_DIR", default=str(BASE_DIR / "data")))
DATA_DIR.mkdir(parents=True, exist_ok=True)

# "production" refuses the insecure defaults; "development" (the default) allows them.
ENVIRONMENT = env("ENVIRONMENT", default="development")
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default=INSECURE_DEFAULT_SECRET_KEY)

PRODUCTION = ENVIRONMENT == "production"
# "testserver" is Django's test client's host: allowed in development only.
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS",
    default=["127.0.0.1", "localhost"] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"],
)

if PRODUCTION:
    # Django's deploy check wants 50+ characters with 5+ distinct ones.
    if (
        SECRET_KEY == INSECURE_DEFAULT_SECRET_KEY
        or len(SECRET_KEY) < 50
        or len(set(SECRET_KEY)) < 5
        or SECRET_KEY.startswith("django-insecure-")
    ):
        raise ImproperlyConfigured(
            "ENVIRONMENT=production needs SECRET_KEY: 50+ random characters "
            '(python -c "import secrets; print(secrets.token_urlsafe(50))").'
        )
    if DEBUG:
        raise ImproperlyConfigured("ENVIRONMENT=production refuses DEBUG=1.")

# --- HTTPS (production: behind a TLS-terminating proxy that sets X-Forwarded-Proto) ----------
# The proxy must overwrite X-Forwarded-Proto; then request.is_secure() is true for https.
if env.bool("SECURE_PROXY_SSL", default=PRODUCTION):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
# Load balancers, compose and Prometheus probe these over plain http from inside.
SECURE_REDIRECT_EXEMPT = [r"^health/", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=PRODUCTION)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=PRODUCTION)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=PRODUCTION)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Swagger UI, ReDoc and /api/schema/: on by default, off by default in production.
API_DOCS_ENABLED = env.bool("API_DOCS_ENABLED", default=not PRODUCTION)
# Django's admin at /admin/ (its login throttled like the API's): off by default in production.
ADMIN_ENABLED = env.bool("ADMIN_ENABLED", default=not PRODUCTION)

# --- client addresses (apps.core.clients) -------------------------------------------------------
# Networks of the reverse proxies in front of gunicorn (CIDRs or addresses). X-Forwarded-For is
# believed only from them, and only back to the first hop that is not one of them. Empty (the
# default): nothing in front, the TCP peer is the client and the header is ignored.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
if env.int("NUM_PROXIES", default=0):
    raise ImproperlyConfigured(
        "NUM_PROXIES is no longer read: a count of proxies lets a client that reaches the "
        "service directly choose its address. Set TRUSTED_PROXIES to the proxies' networks."
    )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "apps.core",
    "apps.accounts",
    "apps.audit",
    "apps.events",
    "apps.bookings",
    "apps.partitions",
    "apps.webhooks",
    "apps.operations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files (the admin's, Swagger UI's and ReDoc's) from the app itself, no CDN.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.core.middleware.BrowserMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.core.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
}
_db = DATABASES["default"]
# How hard SQLite pushes a commit to the disk (docs/embedded.md). FULL: a commit is on the disk
# (fsync of the WAL) before it returns, so a command answered 202 survives a power loss. NORMAL
# (faster): the WAL is synced only at checkpoints, so a power loss or an OS crash (not a crash
# of the service) can take back the last commits, commands already answered 202 among them.
SQLITE_SYNCHRONOUS = env("SQLITE_SYNCHRONOUS", default="FULL").upper()
SQLITE_SYNCHRONOUS_LEVELS = ("EXTRA", "FULL", "NORMAL")
if SQLITE_SYNCHRONOUS not in SQLITE_SYNCHRONOUS_LEVELS:
    raise ImproperlyConfigured(
        f"SQLITE_SYNCHRONOUS={SQLITE_SYNCHRONOUS!r}: one of {', '.join(SQLITE_SYNCHRONOUS_LEVELS)}"
    )
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at BEGIN so
    # two writers wait on the busy timeout instead of failing on a lock upgrade. Django runs
    # init_command on every new connection (synchronous is per connection, not per file).
    _db["OPTIONS"] = {
        "timeout": env.int("SQLITE_BUSY_TIMEOUT_SECONDS", default=30),
        "transaction_mode": "IMMEDIATE",
        "init_command": f"PRAGMA journal_mode=WAL; PRAGMA synchronous={SQLITE_SYNCHRONOUS};",
    }
    # Keep connections: a new SQLite connection starts with a cold page cache and re-runs the
    # PRAGMAs, which costs more than the request itself.
    _db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
else:
    _db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    # A health check costs a round trip per request; broken connections are replaced anyway.
    _db["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=False)
    _db.setdefault("OPTIONS", {})["connect_timeout"] = 5
# The statements every request and every decision batch runs are prepared once per database
# session on PostgreSQL (apps/core/rows.py). Turn off behind a pooler that hands one session's
# statements to another (PgBouncer in transaction mode).
DATABASE_PREPARED_STATEMENTS = env.bool("DATABASE_PREPARED_STATEMENTS", default=True)
if DATABASE_PREPARED_STATEMENTS and _db["ENGINE"].endswith("postgresql"):
    # Plan them once (their conditions are primary keys and indexed columns): PostgreSQL
    # otherwise re-plans some on every call, which is what preparing them saves.
    _options = _db["OPTIONS"].get("options", "")
    _db["OPTIONS"]["options"] = f"{_options} -c plan_cache_mode=force_generic_plan".strip()

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Usernames compared as the login throttle counts them (apps.accounts.backends).
AUTHENTICATION_BACKENDS = ["apps.accounts.backends.CanonicalUsernameBackend"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# WhiteNoise serves the installed apps' static files straight from their packages, so no
# collectstatic step is needed on the embedded default or in the image.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = False

# A URL without its trailing slash is a JSON 404, not an HTML redirect that drops a POST body.
APPEND_SLASH = False

# Request bodies are small JSON documents; anything bigger is refused with 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BODY_BYTES", default=64 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["apps.accounts.authentication.ProfileTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.Pagination",
    "DEFAULT_FILTER_BACKENDS": [
        "apps.core.filters.StrictFilterBackend",
        "apps.core.filters.BoundedSearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "apps.core.schema.ApiSchema",
    "EXCEPTION_HANDLER": "apps.core.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "PAGE_SIZE": 20,
    # Client addresses for per-IP throttles come from apps.core.clients (TRUSTED_PROXIES).
}

# --- rate limits (apps.core.throttling): "N/s|min|hour|day", or "off" -------------------------
THROTTLE_RATES = {
    # Logins from one address, whatever the usernames; and of one username from one address
    # (not from everywhere: a stranger failing on purpose must not lock the owner out).
    "login_ip": env("THROTTLE_LOGIN_PER_IP", default="30/min"),
    "login_username": env("THROTTLE_LOGIN_PER_USERNAME", default="10/min"),
    "register_ip": env("THROTTLE_REGISTER_PER_IP", default="20/hour"),
    "register_username": env("THROTTLE_REGISTER_PER_USERNAME", default="10/hour"),
    "commands": env("THROTTLE_COMMANDS_PER_USER", default="120/min"),
    # New holds per user, on top of "commands" (holding is cheap and keeps seats from others).
    "holds": env("THROTTLE_HOLDS_PER_USER", default="30/hour"),
    "webhook_changes": env("THROTTLE_WEBHOOK_CHANGES_PER_USER", default="30/min"),
}

# The throttles' counts must be shared by every gunicorn process: Redis when the broker is
# Redis (or CACHE_URL says so), otherwise files under DATA_DIR (the embedded default).
if env("CACHE_URL", default=""):
    CACHES = {"default": env.cache_url("CACHE_URL")}
elif env("CELERY_BROKER_URL", default="").startswith("redis"):
    CACHES = {
        "default": {
            "BACKEND": "apps.core.cache.RedisCache",
            "LOCATION": env("CELERY_BROKER_URL"),
            "KEY_PREFIX": "cache",
            # A Redis outage must not hold requests: no retries, short timeouts, and the
            # throttles fail open for a few seconds (apps.core.throttling).
            "OPTIONS": {
                "socket_connect_timeout": 0.5,
                "socket_timeout": 0.5,
                "retry": Retry(NoBackoff(), 0),
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "apps.core.cache.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
            "OPTIONS": {"MAX_ENTRIES": env.int("FILE_CACHE_MAX_ENTRIES", default=20000)},
        }
    }

# API tokens (django-rest-knox): hashed at rest, one per login, a fixed lifetime from login (not
# renewed on use: a leaked token dies on time, and a request costs no write).
ACCOUNT_TOKEN_TTL_SECONDS = env.int("ACCOUNT_TOKEN_TTL_SECONDS", default=10 * 3600)
REST_KNOX = {
    "AUTH_HEADER_PREFIX": "Token",
    "TOKEN_TTL": timedelta(seconds=ACCOUNT_TOKEN_TTL_SECONDS),
    "AUTO_REFRESH": False,
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append(
        "rest_framework.renderers.BrowsableAPIRenderer"
    )

SPECTACULAR_SETTINGS = {
    "TITLE": "Reservation service API",
    "DESCRIPTION": (
        "Organizers publish events; customers book seats. A booking request is recorded and "
        "decided by the worker that owns the event's partition queue: the API answers 202 with "
        "a request resource; poll it, send `Prefer: wait=N`, or subscribe to webhooks."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc from drf-spectacular-sidecar (pinned), served by the app: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "BookingStatusEnum": "apps.bookings.models.BookingStatus",
        "RequestStatusEnum": "apps.bookings.models.RequestStatus",
        "ReasonEnum": "apps.bookings.models.Reason",
        "CommandKindEnum": "apps.bookings.models.CommandKind",
        "DeliveryStatusEnum": "apps.webhooks.models.DeliveryStatus",
    },
}

# --- booking pipeline ---------------------------------------------------------------------------
BOOKING_PARTITIONS = env.int("BOOKING_PARTITIONS", default=8)
# Partitions one partition-worker process owns: it takes all their leases and consumes all their
# queues with one single-threaded consumer (docs/embedded.md). Default: every partition on the
# embedded default (one machine, one SQLite writer: one process instead of one per partition,
# far less memory), one per process on PostgreSQL (a standby on any machine takes any one over).
BOOKING_PARTITIONS_PER_PROCESS = env.int(
    "BOOKING_PARTITIONS_PER_PROCESS",
    default=BOOKING_PARTITIONS if _db["ENGINE"] == "django.db.backends.sqlite3" else 1,
)
if BOOKING_PARTITIONS_PER_PROCESS < 1:
    raise ImproperlyConfigured("BOOKING_PARTITIONS_PER_PROCESS must be 1 or more.")
# The launcher (python -m workers run) imports the service once and forks its children from
# itself, so they share that memory (workers/forking.py); off: each child is a new Python.
LAUNCHER_PRELOAD = env.bool(
    "LAUNCHER_PRELOAD", default=_db["ENGINE"] == "django.db.backends.sqlite3"
)
if BOOKING_PARTITIONS_PER_PROCESS > 1 and _db["ENGINE"] != "django.db.backends.sqlite3":
    # A stalled owner's sessions are found by their partition's name (workers/leases.py).
    raise ImproperlyConfigured(
        "BOOKING_PARTITIONS_PER_PROCESS > 1 is for the embedded default (SQLite); on PostgreSQL "
        "each partition has a process of its own."
    )
# Prefer: wait=N is capped at this many seconds.
BOOKING_WAIT_MAX_SECONDS = env.float("BOOKING_WAIT_MAX_SECONDS", default=30.0)
# Requests of one web process that may wait at once (each holds a web thread); beyond it a
# Prefer: wait request is answered 202 at once, without Preference-Applied. Unset: half the
# process's request threads (gunicorn's --threads), so the other half always serves; 0: no wait.
BOOKING_WAITERS_PER_PROCESS = env.int("BOOKING_WAITERS_PER_PROCESS", default=None)
# A waiter is woken by the worker's announcement; without one it re-reads its row this often.
BOOKING_WAIT_RECHECK_SECONDS = env.float("BOOKING_WAIT_RECHECK_SECONDS", default=2.0)
# An event stream (GET /bookingapi/requests/{id}/events) ends after this many seconds; the
# client reconnects with Last-Event-ID (docs/status.md).
BOOKING_STREAM_MAX_SECONDS = env.float("BOOKING_STREAM_MAX_SECONDS", default=300.0)
# A quiet stream sends a comment this often (proxies close idle connections).
BOOKING_STREAM_HEARTBEAT_SECONDS = env.float("BOOKING_STREAM_HEARTBEAT_SECONDS", default=15.0)
WAITER_DIR = DATA_DIR / "waiters"
# A command pending longer than this gets its doorbell rung again by the sweeper.
BOOKING_SWEEP_AFTER_SECONDS = env.float("BOOKING_SWEEP_AFTER_SECONDS", default=5.0)
BOOKING_SWEEP_INTERVAL_SECONDS = env.float("BOOKING_SWEEP_INTERVAL_SECONDS", default=5.0)
# A hold lasts an event's hold_seconds, which organizers set within these bounds.
BOOKING_HOLD_MIN_SECONDS = env.int("BOOKING_HOLD_MIN_SECONDS", default=30)
BOOKING_HOLD_MAX_SECONDS = 3600
# Per customer (decided by the event's worker, rule hold_limit_reached): live holds, and seats
# held, at one event and over all events. The per-event cap is exact; the overall ones are read
# when a hold is decided and another partition's worker may grant a hold at the same moment,
# so they can be passed by the holds decided at once on other partitions (a soft bound).
BOOKING_HOLDS_PER_CUSTOMER = env.int("BOOKING_HOLDS_PER_CUSTOMER", default=3)
BOOKING_HELD_SEATS_PER_CUSTOMER_PER_EVENT = env.int(
    "BOOKING_HELD_SEATS_PER_CUSTOMER_PER_EVENT", default=6
)
BOOKING_HELD_SEATS_PER_CUSTOMER_TOTAL = env.int("BOOKING_HELD_SEATS_PER_CUSTOMER_TOTAL", default=10)
# After a customer's hold at an event is released or expires (or their booking there is
# cancelled), a new hold there is refused this long (rule hold_cooldown). 0: no cool-down.
BOOKING_HOLD_COOLDOWN_SECONDS = env.int("BOOKING_HOLD_COOLDOWN_SECONDS", default=300)
# How often beat records expire commands for holds past their deadline.
BOOKING_HOLD_EXPIRY_INTERVAL_SECONDS = env.float(
    "BOOKING_HOLD_EXPIRY_INTERVAL_SECONDS", default=5.0
)
# Commands decided per transaction by a partition worker.
BOOKING_DECISION_BATCH = env.int("BOOKING_DECISION_BATCH", default=500)
# On PostgreSQL, the book commands at the head of a line nobody can get a seat from (the event
# full, no waitlist) are refused in one statement rather than one by one (0: one by one).
BOOKING_SET_BASED_REFUSALS = env.bool("BOOKING_SET_BASED_REFUSALS", default=True)
LEASE_DIR = DATA_DIR / "leases"
# A partition whose owner misses its heartbeat, or leaves a doorbell unanswered, this long is
# stalled: its worker is replaced (killed by its launcher, or evicted by a standby).
BOOKING_STALL_SECONDS = env.float("BOOKING_STALL_SECONDS", default=30.0)
# While a doorbell waits unanswered, requests for the same event do not ring again; a lost
# doorbell delays its event by at most this long. 0 rings on every request.
BOOKING_DOORBELL_TTL_SECONDS = env.float("BOOKING_DOORBELL_TTL_SECONDS", default=2.0)
# A busy partition's worker (its last run ended less than five lingers ago) waits this long
# before a run, its latch still set: the commands recorded meanwhile join the run instead of
# ringing for one of their own. With latches only; 0 turns it off.
BOOKING_DOORBELL_LINGER_SECONDS = env.float("BOOKING_DOORBELL_LINGER_SECONDS", default=0.01)
DOORBELL_DIR = DATA_DIR / "doorbells"

# --- Celery -------------------------------------------------------------------------------------
BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="safefs://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("safefs"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder": str(BROKER_DIR),
        "polling_interval": env.float("BROKER_POLLING_INTERVAL", default=0.05),
    }
elif CELERY_BROKER_URL.startswith("redis"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Above the longest task, so a slow task is not delivered twice while it runs.
        "visibility_timeout": env.int("REDIS_VISIBILITY_TIMEOUT_SECONDS", default=300),
        # A hung Redis otherwise blocks a publish for 40 s or more; above kombu's 1 s BRPOP
        # wait so consumers are not disturbed. No retry on timeout: a publish fails fast and
        # the sweeper re-rings.
        "socket_timeout": 2,
        "socket_connect_timeout": 2,
        "retry_on_timeout": False,
        # kombu retries a refused connect with 2 s sleeps; retry within 0.2 s instead.
        "max_retries": 2,
        "interval_start": 0,
        "interval_step": 0.1,
        "interval_max": 0.2,
    }
# Celery's Django fixup closes the database connection around every task unless this is set;
# connections are still dropped when unusable or older than CONN_MAX_AGE (config/celery.py).
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
# Threads of the webhook worker (its own process: the scheduler and the sweeper never wait
# behind outbound HTTP). One subscription holds at most one thread at a time.
CELERY_WEBHOOK_CONCURRENCY = env.int("WEBHOOK_WORKER_CONCURRENCY", default=16)

# --- webhooks -----------------------------------------------------------------------------------
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=False)
WEBHOOK_CONNECT_TIMEOUT_SECONDS = env.float("WEBHOOK_CONNECT_TIMEOUT_SECONDS", default=3.0)
WEBHOOK_READ_TIMEOUT_SECONDS = env.float("WEBHOOK_READ_TIMEOUT_SECONDS", default=5.0)
# The whole attempt (resolve, connect, send, response) ends within this, however the receiver
# drips its answer; an attempt's claim lasts longer (apps.webhooks.sending).
WEBHOOK_ATTEMPT_DEADLINE_SECONDS = env.float("WEBHOOK_ATTEMPT_DEADLINE_SECONDS", default=10.0)
# Ports a webhook URL may use besides 80 and 443 ("*": any).
WEBHOOK_ALLOWED_PORTS = env.list("WEBHOOK_ALLOWED_PORTS", default=["80", "443"])
# Seconds between attempts: exponential, about a day in all; jitter is added per attempt.
WEBHOOK_RETRY_SCHEDULE = env.list(
    "WEBHOOK_RETRY_SCHEDULE",
    cast=float,
    default=[5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800],
)
# How often beat publishes the deliveries that are due and not handed over (retries, lost
# hand-overs).
WEBHOOK_SCHEDULE_INTERVAL_SECONDS = env.float("WEBHOOK_SCHEDULE_INTERVAL_SECONDS", default=5.0)
# Each subscription turns an outcome into one signed POST: a bound on the amplification.
WEBHOOK_MAX_SUBSCRIPTIONS_PER_USER = env.int("WEBHOOK_MAX_SUBSCRIPTIONS_PER_USER", default=10)
# A subscription whose deliveries failed this many times in a row is disabled.
WEBHOOK_DISABLE_AFTER_FAILURES = env.int("WEBHOOK_DISABLE_AFTER_FAILURES", default=20)

# --- operating: logs, metrics, readiness -------------------------------------------------------
# "json": one JSON object per line in every process (see apps/core/logs.py); "plain" otherwise.
LOG_FORMAT = env("LOG_FORMAT", default="plain")
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL)
LOGGING_CONFIG = "apps.core.logs.configure"

# /metrics answers a client that sends "Authorization: Bearer <METRICS_TOKEN>" or whose address
# is in METRICS_ALLOWED_NETWORKS; with neither set it is open in development and closed (403) in
# production.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=[])
for _name, _networks in (
    ("METRICS_ALLOWED_NETWORKS", METRICS_ALLOWED_NETWORKS),
    ("TRUSTED_PROXIES", TRUSTED_PROXIES),
):
    for _network in _networks:
        try:
            ipaddress.ip_network(_network, strict=False)
        except ValueError as _exc:
            raise ImproperlyConfigured(f"{_name}: {_exc}") from _exc
# The broker probe of /health/ready/ gives up after this long.
READINESS_BROKER_TIMEOUT_SECONDS = env.float("READINESS_BROKER_TIMEOUT_SECONDS", default=2.0)
