"""Settings for every environment, driven by environment variables.

With no environment set, Tasker runs embedded: SQLite and Celery's
``filesystem://`` transport under ``var/``. ``DATABASE_URL`` and
``CELERY_BROKER_URL`` switch it to PostgreSQL and Redis or RabbitMQ.
"""

import base64
import binascii
import contextlib
import os
import secrets
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from tasker_project.client_ip import trusted_proxies

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("TASKER_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean from the environment ("1", "true", "yes" are true)."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    """Read a comma-separated list from the environment."""
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]


def _production_reason() -> str | None:
    """Return why this process looks like production, or None for a dev server."""
    if not env_bool("DJANGO_DEBUG", default=True):
        return "DJANGO_DEBUG is off"
    hosts = env_list("DJANGO_ALLOWED_HOSTS", [])
    hosts = [host for host in hosts if host not in LOOPBACK_HOSTS]
    if hosts:
        return f"DJANGO_ALLOWED_HOSTS names {', '.join(hosts)}"
    argv0 = Path(sys.argv[0]).name if sys.argv else ""
    if "gunicorn" in os.environ.get("SERVER_SOFTWARE", "") or argv0 == "gunicorn":
        return "running under gunicorn"
    return None


def _publish_once(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (mode 0600) unless the file already exists.

    The text is written to a private temporary file and published with a hard
    link, which fails when the name exists: processes starting together agree
    on one key, and none ever reads a half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text + "\n")
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)


def _dev_secret_key(path: Path) -> str:
    """Return the development key kept in ``path``, generating it (0600) once."""
    _publish_once(path, secrets.token_urlsafe(64))
    key = path.read_text().strip()
    if len(key) < 50:
        raise ImproperlyConfigured(
            f"{path} holds no usable key: remove it, or set DJANGO_SECRET_KEY"
        )
    return key


# No key is ever published: without DJANGO_SECRET_KEY this is a development
# server only (DEBUG, loopback hosts, a random key kept in var/). Anything
# that looks like production refuses to start instead.
if os.environ.get("DJANGO_SECRET_KEY"):
    SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
    if len(SECRET_KEY) < 50 or "insecure" in SECRET_KEY:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be at least 50 random characters "
            "(and not a published development key)"
        )
    DEBUG = env_bool("DJANGO_DEBUG", default=False)
    ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
else:
    _reason = _production_reason()
    if _reason:
        raise ImproperlyConfigured(f"DJANGO_SECRET_KEY must be set: {_reason}")
    DEBUG = True
    SECRET_KEY = _dev_secret_key(VAR_DIR / "secret_key")
    ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])


def audit_key(value: str, name: str = "TASKER_AUDIT_KEY") -> bytes:
    """Decode an audit key: at least 32 bytes, written as hex or base64.

    The error names the variable (or file), never the value.
    """
    text = value.strip()
    try:
        if len(text) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in text):
            key = bytes.fromhex(text)
        else:
            padded = text.replace("-", "+").replace("_", "/")
            key = base64.b64decode(padded + "=" * (-len(padded) % 4), validate=True)
    except (ValueError, binascii.Error):
        key = b""
    if len(key) < 32:
        raise ImproperlyConfigured(
            f"{name} must be at least 32 random bytes written as hex or base64"
        )
    return key


def pii_master_keys(value: str, name: str = "TASKER_PII_KEYS") -> list[bytes]:
    """Decode the PII master keys: comma-separated Fernet keys, the first encrypts.

    Each is checked here, so a malformed key refuses start-up naming the
    variable and the key's position, never its value.
    """
    keys = [part.strip().encode() for part in value.split(",") if part.strip()]
    if not keys:
        raise ImproperlyConfigured(
            f"{name} must hold at least one Fernet key (comma-separated)"
        )
    for position, key in enumerate(keys, start=1):
        try:
            raw = base64.urlsafe_b64decode(key)
        except (ValueError, binascii.Error):
            raw = b""
        if len(raw) != 32:
            raise ImproperlyConfigured(
                f"{name}: key {position} is not a Fernet key (32 bytes, url-safe "
                "base64; make one with "
                "`python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)"
            )
    return keys


def _key_setting(
    variable: str, file_name: str, make: Any, parse: Any, meaning: str
) -> Any:
    """Return a key from ``variable``, or (embedded default) from ``var/keys``.

    With ``DJANGO_SECRET_KEY`` set the variable is required; without it the
    development server keeps a random key in ``var/keys/<file_name>`` (0600).
    """
    if os.environ.get(variable) is not None:
        return parse(os.environ[variable], variable)
    if os.environ.get("DJANGO_SECRET_KEY"):
        raise ImproperlyConfigured(
            f"{variable} must be set when DJANGO_SECRET_KEY is ({meaning})"
        )
    path = VAR_DIR / "keys" / file_name
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _publish_once(path, make())
    try:
        return parse(path.read_text(), variable)
    except ImproperlyConfigured:
        raise ImproperlyConfigured(
            f"{path} holds no usable key: remove it, or set {variable}"
        ) from None


# The HMAC key of the tamper-evident audit chains (audit/chain.py).
TASKER_AUDIT_KEY = _key_setting(
    "TASKER_AUDIT_KEY",
    "audit_key",
    lambda: secrets.token_hex(32),
    audit_key,
    "at least 32 random bytes written as hex or base64",
)
# PII at rest (audit/crypto.py): Fernet master keys that wrap the per-record
# data keys (the first wraps new ones; the others still unwrap until
# `manage.py rotate_pii_keys` has re-wrapped everything), and the HMAC key
# of the blind indexes that find a subject's records without decrypting.
TASKER_PII_KEYS = _key_setting(
    "TASKER_PII_KEYS",
    "pii_keys",
    lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    pii_master_keys,
    "comma-separated Fernet keys; the first encrypts",
)
TASKER_PII_INDEX_KEY = _key_setting(
    "TASKER_PII_INDEX_KEY",
    "pii_index_key",
    lambda: secrets.token_hex(32),
    audit_key,
    "at least 32 random bytes written as hex or base64",
)
# How long a process keeps an unwrapped data key (at most 60 s): an erased
# subject's data is unreadable everywhere within this time.
TASKER_PII_KEY_CACHE_SECONDS = min(
    60.0, float(os.environ.get("TASKER_PII_KEY_CACHE_SECONDS", "60"))
)
# `manage.py gdpr_retention` erases subjects idle this long (post 06: 3 years).
TASKER_PII_RETENTION_DAYS = int(os.environ.get("TASKER_PII_RETENTION_DAYS", "1095"))


INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "auditlog",
    "namespaces",
    "workflows",
    "audit",
    "examples",
]

MIDDLEWARE = [
    # First: every response, a redirect or an error included, echoes the id.
    "tasker_project.middleware.CorrelationMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tasker_project.middleware.AuditlogMiddleware",
    # Innermost: writes pii.viewed while the request's context is bound.
    "tasker_project.middleware.PIIViewedMiddleware",
]

ROOT_URLCONF = "tasker_project.urls"

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
        },
    },
]

WSGI_APPLICATION = "tasker_project.wsgi.application"
ASGI_APPLICATION = "tasker_project.asgi.application"


def database_from_env() -> dict:
    """Return the default database: ``DATABASE_URL`` or SQLite under var/."""
    url = os.environ.get("DATABASE_URL")
    if url:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    else:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        config = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "tasker.sqlite3"),
        }
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # Web, worker and beat share the file: WAL lets readers run beside the
        # writer, IMMEDIATE takes the write lock at BEGIN so two writers queue
        # on the busy timeout instead of failing to upgrade a read lock.
        # secure_delete overwrites deleted content with zeros, so an erased
        # or rewritten value does not linger in free pages of the file.
        config["OPTIONS"] = {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                "PRAGMA busy_timeout=30000; PRAGMA secure_delete=ON;"
            ),
        }
    elif config["ENGINE"] == "django.db.backends.postgresql":
        # Server-side parameters let psycopg prepare a statement it runs
        # repeatedly (after 5 runs, per connection): the claim and the
        # settle are then planned once per connection instead of per step.
        # Django turns preparing off unless asked; a transaction-pooling
        # PgBouncer needs TASKER_DB_PREPARE_THRESHOLD= (empty: never).
        threshold = os.environ.get("TASKER_DB_PREPARE_THRESHOLD", "5")
        config.setdefault("OPTIONS", {}).update(
            server_side_binding=env_bool("TASKER_DB_SERVER_SIDE_BINDING", True),
            prepare_threshold=int(threshold) if threshold.strip() else None,
        )
    return dict(config)


def _synchronous_commit(value: str) -> str:
    """Return a valid synchronous_commit level or refuse to start."""
    allowed = ("on", "off", "local", "remote_write", "remote_apply")
    if value not in allowed:
        raise ImproperlyConfigured(
            f"TASKER_WORKER_SYNCHRONOUS_COMMIT must be one of {', '.join(allowed)}, "
            f"not {value!r}"
        )
    return value


DATABASES = {"default": database_from_env()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

LOGIN_URL = "admin:login"

# --- REST API ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "workflows.api.errors.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "tasker_project.throttling.AnonRateThrottle",
        "tasker_project.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("TASKER_THROTTLE_ANON", "60/min"),
        "user": os.environ.get("TASKER_THROTTLE_USER", "1200/min"),
        # Password logins per client address: slows password guessing.
        "auth": os.environ.get("TASKER_THROTTLE_AUTH", "30/min"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# Who sets X-Forwarded-For (and X-Forwarded-Proto): nobody by default, a
# count of proxies in front, or their networks. See tasker_project/client_ip.py.
TASKER_TRUSTED_PROXIES = trusted_proxies(os.environ.get("TASKER_TRUSTED_PROXIES", ""))

# django-auditlog's LogEntry.cid is the correlation id of the audit events:
# one getter (a dotted path; auditlog imports it per call) for requests and
# workers. With a getter set, auditlog's own header reading is off.
AUDITLOG_CID_GETTER = "tasker_project.core.context.correlation_id"
# Masked fields keep nothing of their value (auditlog's default keeps half).
AUDITLOG_MASK_CALLABLE = "audit.registry.mask_whole"


def cache_from_env() -> dict:
    """Return the default cache, shared by every process (throttle counts)."""
    url = os.environ.get("TASKER_CACHE_URL", "")
    if url.startswith(("redis://", "rediss://", "unix://")):
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
        }
    if url:
        raise ImproperlyConfigured(
            "TASKER_CACHE_URL must be a redis:// URL (empty: the database cache), "
            f"not {url!r}"
        )
    return {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "tasker_cache",
    }


CACHES = {"default": cache_from_env()}

# Request bodies above this are refused with 413 before any parsing.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("TASKER_MAX_BODY_BYTES", 256 * 1024))

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(
        seconds=int(os.environ.get("TASKER_JWT_ACCESS_SECONDS", 300))
    ),
    "REFRESH_TOKEN_LIFETIME": timedelta(
        seconds=int(os.environ.get("TASKER_JWT_REFRESH_SECONDS", 86400))
    ),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "AUTH_HEADER_TYPES": ("Bearer",),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Tasker API",
    "DESCRIPTION": (
        "Versioned DAG workflows run by Celery. Every read and write is scoped "
        "by the caller's namespace roles: an object in a namespace you cannot "
        "see is a 404. Every 4xx carries one error body."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "TaskStatusEnum": "workflows.engine.states.TaskStatus",
        "StepStatusEnum": "workflows.engine.states.StepStatus",
    },
}

# --- Celery -----------------------------------------------------------------
# JSON only; a message is a wake-up carrying a step id, the database row is
# the truth. Late acks and prefetch 1 keep a crashed worker from losing work.
_BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("out", "processed", "control"):
        (_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "out"),
        "data_folder_out": str(_BROKER_DIR / "out"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
else:
    # Longer than the longest step timeout, so Redis never redelivers a
    # message whose step is still legitimately running.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(os.environ.get("TASKER_VISIBILITY_TIMEOUT", 7200)),
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("TASKER_QUEUE", "tasker")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's Django fixup closes the database connections around every task
# unless this is set (then every N tasks): a new PostgreSQL connection per
# step. tasker_project/celery.py applies Django's CONN_MAX_AGE rule instead.
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Sweeps have a queue of their own, which every worker consumes before the
# step queue (`-Q tasker-sweep,tasker`), so a backlog of steps cannot starve
# the sweeper. ("-" cannot occur in a namespace slug, so it never collides
# with a per-namespace queue "tasker.<namespace>".) A sweep message carries
# no expiry: Celery's `expires` is an absolute time on beat's clock, which a
# worker whose clock runs ahead reads as already past and drops. A sweep is
# idempotent and cheap when there is nothing to do, so ones that piled up
# while no worker ran are harmless.
TASKER_SWEEP_QUEUE = os.environ.get(
    "TASKER_SWEEP_QUEUE", f"{CELERY_TASK_DEFAULT_QUEUE}-sweep"
)
CELERY_TASK_ROUTES = {"workflows.sweep": {"queue": TASKER_SWEEP_QUEUE}}
CELERY_BEAT_SCHEDULE = {
    "tasker-sweep": {
        "task": "workflows.sweep",
        "schedule": float(os.environ.get("TASKER_SWEEP_INTERVAL", 5)),
        "options": {"queue": TASKER_SWEEP_QUEUE},
    },
}

# --- Tasker -----------------------------------------------------------------
TASKER: dict[str, Any] = {
    # YAML workflow definitions loaded by `manage.py sync_workflows`.
    "WORKFLOW_PATHS": env_list(
        "TASKER_WORKFLOW_PATHS", [str(BASE_DIR / "examples" / "workflows")]
    ),
    # Extra seconds a claimed step's lease runs beyond its timeout.
    "LEASE_GRACE_SECONDS": int(os.environ.get("TASKER_LEASE_GRACE_SECONDS", 30)),
    # An enqueued step nobody claimed for this long has its message republished.
    "REPUBLISH_AFTER_SECONDS": int(os.environ.get("TASKER_REPUBLISH_AFTER", 60)),
    # Route each namespace's steps to queue "tasker.<namespace>" when set.
    "QUEUE_PER_NAMESPACE": env_bool("TASKER_QUEUE_PER_NAMESPACE", default=False),
    # A worker that completes a step may run one ready child itself instead
    # of publishing it, up to this many steps per message (1: never) and
    # while the child's timeout fits in this many seconds beyond the first
    # step's (the messages' Celery limits are raised by as much).
    "CONTINUE_MAX_STEPS": int(os.environ.get("TASKER_CONTINUE_MAX_STEPS", 20)),
    "CONTINUE_SECONDS": int(os.environ.get("TASKER_CONTINUE_SECONDS", 5)),
    # PostgreSQL's synchronous_commit for the worker's settle transactions
    # only (never a start, an approval or any API write; a claim never waits
    # for the flush). "off" saves a WAL flush per step; a database crash can
    # then forget the last fraction of a second of completions, which the
    # engine redoes when their leases expire (with the same idempotency
    # key). See docs/architecture.md.
    "WORKER_SYNCHRONOUS_COMMIT": _synchronous_commit(
        os.environ.get("TASKER_WORKER_SYNCHRONOUS_COMMIT", "on")
    ),
    # Rows per sweeper batch.
    "SWEEP_BATCH": int(os.environ.get("TASKER_SWEEP_BATCH", 500)),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
    },
}

if not DEBUG:
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", default=True)
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", 3600))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    if TASKER_TRUSTED_PROXIES:
        # Only a trusted proxy may say the request came in over HTTPS.
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
