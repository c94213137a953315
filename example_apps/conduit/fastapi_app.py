"""Conduit on FastAPI: ``uvicorn --factory example_apps.conduit.fastapi_app:create_app``.

The services are the sync ones every app uses, so the path operations are
plain ``def`` functions, which FastAPI runs in its thread pool: the event
loop never waits for the database inside an endpoint. The body is read
before that, on the loop, by an async dependency with a size limit; the DAL
comes from ``starlette_datum.fastapi.DAL``. ``DatumMiddleware`` closes the
request's context (the commit) on the event loop, before the response
starts: one short blocking round trip per request that wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from polydatum import DataManager, ServiceError
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette_datum import DatumMiddleware
from starlette_datum.fastapi import dal_dependency

from example_apps.bodies import read_limited

from . import config
from .api import PREFIX, ROUTES, Call, Reply, Route
from .errors import error_body, error_response
from .services import ConduitContext, ConduitDal
from .validation import MAX_BODY_BYTES, body_too_large
from .wiring import user_meta

__all__ = ["create_app"]


async def read_body(request: Request) -> bytes:
    """The request body, refused (413) once it is over ``MAX_BODY_BYTES``, before reading it all."""
    return await read_limited(request, MAX_BODY_BYTES, body_too_large)


Body = Annotated[bytes, Depends(read_body)]
#: The request's DAL, a ``ConduitDal``.
DAL = Annotated[ConduitDal, Depends(dal_dependency)]


def _respond(reply: Reply) -> Response:
    status, body = reply
    return Response(status_code=status) if body is None else JSONResponse(body, status)


def _operation(route: Route) -> Callable[..., Response]:
    # Two signatures, so that only the routes with a body read it.
    if route.body:

        def with_body(request: Request, dal: DAL, body: Body) -> Response:
            call = Call(request.path_params, request.query_params, body)
            return _respond(route.answer(dal, call))

        return with_body

    def without_body(request: Request, dal: DAL) -> Response:
        return _respond(route.answer(dal, Call(request.path_params, request.query_params, b"")))

    return without_body


async def error(request: Request, exc: Exception) -> Response:
    """Answer every error in the spec's shape.

    A service's error (the context rolls back), unknown URLs and wrong methods
    (Starlette's ``HTTPException``), and unhandled errors (a failed commit) as 500.
    """
    if isinstance(exc, ServiceError):
        status, body, headers = error_response(exc)
    elif isinstance(exc, HTTPException):
        status, body, headers = exc.status_code, error_body(exc.detail), dict(exc.headers or {})
    else:
        status, body, headers = 500, error_body("Internal Server Error"), {}
    return JSONResponse(body, status_code=status, headers=headers)


def create_app(data_manager: DataManager[ConduitDal, ConduitContext] | None = None) -> FastAPI:
    """Return the app, on ``data_manager`` or the one the environment configures."""
    dm = data_manager or config.data_manager()
    dal = dm.get_dal()

    def meta(request: HTTPConnection) -> dict[str, Any]:
        return user_meta(dal, request.headers.get("authorization"))

    app = FastAPI(
        title="Conduit",
        middleware=[Middleware(DatumMiddleware, data_manager=dm, meta=meta)],
        exception_handlers={ServiceError: error, HTTPException: error, Exception: error},
    )
    for route in ROUTES:
        name = route.endpoint.__name__
        app.add_api_route(PREFIX + route.path, _operation(route), methods=[route.method], name=name)
    return app
