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
from starlette_datum.fastapi import DAL

from . import config
from .api import PREFIX, ROUTES, Call, Reply, Route
from .errors import error_body, error_response
from .validation import MAX_BODY_BYTES, body_too_large
from .wiring import user_meta

__all__ = ["create_app"]


async def read_body(request: Request) -> bytes:
    """The request body, refused (413) once it is over ``MAX_BODY_BYTES``, before reading it all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise body_too_large()
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > MAX_BODY_BYTES:
            raise body_too_large()
    return bytes(received)


Body = Annotated[bytes, Depends(read_body)]


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


async def service_error(request: Request, exc: Exception) -> Response:
    """A service's error (401, 403, 404, 413, 422) in the spec's shape; the context rolls back."""
    assert isinstance(exc, ServiceError)
    status, body, headers = error_response(exc)
    return JSONResponse(body, status_code=status, headers=headers)


async def http_error(request: Request, exc: Exception) -> Response:
    """Unknown URLs and wrong methods, in JSON."""
    assert isinstance(exc, HTTPException)
    return JSONResponse(error_body(exc.detail), status_code=exc.status_code, headers=exc.headers)


async def server_error(request: Request, exc: Exception) -> Response:
    """Unhandled errors, a failed commit included."""
    return JSONResponse(error_body("Internal Server Error"), status_code=500)


def create_app(data_manager: DataManager | None = None) -> FastAPI:
    """Return the app, on ``data_manager`` or the one the environment configures."""
    dm = data_manager or config.data_manager()
    dal = dm.get_dal()

    def meta(request: HTTPConnection) -> dict[str, Any]:
        return user_meta(dal, request.headers.get("authorization"))

    app = FastAPI(
        title="Conduit",
        middleware=[Middleware(DatumMiddleware, data_manager=dm, meta=meta)],
        exception_handlers={
            ServiceError: service_error,
            HTTPException: http_error,
            Exception: server_error,
        },
    )
    for route in ROUTES:
        name = route.endpoint.__name__
        app.add_api_route(PREFIX + route.path, _operation(route), methods=[route.method], name=name)
    return app
