"""Settings of the small Django project the django_datum tests run against."""

from __future__ import annotations

import os
import tempfile
from urllib.parse import urlsplit

SECRET_KEY = "django-datum-tests"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "tests.django_datum.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
STATIC_URL = "/static/"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django_datum",
    "tests.django_datum.notes",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tests.django_datum.app.HeaderUserMiddleware",
    "django_datum.middleware.DatumMiddleware",
]

# Signed-cookie sessions keep requests that never touch the ORM free of queries.
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"

DATUM = {"DATA_MANAGER": "tests.django_datum.app.dm"}

_SQLITE_DIR = tempfile.gettempdir()
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        # A file, not memory: threads (ASGI's sync thread, the live server) share it.
        # A server a test starts may be pointed at that test's database.
        "NAME": os.environ.get("DJANGO_DATUM_TEST_SQLITE")
        or os.path.join(_SQLITE_DIR, f"django_datum_{os.getpid()}.sqlite3"),
        "TEST": {"NAME": os.path.join(_SQLITE_DIR, f"django_datum_test_{os.getpid()}.sqlite3")},
    },
}

_PG_URL = os.environ.get("POLYDATUM_TEST_POSTGRES_URL")
if _PG_URL:
    _pg = urlsplit(_PG_URL)
    DATABASES["pg"] = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _pg.path.lstrip("/") or "postgres",
        "USER": _pg.username or "",
        "PASSWORD": _pg.password or "",
        "HOST": _pg.hostname or "",
        "PORT": str(_pg.port or ""),
        # Its own test database, so other suites on the same server are untouched.
        "TEST": {"NAME": f"test_django_datum_{os.getpid()}"},
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"django": {"handlers": ["null"], "propagate": False}},
}
