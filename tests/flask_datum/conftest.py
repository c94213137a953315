"""A DataManager that records its lifecycle, and Flask apps set up with flask_datum."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import Any

import pytest
from flask import Flask
from flask_datum import Datum
from polydatum import DataAccessContext, DataManager, NotFound, Service


class CommitFailed(Exception):
    """Raised by the transaction middleware when a commit is set to fail."""


class Notes(Service):
    """A service reading the request's connection and meta."""

    def get(self, note_id: int) -> dict[str, Any]:
        conn = self._ctx.conn
        if note_id not in conn["notes"]:
            raise NotFound(f"No note {note_id}.")
        return {"id": note_id, "text": conn["notes"][note_id]}

    def user(self) -> Any:
        return self._ctx.meta.user


class Recorder:
    """A DataManager with a transaction middleware and a connection resource, and their log."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.fail_commit = False
        self.dm = DataManager()
        self.dm.register_context_middleware(self._transaction)
        self.dm.register_resources(conn=self._conn, aconn=self._aconn)
        self.dm.register_services(notes=Notes())

    def _transaction(self, ctx: DataAccessContext) -> Generator[None, None, None]:
        self.events.append("begin")
        try:
            yield
        except BaseException as exc:
            self.events.append(f"rollback:{type(exc).__name__}")
            raise
        if self.fail_commit:
            self.events.append("commit-failed")
            raise CommitFailed("the database refused the commit")
        self.events.append("commit")

    def _conn(self, ctx: DataAccessContext) -> Generator[dict[str, Any], None, None]:
        self.events.append("conn:setup")
        try:
            yield {"notes": {1: "first"}}
        finally:
            self.events.append("conn:teardown")

    async def _aconn(self, ctx: DataAccessContext) -> AsyncGenerator[str, None]:
        import asyncio

        self.events.append(f"aconn:setup:{id(asyncio.get_running_loop())}")
        try:
            yield "async-conn"
        finally:
            self.events.append(f"aconn:teardown:{id(asyncio.get_running_loop())}")

    def count(self, event: str) -> int:
        """How many times ``event`` was logged."""
        return self.events.count(event)

    def active(self) -> DataAccessContext | None:
        """The DataManager's active context in the calling thread (None after each request)."""
        return self.dm.get_active_context()


@pytest.fixture
def rec() -> Recorder:
    """A fresh recording DataManager."""
    return Recorder()


@pytest.fixture
def app(rec: Recorder) -> Flask:
    """A Flask app set up with Datum and the recording DataManager."""
    app = Flask(__name__)
    Datum(app, rec.dm)
    return app
