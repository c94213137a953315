"""``GET /notes/{id}`` of the example apps written by hand: no polydatum, same engine and SQL.

Each view checks a connection out of the engine's pool itself, runs the
request in one transaction (``engine.begin()``), authenticates the Bearer
token, reads the note and maps the domain's errors to JSON: what the example
apps get from their plugin and ``polydatum.contrib.sqlalchemy``. The
statements, validation and errors are the example apps' own, and requests are
routed as the example apps route them (Flask: a blueprint's view; Django: the
same URL patterns in the same order, and a JSON 405 for a method the URL does
not take), so the two variants differ only in how the connection, the
transaction and the user are handled.

Targets (``bench/`` on the path): ``handmade_notes:flask_app()``,
``handmade_notes:django_wsgi()``, ``handmade_notes:django_asgi()``,
``handmade_notes:starlette_app()``; the database is ``$DATABASE_URL`` and the pool
size ``$DATABASE_POOL_SIZE``, read as the example apps read them.
"""

from __future__ import annotations

from typing import Any

from polydatum import ServiceError
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from example_apps.config import database_pool_size, database_url
from example_apps.notes import Unauthorized, error_response
from example_apps.notes import statements as sql
from example_apps.notes.services import not_found
from example_apps.notes.validation import parse_bearer, parse_note_id
from example_apps.notes.wiring import make_async_engine, make_engine

_UNKNOWN = "Unknown token: ask for a new one (python -m example_apps token)."


def _read(conn: Connection, authorization: str | None, note_id: str) -> dict[str, Any]:
    row = conn.execute(sql.user_by_token(parse_bearer(authorization))).first()
    if row is None:
        raise Unauthorized(_UNKNOWN)
    number = parse_note_id(note_id)
    note = conn.execute(sql.select_note(sql.User(*row), number)).mappings().first()
    if note is None:
        raise not_found(number)
    return sql.note_json(note)


async def _aread(conn: AsyncConnection, authorization: str | None, note_id: str) -> dict[str, Any]:
    row = (await conn.execute(sql.user_by_token(parse_bearer(authorization)))).first()
    if row is None:
        raise Unauthorized(_UNKNOWN)
    number = parse_note_id(note_id)
    result = await conn.execute(sql.select_note(sql.User(*row), number))
    note = result.mappings().first()
    if note is None:
        raise not_found(number)
    return sql.note_json(note)


def flask_app() -> Any:
    from flask import Blueprint, Flask, request

    engine = make_engine(database_url(), database_pool_size())
    app = Flask(__name__)
    # Routed like the example app: a blueprint's view, registered on the app.
    notes = Blueprint("notes", __name__)

    @notes.get("/notes/<note_id>")
    def read_note(note_id: str) -> Any:
        try:
            with engine.begin() as conn:
                return _read(conn, request.headers.get("Authorization"), note_id)
        except ServiceError as exc:
            status, body, headers = error_response(exc)
            return body, status, headers

    app.register_blueprint(notes)
    return app


def _django_setup() -> None:
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="handmade",
        ALLOWED_HOSTS=["127.0.0.1"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        DATABASES={},
        USE_TZ=True,
    )
    django.setup()
    from django.http import JsonResponse
    from django.urls import path

    globals()["_JsonResponse"] = JsonResponse
    globals()["_engine"] = make_engine(database_url(), database_pool_size())
    # The example app's URL patterns, in its order (only GET /notes/{id} is written here).
    globals()["urlpatterns"] = [
        path("notes", django_not_here),
        path("notes/<str:note_id>", django_view),
    ]


def django_view(request: Any, note_id: str) -> Any:
    # Like the example app's views: any method but those of the URL gets a JSON 405.
    if request.method != "GET":
        return _JsonResponse({"error": "Method Not Allowed"}, status=405, headers={"Allow": "GET"})
    try:
        with _engine.begin() as conn:
            return _JsonResponse(_read(conn, request.headers.get("Authorization"), note_id))
    except ServiceError as exc:
        status, body, headers = error_response(exc)
        return _JsonResponse(body, status=status, headers=headers)


def django_not_here(request: Any) -> Any:
    return _JsonResponse({"error": "Not written by hand"}, status=404)


def django_wsgi() -> Any:
    from django.core.wsgi import get_wsgi_application

    _django_setup()
    return get_wsgi_application()


def django_asgi() -> Any:
    from django.core.asgi import get_asgi_application

    _django_setup()
    return get_asgi_application()


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    engine = make_async_engine(database_url(), database_pool_size())

    async def read_note(request: Request) -> Response:
        try:
            async with engine.begin() as conn:
                note = await _aread(
                    conn, request.headers.get("authorization"), request.path_params["note_id"]
                )
        except ServiceError as exc:
            status, body, headers = error_response(exc)
            return JSONResponse(body, status_code=status, headers=headers)
        return JSONResponse(note)

    return Starlette(routes=[Route("/notes/{note_id}", read_note)])


_engine: Any = None  # set by _django_setup, with urlpatterns and _JsonResponse
_JsonResponse: Any = None
