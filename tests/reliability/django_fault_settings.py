"""Settings of the Django fault app served by gunicorn and uvicorn in ``test_server_faults``."""

from __future__ import annotations

from tests.django_datum.settings import *  # noqa: F403 - the test project's settings, then ours

ROOT_URLCONF = "tests.reliability.django_fault_urls"
MIDDLEWARE = ["django_datum.middleware.DatumMiddleware"]
DATUM = {
    "DATA_MANAGER": "tests.reliability.django_fault_server.dm",
    "META": "tests.reliability.django_fault_server.user_meta",
}
