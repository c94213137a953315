"""OpenTelemetry in a Flask app: each request's context is a span inside the WSGI server span."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask, abort, request, stream_with_context
from flask_datum import Datum
from opentelemetry import trace
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import ReadableSpan
from polydatum import DataAccessContext, DataManager, NotFound, Service
from polydatum.contrib.opentelemetry import TracingMiddleware, instrument
from werkzeug.test import TestResponse

from tests.otel_spans import Spans, exceptions, is_error, spans_fixture

spans = pytest.fixture(spans_fixture)

FAIL_COMMIT = "X-Fail-Commit"


class CommitFailed(Exception):
    """The transaction middleware's commit raised."""


class Handled(Exception):
    """An exception the app's own error handler turns into a 400."""


class Notes(Service):
    def get(self, note_id: int) -> str:
        if note_id not in self._ctx.conn:
            raise NotFound(f"No note {note_id}.")
        return str(self._ctx.conn[note_id])

    async def aget(self) -> str:
        return str(await self._ctx.aget("aconn"))


@dataclass
class Traced:
    """The app, its DataManager and what its transaction middleware did."""

    app: Flask
    dm: DataManager
    events: list[str] = field(default_factory=list)


@pytest.fixture
def traced(spans: Spans) -> Traced:
    """A Flask app whose DataManager traces, behind OpenTelemetry's WSGI middleware."""
    events: list[str] = []

    def transaction(ctx: DataAccessContext) -> Iterator[None]:
        try:
            yield
        except BaseException as exc:
            events.append(f"rollback:{type(exc).__name__}")
            raise
        if ctx.meta.request.headers.get(FAIL_COMMIT):
            events.append("commit-failed")
            raise CommitFailed("the database refused the commit")
        events.append("commit")

    def conn(ctx: DataAccessContext) -> Iterator[dict[int, str]]:
        yield {1: "first"}

    async def aconn(ctx: DataAccessContext) -> AsyncIterator[str]:
        yield "async-conn"

    dm = DataManager()
    dm.register_context_middleware(
        TracingMiddleware(tracer_provider=spans.provider, meta_attributes=("tenant",)),
        transaction,
    )
    dm.register_resources(conn=conn, aconn=aconn)
    dm.register_services(notes=Notes())
    instrument(dm, tracer_provider=spans.provider)

    app = Flask(__name__)
    Datum(app, dm, meta=lambda req: {"tenant": req.headers.get("X-Tenant")})
    app.wsgi_app = OpenTelemetryMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, tracer_provider=spans.provider
    )

    @app.get("/notes/<int:note_id>")
    def note(note_id: int) -> str:
        return str(request.dal.notes.get(note_id))  # type: ignore[attr-defined]

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("the view failed")

    @app.get("/handled")
    def handled() -> str:
        raise Handled("turned into a 400")

    @app.get("/gone")
    def gone() -> str:
        abort(404)

    @app.get("/async")
    async def async_view() -> str:
        return str(await request.dal.notes.aget())  # type: ignore[attr-defined]

    @app.get("/stream")
    def stream() -> Any:
        @stream_with_context
        def body() -> Iterator[str]:
            for _ in range(2):
                yield request.dal.notes.get(1) + ";"  # type: ignore[attr-defined]

        return app.response_class(body())

    @app.errorhandler(Handled)
    def on_handled(exc: Handled) -> tuple[str, int]:
        return "handled", 400

    return Traced(app, dm, events)


def get(traced: Traced, path: str, **headers: str) -> TestResponse:
    """GET ``path``, reading the whole body (the server span ends once the body is closed)."""
    return traced.app.test_client().get(path, headers=headers, buffered=True)


def server_span(spans: Spans) -> ReadableSpan:
    """The WSGI instrumentation's server span of the one request."""
    [span] = [s for s in spans.finished() if s.kind is trace.SpanKind.SERVER]
    return span


def context_span(spans: Spans) -> ReadableSpan:
    """The one span of a data context (the child of the server span)."""
    server = server_span(spans)
    [span] = [s for s in spans.finished() if spans.parent(s) == server]
    return span


def test_a_request_is_a_context_span_inside_the_server_span(traced: Traced, spans: Spans) -> None:
    """The context's span is named after the route, child of the server span, with opted-in meta."""
    response = get(traced, "/notes/1", **{"X-Tenant": "acme"})
    assert (response.status_code, response.text) == (200, "first")
    context = context_span(spans)
    assert context.name == "GET /notes/<int:note_id>"
    assert context.attributes == {"polydatum.meta.tenant": "acme"}
    assert context.status.status_code is trace.StatusCode.UNSET
    service = spans.one("dal.notes.get")
    assert spans.parent(service) == context
    assert spans.parent(spans.one("resource conn setup")) == service
    assert spans.parent(spans.one("resource conn teardown")) == context
    assert len({s.context.trace_id for s in spans.finished()}) == 1
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_a_failed_commit_is_an_error_span_and_a_500(traced: Traced, spans: Spans) -> None:
    """A commit that fails gives a 500 and makes the context's span an error recording it."""
    response = get(traced, "/notes/1", **{FAIL_COMMIT: "1"})
    assert response.status_code == 500
    assert traced.events == ["commit-failed"]
    context = context_span(spans)
    assert (is_error(context), exceptions(context)) == (True, [f"{__name__}.CommitFailed"])
    assert is_error(server_span(spans))


def test_a_view_exception_is_recorded_on_the_context_span(traced: Traced, spans: Spans) -> None:
    """A view's exception (a 500) is recorded on the context's span, which is an error."""
    assert get(traced, "/boom").status_code == 500
    context = context_span(spans)
    assert context.name == "GET /boom"
    assert (is_error(context), exceptions(context)) == (True, ["RuntimeError"])
    assert traced.events == ["rollback:RuntimeError"]


def test_a_handled_view_exception_is_recorded_too(traced: Traced, spans: Spans) -> None:
    """An exception an errorhandler turned into a 400 is still recorded on the context's span."""
    assert get(traced, "/handled").status_code == 400
    context = context_span(spans)
    assert exceptions(context) == [f"{__name__}.Handled"]
    assert is_error(context)


def test_client_errors_are_recorded_without_an_error_status(traced: Traced, spans: Spans) -> None:
    """abort(404) and a NotFound from a service are recorded; the spans stay non-errors."""
    assert get(traced, "/gone").status_code == 404
    assert exceptions(context_span(spans)) == ["werkzeug.exceptions.NotFound"]
    assert not is_error(context_span(spans))
    spans.clear()
    assert get(traced, "/notes/7").status_code == 404
    assert exceptions(context_span(spans)) == ["polydatum.errors.NotFound"]
    assert not is_error(context_span(spans))
    assert not is_error(spans.one("dal.notes.get"))


def test_an_async_view_with_an_async_resource(traced: Traced, spans: Spans) -> None:
    """An async view's context closes in the view's loop; its spans nest as in a sync view."""
    assert get(traced, "/async").text == "async-conn"
    context = context_span(spans)
    assert context.name == "GET /async"
    assert spans.parent(spans.one("dal.notes.aget")) == context
    assert spans.parent(spans.one("resource aconn teardown")) == context
    assert trace.get_current_span() is trace.INVALID_SPAN
    spans.clear()
    assert get(traced, "/notes/1").status_code == 200  # the next request starts afresh
    assert spans.parent(context_span(spans)) == server_span(spans)


def test_a_streamed_body_runs_inside_the_context_span(traced: Traced, spans: Spans) -> None:
    """A streamed body's service calls nest in the context's span, though WSGI sends it later."""
    response = get(traced, "/stream")
    assert response.text == "first;first;"
    context = context_span(spans)
    calls = [s for s in spans.finished() if s.name == "dal.notes.get"]
    assert [spans.parent(s) for s in calls] == [context, context]
    assert all(s.end_time <= context.end_time for s in calls)  # type: ignore[operator]
    assert traced.events == ["commit"]
    assert trace.get_current_span() is trace.INVALID_SPAN
