"""ASGI entry point: ``uvicorn example_apps.django_app.asgi:application --lifespan off``."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

from example_apps.django_app.bodies import asgi_bodies
from example_apps.notes import MAX_BODY_BYTES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_apps.django_app.settings")
# Django alone reads all of an oversize body before refusing it: asgi_bodies stops at the limit.
application = asgi_bodies(get_asgi_application(), MAX_BODY_BYTES)
