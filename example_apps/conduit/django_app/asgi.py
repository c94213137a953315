"""ASGI entry point: ``uvicorn example_apps.conduit.django_app.asgi:application --lifespan off``."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_apps.conduit.django_app.settings")
application = get_asgi_application()
