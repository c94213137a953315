"""ASGI entry point of the test project (uvicorn end-to-end test)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django_datum.settings")
application = get_asgi_application()
