"""Django settings of the Conduit API: no ORM, no sessions, no templates."""

from __future__ import annotations

import os
import secrets

from example_apps.conduit import MAX_BODY_BYTES

# Django signs nothing here (no sessions, no cookies): a per-process key is enough. The
# API's tokens are signed with $CONDUIT_SECRET_KEY, by the services.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)
DEBUG = False
# Comma-separated; add your host name when serving beyond this machine (--host 0.0.0.0).
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")

INSTALLED_APPS = ["django_datum"]  # its system checks run at start-up
MIDDLEWARE = [
    "example_apps.conduit.django_app.views.ServiceErrorMiddleware",  # errors in the spec's shape
    "django_datum.middleware.DatumMiddleware",  # one data context per request
]
# No CSRF middleware: clients authenticate with a token header, never a cookie.

DATUM = {
    "DATA_MANAGER": "example_apps.conduit.config.data_manager",  # called once, at start-up
    "META": "example_apps.conduit.django_app.views.request_meta",
    "MAP_SERVICE_ERRORS": False,  # ServiceErrorMiddleware answers them
}

ROOT_URLCONF = "example_apps.conduit.django_app.urls"
DATABASES: dict[str, dict[str, str]] = {}
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_BODY_BYTES
USE_TZ = True
