"""The RealWorld "Conduit" API: users, profiles, articles, comments, tags and favourites.

One set of services (``services``) behind one table of endpoints (``api``),
served by Flask (``flask_app``), Django (``django_app``) and FastAPI
(``fastapi_app``) on SQLite or PostgreSQL. Start one with
``python -m example_apps --app conduit --demo``.
"""

from __future__ import annotations

from .api import PREFIX, ROUTES, Call, Route
from .errors import error_response
from .security import SECRET_KEY_ENV, ConfigurationError, secret_key
from .validation import MAX_BODY_BYTES, body_too_large
from .wiring import build_data_manager, prepare_database, user_meta

__all__ = [
    "MAX_BODY_BYTES",
    "PREFIX",
    "ROUTES",
    "SECRET_KEY_ENV",
    "Call",
    "ConfigurationError",
    "Route",
    "body_too_large",
    "build_data_manager",
    "error_response",
    "prepare_database",
    "secret_key",
    "user_meta",
]
