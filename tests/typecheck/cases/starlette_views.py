"""Starlette: ``get_dal(request, Dal)`` is the app's DAL in an endpoint (run: through httpx)."""

from __future__ import annotations

from typing import assert_type

import anyio
import httpx
from notes_app import Dal, Notes, User, build
from polydatum import DataAccessLayer
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette_datum import DatumMiddleware, get_dal


async def create_note(request: Request) -> JSONResponse:
    dal = get_dal(request, Dal)
    assert_type(dal, Dal)
    assert_type(dal.notes, Notes)
    note_id = dal.notes.create((await request.body()).decode())
    assert_type(note_id, int)
    return JSONResponse({"id": note_id, "title": dal.notes.title(note_id)}, status_code=201)


async def untyped(request: Request) -> PlainTextResponse:
    dal = get_dal(request)
    assert_type(dal, DataAccessLayer)
    title: str = dal.notes.title(dal.notes.create("x"))
    return PlainTextResponse(title)


def user_meta(conn: HTTPConnection) -> dict[str, User]:
    return {"user": User(conn.headers.get("x-user", "ann"))}


app = Starlette(
    routes=[Route("/notes", create_note, methods=["POST"]), Route("/untyped", untyped)],
    middleware=[Middleware(DatumMiddleware, data_manager=build(), meta=user_meta)],
)


async def main() -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        created = await client.post("/notes", content="milk")
        assert created.status_code == 201, created.text
        assert created.json() == {"id": 1, "title": "milk"}
        assert (await client.get("/untyped")).text == "x"


if __name__ == "__main__":
    anyio.run(main)
