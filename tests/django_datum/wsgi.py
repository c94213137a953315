"""WSGI entry point of the test project (gunicorn end-to-end test)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django_datum.settings")
application = get_wsgi_application()
