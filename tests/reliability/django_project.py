"""Django for the reliability tests: configured once, views and URLs built per test.

Settings are process-wide, so this uses the test project's settings (the same
the django_datum tests use) and each test overrides ``ROOT_URLCONF``,
``MIDDLEWARE`` and ``DATUM`` for itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django_datum.settings")
django.setup()

from django.http import HttpRequest  # noqa: E402 - needs django.setup()
from django.test import override_settings  # noqa: E402
from polydatum import DataManager  # noqa: E402

#: Only our middleware: no sessions or auth, so no request touches a database.
MIDDLEWARE = ["django_datum.middleware.DatumMiddleware"]


def user_meta(request: HttpRequest) -> dict[str, Any]:
    """META hook: the X-User header is the request's user."""
    return {"user": request.headers.get("x-user")}


def project(
    dm: DataManager,
    urlconf: str,
    meta: Callable[[HttpRequest], Mapping[str, Any]] = user_meta,
) -> override_settings:
    """Settings serving ``urlconf`` with one context of ``dm`` per request (``meta``: META hook)."""
    return override_settings(
        ROOT_URLCONF=urlconf,
        MIDDLEWARE=MIDDLEWARE,
        DATUM={"DATA_MANAGER": dm, "META": meta},
    )
