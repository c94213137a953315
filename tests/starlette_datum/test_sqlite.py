"""A real database (SQLite): what a request wrote is kept only when it succeeded."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from polydatum import DataAccessContext, DataManager, Service
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette_datum import DatumMiddleware

pytestmark = pytest.mark.anyio


class Notes(Service):
    def add(self, text: str) -> None:
        self._ctx.db.execute("INSERT INTO starlette_notes (text) VALUES (?)", (text,))


@pytest.fixture
def database(tmp_path: Path) -> Path:
    """An SQLite file with an empty notes table."""
    path = tmp_path / "notes.sqlite3"
    # A connection's `with` block ends its transaction but leaves it open: closing() closes it.
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE starlette_notes (text TEXT NOT NULL)")
    return path


@pytest.fixture
def notes_app(database: Path) -> Starlette:
    """An app whose context commits the SQLite transaction in middleware."""

    def db(ctx: DataAccessContext) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(database, check_same_thread=False)
        try:
            yield conn
        finally:
            conn.close()

    def transaction(ctx: DataAccessContext) -> Iterator[None]:
        try:
            yield
        except BaseException:
            if "db" in ctx:
                ctx.db.rollback()
            raise
        if "db" in ctx:
            ctx.db.commit()

    dm = DataManager()
    dm.register_resources(db=db)
    dm.register_context_middleware(transaction)
    dm.register_services(notes=Notes())

    async def add(request: Request) -> Response:
        request.state.dal.notes.add(request.query_params["text"])
        if "reject" in request.query_params:
            raise HTTPException(400, "rejected after writing")
        return PlainTextResponse("added")

    return Starlette(
        routes=[Route("/add", add, methods=["POST"])],
        middleware=[Middleware(DatumMiddleware, data_manager=dm)],
    )


def stored(database: Path) -> list[str]:
    with closing(sqlite3.connect(database)) as db:
        return [row[0] for row in db.execute("SELECT text FROM starlette_notes")]


async def test_successful_request_commits_its_writes(notes_app: Starlette, database: Path) -> None:
    """A 200 means the row is in the database by the time the client reads the response."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=notes_app)) as client:
        assert (await client.post("http://test/add?text=kept")).status_code == 200
        assert stored(database) == ["kept"]


async def test_http_exception_discards_the_requests_writes(
    notes_app: Starlette, database: Path
) -> None:
    """A request that ends in an HTTPException leaves nothing behind."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=notes_app)) as client:
        assert (await client.post("http://test/add?text=lost&reject=1")).status_code == 400
    assert stored(database) == []
