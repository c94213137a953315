"""The notes API on Starlette (async): ``uvicorn --factory example_apps.starlette_app:create_app``.

Async all the way down: async endpoints, async services on an ``AsyncEngine``
(psycopg 3 async or aiosqlite), so no call blocks the event loop. A
``ServiceError`` an endpoint raises reaches the request's context (its
transaction rolls back) and is answered in JSON by the app's handler.
"""

from __future__ import annotations

from polydatum import DataManager, ServiceError, lazy
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette_datum import DatumMiddleware, get_dal

from . import config
from .bodies import read_limited
from .notes import MAX_BODY_BYTES, async_user_meta, body_too_large, error_response
from .notes.async_services import AsyncNotesContext, AsyncNotesDal

__all__ = ["create_app"]


async def read_body(request: Request) -> bytes:
    """Return the request body, refusing (413) one over ``MAX_BODY_BYTES`` before reading it all."""
    return await read_limited(request, MAX_BODY_BYTES, body_too_large)


async def notes(request: Request) -> Response:
    """``GET /notes`` (``?after=&limit=``) and ``POST /notes``."""
    dal = get_dal(request, AsyncNotesDal)
    if request.method == "POST":
        return JSONResponse(await dal.notes.create(await read_body(request)), status_code=201)
    query = request.query_params
    return JSONResponse(await dal.notes.list(query.get("after"), query.get("limit")))


async def note(request: Request) -> Response:
    """``GET``, ``PUT`` and ``DELETE /notes/{id}``."""
    dal = get_dal(request, AsyncNotesDal)
    note_id: str = request.path_params["note_id"]
    if request.method == "PUT":
        return JSONResponse(await dal.notes.update(note_id, await read_body(request)))
    if request.method == "DELETE":
        await dal.notes.delete(note_id)
        return Response(status_code=204)
    return JSONResponse(await dal.notes.read(note_id))


async def service_error(request: Request, exc: Exception) -> Response:
    """A service's error (400, 401, 404, 413) in JSON; the context rolls back."""
    assert isinstance(exc, ServiceError)
    status, body, headers = error_response(exc)
    return JSONResponse(body, status_code=status, headers=headers)


async def http_error(request: Request, exc: Exception) -> Response:
    """Unknown URLs and wrong methods, in JSON."""
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def server_error(request: Request, exc: Exception) -> Response:
    """Unhandled errors, a failed commit included."""
    return JSONResponse({"error": "Internal Server Error"}, status_code=500)


def create_app(
    data_manager: DataManager[AsyncNotesDal, AsyncNotesContext] | None = None,
) -> Starlette:
    """Return the app, on ``data_manager`` or the one ``$DATABASE_URL`` names."""
    dm = data_manager or config.async_data_manager()
    dal = dm.get_dal()

    def meta(request: HTTPConnection) -> dict[str, lazy]:
        return async_user_meta(dal, request.headers.get("authorization"))

    return Starlette(
        routes=[
            Route("/notes", notes, methods=["GET", "POST"]),
            Route("/notes/{note_id}", note, methods=["GET", "PUT", "DELETE"]),
        ],
        middleware=[Middleware(DatumMiddleware, data_manager=dm, meta=meta)],
        exception_handlers={
            ServiceError: service_error,
            HTTPException: http_error,
            Exception: server_error,
        },
    )
