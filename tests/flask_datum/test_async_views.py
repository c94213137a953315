"""Async views: async resources live and die in the view's own event loop."""

from __future__ import annotations

from typing import Any

from flask import Flask, request

from .conftest import Recorder


def _loops(rec: Recorder, prefix: str) -> list[str]:
    return [e.rsplit(":", 1)[1] for e in rec.events if e.startswith(prefix)]


def test_async_view_uses_sync_resources(app: Flask, rec: Recorder) -> None:
    """An async view reaches sync services through request.dal; the context commits."""

    @app.get("/")
    async def index() -> Any:
        return request.dal.notes.get(1)  # type: ignore[attr-defined]

    assert app.test_client().get("/").json == {"id": 1, "text": "first"}
    assert rec.events == ["begin", "conn:setup", "commit", "conn:teardown"]
    assert rec.active() is None


def test_async_resource_is_torn_down_in_the_views_loop(app: Flask, rec: Recorder) -> None:
    """An async resource from `await request.datum_context.aget()` is closed in the same loop."""

    @app.get("/")
    async def index() -> str:
        return str(await request.datum_context.aget("aconn"))  # type: ignore[attr-defined]

    assert app.test_client().get("/").text == "async-conn"
    setup, teardown = _loops(rec, "aconn:setup"), _loops(rec, "aconn:teardown")
    assert setup == teardown
    assert [e.split(":")[0] for e in rec.events] == ["begin", "aconn", "commit", "aconn"]
    assert rec.active() is None


def test_async_view_error_rolls_back_in_the_loop(app: Flask, rec: Recorder) -> None:
    """An async view's error is thrown into the context before its async resource closes."""

    @app.get("/")
    async def index() -> str:
        await request.datum_context.aget("aconn")  # type: ignore[attr-defined]
        raise KeyError("x")

    assert app.test_client().get("/").status_code == 500
    assert "rollback:KeyError" in rec.events
    assert _loops(rec, "aconn:setup") == _loops(rec, "aconn:teardown")
    assert rec.active() is None


def test_async_view_failed_commit_gives_500(app: Flask, rec: Recorder) -> None:
    """A commit failing in an async view's loop gives the app's 500, not the view's 200."""
    rec.fail_commit = True

    @app.get("/")
    async def index() -> str:
        return str(await request.datum_context.aget("aconn"))  # type: ignore[attr-defined]

    app.register_error_handler(500, lambda e: ("custom", 500))
    response = app.test_client().get("/")
    assert (response.status_code, response.text) == (500, "custom")
    assert len(_loops(rec, "aconn:teardown")) == 1


def test_generator_from_async_view_with_async_resource(app: Flask, rec: Recorder) -> None:
    """A body returned by an async view whose context closed in its loop never sees that context."""

    @app.get("/")
    async def index() -> Any:
        await request.datum_context.aget("aconn")  # type: ignore[attr-defined]
        return (repr(rec.active()) for _ in range(2))

    assert app.test_client().get("/").text == "NoneNone"
    assert rec.count("commit") == 1
