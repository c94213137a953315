"""Conduit on Flask: ``gunicorn 'example_apps.conduit.flask_app:create_app()'``.

Every route of ``api.ROUTES`` becomes a Flask view that reads the request
into a ``Call`` and answers the endpoint's reply. A ``ServiceError`` the
endpoint raises reaches the request's context (its transaction rolls back)
and is answered in the spec's shape by the app's error handler.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Flask, request
from flask_datum import Datum, get_dal
from polydatum import DataManager, ServiceError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from . import config
from .api import PREFIX, ROUTES, Call, Route
from .errors import error_body, error_response
from .services import ConduitContext, ConduitDal
from .validation import MAX_BODY_BYTES, body_too_large
from .wiring import user_meta

__all__ = ["create_app"]

FlaskReply = tuple[Any, int] | tuple[Any, int, dict[str, str]]


def _view(route: Route) -> Callable[..., FlaskReply]:
    def view(**params: str) -> FlaskReply:
        body = request.get_data() if route.body else b""
        status, reply = route.answer(get_dal(request, ConduitDal), Call(params, request.args, body))
        return ("" if reply is None else reply), status

    view.__name__ = route.endpoint.__name__
    return view


def error(exc: ServiceError | HTTPException) -> FlaskReply:
    """Answer every error in the spec's shape.

    A service's error (the context rolled back), unknown URLs, wrong methods,
    oversize bodies and 500s (a failed commit included).
    """
    if isinstance(exc, RequestEntityTooLarge):
        exc = body_too_large()
    if isinstance(exc, ServiceError):
        status, body, headers = error_response(exc)
        return body, status, headers
    return error_body(exc.name), exc.code or 500


def create_app(data_manager: DataManager[ConduitDal, ConduitContext] | None = None) -> Flask:
    """Return the app, on ``data_manager`` or the one the environment configures."""
    dm = data_manager or config.data_manager()
    dal = dm.get_dal()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES  # werkzeug refuses larger bodies: 413
    Datum(app, dm, meta=lambda req: user_meta(dal, req.headers.get("Authorization")))
    for route in ROUTES:
        path = PREFIX + re.sub(r"{(\w+)}", r"<\1>", route.path)
        app.add_url_rule(path, view_func=_view(route), methods=[route.method])
    app.register_error_handler(ServiceError, error)
    app.register_error_handler(HTTPException, error)
    return app
