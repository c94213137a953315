"""WSGI entry point: ``gunicorn example_apps.django_app.wsgi:application``."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from example_apps.django_app.bodies import wsgi_bodies
from example_apps.notes import MAX_BODY_BYTES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_apps.django_app.settings")
# Django alone reads a chunked body as empty: wsgi_bodies reads it.
application = wsgi_bodies(get_wsgi_application(), MAX_BODY_BYTES)
