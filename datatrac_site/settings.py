"""DataTrac settings: every value comes from the environment (or a `.env` file).

The defaults make a working single-user install with nothing to set up: a SQLite
registry and a local object store under the DataTrac home directory. Production
differs only by environment (see `.env.example` and the README).
"""

from __future__ import annotations

import contextlib
import getpass
import importlib.util
import os
import tempfile
from datetime import timedelta
from pathlib import Path

import environ
import platformdirs
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A `.env` beside manage.py is read when present; real environment variables win.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DATATRAC_HOME = Path(env.str("DATATRAC_HOME", default=platformdirs.user_data_dir("datatrac")))
DATATRAC_CACHE_DIR = Path(
    env.str("DATATRAC_CACHE_DIR", default=platformdirs.user_cache_dir("datatrac"))
)
DATATRAC_STORAGE_URL: str = env.str(
    "DATATRAC_STORAGE_URL", default=(DATATRAC_HOME / "store").as_uri()
)


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (e.g. a container with a bare uid)
        return "unknown"


# Who the CLI acts as: recorded as "pushed by" and in the audit trail.
DATATRAC_USER: str = env.str("DATATRAC_USER", default=_default_user())
DATATRAC_PUBLIC_READ: bool = env.bool("DATATRAC_PUBLIC_READ", default=False)

# SSH store (ssh:// storage URL): key file and known_hosts; timeouts in seconds.
DATATRAC_SSH_KEY: str = env.str("DATATRAC_SSH_KEY", default="")
DATATRAC_SSH_KNOWN_HOSTS: str = env.str(
    "DATATRAC_SSH_KNOWN_HOSTS", default=str(Path("~/.ssh/known_hosts").expanduser())
)
DATATRAC_SSH_CONFIG: str = env.str(
    "DATATRAC_SSH_CONFIG", default=str(Path("~/.ssh/config").expanduser())
)
DATATRAC_SSH_TIMEOUT: float = env.float("DATATRAC_SSH_TIMEOUT", default=15.0)
# `verify --all` continues an interrupted run only if it started less than this ago
# (a duration: 30m, 24h, 7d); an older one is started over.
DATATRAC_VERIFY_RESUME_WITHIN: str = env.str("DATATRAC_VERIFY_RESUME_WITHIN", default="24h")
# Uploads through the API (POST /api/v1/uploads): the largest object accepted (bytes),
# the size of each part a client sends, how long an unfinished upload lives after its
# last part (a duration; `gc` sweeps expired ones), and where their parts are kept.
DATATRAC_MAX_UPLOAD_SIZE: int = env.int("DATATRAC_MAX_UPLOAD_SIZE", default=1024**4)
DATATRAC_UPLOAD_PART_SIZE: int = env.int("DATATRAC_UPLOAD_PART_SIZE", default=64 * 1024**2)
DATATRAC_UPLOAD_EXPIRY: str = env.str("DATATRAC_UPLOAD_EXPIRY", default="24h")
DATATRAC_UPLOAD_DIR = Path(env.str("DATATRAC_UPLOAD_DIR", default=str(DATATRAC_HOME / "uploads")))

DEBUG: bool = env.bool("DEBUG", default=False)


def _embedded_secret_key() -> str:
    """The embedded install keeps a random key in its home, made on first use."""
    from django.core.management.utils import get_random_secret_key

    key_file = DATATRAC_HOME / "secret_key"
    try:
        return key_file.read_text().strip()
    except FileNotFoundError:
        pass
    DATATRAC_HOME.mkdir(parents=True, exist_ok=True)
    # Written whole under a private name, then linked into place: a process starting at
    # the same moment reads either no key or the whole key, and every process ends up
    # with the first key linked (never one of its own that nobody else has).
    fd, draft = tempfile.mkstemp(dir=DATATRAC_HOME, prefix=".secret_key.")
    try:
        with os.fdopen(fd, "w") as out:  # mkstemp makes it 0o600
            out.write(get_random_secret_key() + get_random_secret_key())
        with contextlib.suppress(FileExistsError):
            os.link(draft, key_file)
    finally:
        os.unlink(draft)
    return key_file.read_text().strip()


SECRET_KEY: str = env.str("SECRET_KEY", default="") or _embedded_secret_key()
ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATATRAC_HOME / 'datatrac.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers queue instead of failing with "database is locked", and every write
    # transaction takes the lock up front so read-then-write races cannot deadlock.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No JIT: the planner's cost for a recursive lineage walk is huge whatever it really
    # reads (it cannot know the LIMIT stops the recursion early), so PostgreSQL spent
    # ~200 ms compiling a walk that runs in 2 ms. This app's queries are all small seeks.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
    # Keep a worker's connection between requests (checked before reuse) instead of
    # opening one per request; `?conn_max_age=0` in DATABASE_URL turns that off.
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
    "django_tables2",
    # Before registry: its failed-sign-in receiver runs first and flags lockouts, which
    # the audit trail's receiver (registry.signals) then records.
    "axes",
    "registry",
    "lineage",
    "tokens",
    # Not "ninja": importing django-ninja (pydantic) at every django.setup() costs each CLI
    # command 150-400 ms; only the web server loads it, through the URLconf. Its Swagger UI
    # files are served from its package below, so the docs need no CDN.
]

MIDDLEWARE = [
    # Outermost: any error under /api/ (an unknown URL, a wrong method) answers JSON.
    "datatrac_site.middleware.api_json_errors",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads a parameter or the session cookie: malformed ones are a 400.
    "datatrac_site.middleware.BadParametersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into a 429 page.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # Refuses sign-ins (web and CLI alike) from an account and address with too many
    # recent failures; ModelBackend then checks passwords and permissions.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Failed sign-in throttling (django-axes): after AXES_FAILURE_LIMIT failures for one
# user name from one address, that pair is locked out for the cool-off time. Keyed on
# the pair so a stranger cannot lock an administrator out from elsewhere.
AXES_FAILURE_LIMIT: int = env.int("DATATRAC_SIGNIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("DATATRAC_SIGNIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# Behind a proxy every client is the proxy's address: with DATATRAC_BEHIND_PROXY the
# client's own comes from X-Forwarded-For, as written by the DATATRAC_TRUSTED_PROXY_COUNT
# proxies in front (never the entries a client could write), and the audit trail records
# the same. Without it the header is ignored. The CLI counts under addresses of its own.
DATATRAC_BEHIND_PROXY: bool = env.bool("DATATRAC_BEHIND_PROXY", default=False)
DATATRAC_TRUSTED_PROXY_COUNT: int = env.int("DATATRAC_TRUSTED_PROXY_COUNT", default=1)
if DATATRAC_TRUSTED_PROXY_COUNT < 1:
    raise ImproperlyConfigured("DATATRAC_TRUSTED_PROXY_COUNT must be 1 or more")
AXES_CLIENT_IP_CALLABLE = "registry.actors.client_address"
# What axes would hand django-ipware (not installed; the callable above comes first):
# the same rule, so adding ipware later changes nothing.
AXES_IPWARE_PROXY_ORDER = "right-most"
AXES_IPWARE_PROXY_COUNT = DATATRAC_TRUSTED_PROXY_COUNT if DATATRAC_BEHIND_PROXY else None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if DATATRAC_BEHIND_PROXY else ("REMOTE_ADDR",)
)

ROOT_URLCONF = "datatrac_site.urls"
WSGI_APPLICATION = "datatrac_site.wsgi.application"

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
                "django.template.context_processors.csp",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# django-ninja's Swagger UI (static/ninja/...), found without importing the package.
_ninja = importlib.util.find_spec("ninja")
if _ninja is not None and _ninja.submodule_search_locations:
    STATICFILES_DIRS.append(Path(next(iter(_ninja.submodule_search_locations))) / "static")
# Unset on the embedded install, where WhiteNoise serves straight from the finders;
# production sets it and runs `datatrac collectstatic`.
_static_root = env.str("STATIC_ROOT", default="")
STATIC_ROOT = Path(_static_root) if _static_root else None
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_BACKEND",
            default="django.contrib.staticfiles.storage.StaticFilesStorage",
        )
    },
}
# Serve straight from the finders when nothing was collected (the embedded install).
WHITENOISE_USE_FINDERS = True

# A strict Content Security Policy: only our own origin, no inline script or style.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

# HTTPS hardening. The embedded install serves plain HTTP on loopback, so it is off by
# default; production sets DATATRAC_HTTPS=true (see the README) and `check --deploy` is clean.
_SECURE = env.bool("DATATRAC_HTTPS", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_SECURE)
SESSION_COOKIE_SECURE = _SECURE
CSRF_COOKIE_SECURE = _SECURE
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if _SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _SECURE
# Sent with HTTPS on, as `check --deploy` asks; the site is on a browser's preload list
# only once someone submits the domain to it.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=_SECURE)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if DATATRAC_BEHIND_PROXY else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
    # paramiko logs every dropped connection with a traceback; the ssh:// store already
    # turns those failures into one clear error line, so its own log stays quiet.
    "loggers": {
        "paramiko": {"level": env.str("PARAMIKO_LOG_LEVEL", default="CRITICAL")},
        # django-axes logs each failed sign-in; the audit trail already records them, and
        # a log line would break the CLI's one-line errors.
        "axes": {"level": env.str("AXES_LOG_LEVEL", default="ERROR")},
    },
}

DJANGO_TABLES2_TEMPLATE = "django_tables2/htmx-table.html"
