"""Streamed bodies keep the context open until they end or are closed."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, request, send_file, stream_with_context
from polydatum import DataAccessContext

from .conftest import CommitFailed, Recorder


def _generator_app(app: Flask, rec: Recorder, seen: list[DataAccessContext | None]) -> None:
    @app.get("/")
    def index() -> Any:
        dal = request.dal  # type: ignore[attr-defined]

        def body() -> Iterator[str]:
            for _ in range(3):
                seen.append(rec.active())
                yield dal.notes.get(1)["text"]

        return body()


def test_generator_body_uses_the_dal_while_streaming(app: Flask, rec: Recorder) -> None:
    """Every chunk of a generator body runs with the request's context active."""
    seen: list[DataAccessContext | None] = []
    _generator_app(app, rec, seen)
    assert app.test_client().get("/").text == "first" * 3
    assert seen[0] is not None
    assert seen == [seen[0]] * 3


def test_generator_body_closes_the_context_at_its_end(app: Flask, rec: Recorder) -> None:
    """The context commits only after the last chunk, then nothing is active."""
    _generator_app(app, rec, [])
    response = app.test_client().get("/")
    assert "commit" not in rec.events
    response.get_data()
    response.close()
    assert rec.events == ["begin", "conn:setup", "commit", "conn:teardown"]
    assert rec.active() is None


def test_stream_with_context_survives_flasks_first_teardown(app: Flask, rec: Recorder) -> None:
    """In a stream_with_context body request.dal works; the context closes once, at the end."""

    @app.get("/")
    def index() -> Any:
        @stream_with_context
        def body() -> Iterator[str]:
            yield "a"
            yield request.dal.notes.get(1)["text"]  # type: ignore[attr-defined]

        return body()

    response = app.test_client().get("/")
    assert response.get_data(as_text=True) == "afirst"
    response.close()
    assert rec.events == ["begin", "conn:setup", "commit", "conn:teardown"]


def test_client_gone_mid_stream_rolls_back_once(app: Flask, rec: Recorder) -> None:
    """A body closed after its first chunk (client gone) rolls back and tears down once."""
    _generator_app(app, rec, [])
    response = app.test_client().get("/")
    chunks = iter(response.response)
    next(chunks)
    response.close()
    response.close()
    assert rec.events == ["begin", "conn:setup", "rollback:GeneratorExit", "conn:teardown"]
    assert rec.active() is None


def test_head_request_on_a_stream_closes_the_context(app: Flask, rec: Recorder) -> None:
    """A HEAD request, whose body is never read, still closes the context."""
    _generator_app(app, rec, [])
    app.test_client().head("/").close()
    assert rec.events == ["begin", "rollback:GeneratorExit"]
    assert rec.active() is None


def test_failed_commit_after_stream_is_logged(
    app: Flask, rec: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """A commit failing after the last chunk is logged and raised, so the server drops the link."""
    rec.fail_commit = True
    _generator_app(app, rec, [])
    response = app.test_client().get("/")
    with caplog.at_level(logging.ERROR, logger="polydatum"):
        with pytest.raises(CommitFailed):
            response.get_data()
        response.close()
    assert response.status_code == 200
    assert "CommitFailed" in caplog.text
    assert rec.count("conn:teardown") == 1


def test_file_response_closes_before_sending(app: Flask, rec: Recorder) -> None:
    """A file response is not a stream of the view: a failed commit still turns it into a 500."""
    rec.fail_commit = True
    app.get("/")(lambda: send_file(io.BytesIO(b"data"), mimetype="text/plain"))
    assert app.test_client().get("/").status_code == 500


def test_iterator_response_closes_before_sending(app: Flask, rec: Recorder) -> None:
    """A list-backed body closes the context before the response is returned."""
    app.get("/")(lambda: iter(["a", "b"]))
    response = app.test_client().get("/")
    assert rec.events == ["begin", "commit"]
    assert response.text == "ab"


_HTTP10 = {"SERVER_PROTOCOL": "HTTP/1.0"}


def test_http10_reads_a_generator_body_whole_before_the_commit(app: Flask, rec: Recorder) -> None:
    """For HTTP/1.0 the body is read in the view's context and sent with its length after commit."""
    seen: list[DataAccessContext | None] = []
    _generator_app(app, rec, seen)
    response = app.test_client().get("/", environ_overrides=_HTTP10)
    assert rec.events == ["begin", "conn:setup", "commit", "conn:teardown"]  # before any read
    assert (response.text, response.headers["Content-Length"]) == ("first" * 3, "15")
    assert seen[0] is not None
    assert seen == [seen[0]] * 3


def test_http10_failed_commit_after_a_generator_body_is_a_500(app: Flask, rec: Recorder) -> None:
    """For HTTP/1.0 a commit failing after the body is the app's 500, and nothing of the body."""
    rec.fail_commit = True
    _generator_app(app, rec, [])
    response = app.test_client().get("/", environ_overrides=_HTTP10)
    assert response.status_code == 500
    assert "first" not in response.text


def test_http10_body_failing_midway_is_a_500_and_rolls_back(app: Flask, rec: Recorder) -> None:
    """For HTTP/1.0 a generator raising after its first chunk is a 500; the context rolls back."""

    @app.get("/")
    def index() -> Any:
        def body() -> Iterator[str]:
            yield "partial"
            raise RuntimeError("the body broke")

        return body()

    response = app.test_client().get("/", environ_overrides=_HTTP10)
    assert (response.status_code, "partial" in response.text) == (500, False)
    assert rec.events == ["begin", "rollback:RuntimeError"]
