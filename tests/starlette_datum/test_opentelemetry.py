"""OpenTelemetry in Starlette and FastAPI apps: each request's context is a span in the server's."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import anyio
import httpx
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import ReadableSpan
from polydatum import DataAccessContext, DataManager, NotFound, Service
from polydatum.contrib.opentelemetry import CONTEXT_SPAN_NAME, TracingMiddleware, instrument
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket
from starlette_datum import DatumMiddleware, get_dal

from tests.otel_spans import Spans, exceptions, is_error, spans_fixture

pytestmark = pytest.mark.anyio
spans = pytest.fixture(spans_fixture)

FAIL_COMMIT = "x-fail-commit"


class CommitFailed(Exception):
    """The transaction middleware's commit raised."""


class Handled(Exception):
    """An exception the app's own handler turns into a 400."""


class Notes(Service):
    async def get(self, note_id: int) -> str:
        if note_id == 0:
            raise NotFound(f"No note {note_id}.")
        return f"{self._ctx.conn}/{await self._ctx.aget('aconn')}/{note_id}"

    def thread(self) -> str:
        return threading.current_thread().name


@dataclass
class Traced:
    """A DataManager that traces, and what its transaction middleware did."""

    dm: DataManager
    events: list[str] = field(default_factory=list)


@pytest.fixture
def traced(spans: Spans) -> Traced:
    """TracingMiddleware first, then an async transaction, a sync and an async resource."""
    events: list[str] = []

    async def transaction(ctx: DataAccessContext) -> AsyncIterator[None]:
        try:
            yield
        except BaseException as exc:
            events.append(f"rollback:{type(exc).__name__}")
            raise
        if ctx.meta.request.headers.get(FAIL_COMMIT):
            events.append("commit-failed")
            raise CommitFailed("the database refused the commit")
        events.append("commit")

    def conn(ctx: DataAccessContext) -> Iterator[str]:
        yield "conn"

    async def aconn(ctx: DataAccessContext) -> AsyncIterator[str]:
        yield "aconn"
        await anyio.lowlevel.checkpoint()  # an await in teardown, like a real pool

    dm = DataManager()
    dm.register_context_middleware(TracingMiddleware(tracer_provider=spans.provider), transaction)
    dm.register_resources(conn=conn, aconn=aconn)
    dm.register_services(notes=Notes())
    instrument(dm, tracer_provider=spans.provider)
    return Traced(dm, events)


def make_app(traced: Traced, spans: Spans, *, server_spans: bool = True) -> Starlette:
    """The test app: DatumMiddleware inside OpenTelemetry's ASGI middleware (if server_spans)."""

    async def note(request: Request) -> Response:
        return PlainTextResponse(await get_dal(request).notes.get(request.path_params["id"]))

    async def boom(request: Request) -> Response:
        raise RuntimeError("the endpoint failed")

    async def handled(request: Request) -> Response:
        raise Handled("turned into a 400")

    async def http_error(request: Request) -> Response:
        raise HTTPException(404)

    def sync(request: Request) -> Response:
        return PlainTextResponse(get_dal(request).notes.thread())

    async def stream(request: Request) -> Response:
        dal = get_dal(request)

        async def body() -> AsyncIterator[str]:
            for i in (1, 2):
                yield await dal.notes.get(i) + ";"

        return StreamingResponse(body())

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await get_dal(websocket).notes.get(1))
        await websocket.close()

    async def on_handled(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("handled", status_code=400)

    middleware = [Middleware(DatumMiddleware, data_manager=traced.dm)]
    if server_spans:
        middleware.insert(0, Middleware(OpenTelemetryMiddleware, tracer_provider=spans.provider))
    return Starlette(
        routes=[
            Route("/notes/{id:int}", note),
            Route("/boom", boom),
            Route("/handled", handled),
            Route("/http-error", http_error),
            Route("/sync", sync),
            Route("/stream", stream),
            WebSocketRoute("/ws", ws),
        ],
        middleware=middleware,
        exception_handlers={Handled: on_handled},
    )


def client_for(app: Starlette) -> httpx.AsyncClient:
    """httpx over ASGITransport: the app runs in the test's own context; errors become 500s."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def get(app: Starlette, path: str, **headers: str) -> httpx.Response:
    """GET ``path`` from ``app``."""
    async with client_for(app) as client:
        return await client.get(path, headers=headers)


def polydatum_spans(spans: Spans) -> list[ReadableSpan]:
    """The spans polydatum made (its instrumentation scope), in the order they ended."""
    return [s for s in spans.finished() if s.instrumentation_scope.name == "polydatum"]  # type: ignore[union-attr]


def context_span(spans: Spans) -> ReadableSpan:
    """The one data context span: the polydatum span whose parent is not polydatum's."""
    ours = polydatum_spans(spans)
    [span] = [s for s in ours if spans.parent(s) not in ours]
    return span


def server_span(spans: Spans) -> ReadableSpan:
    """The ASGI instrumentation's server span of the one request."""
    [span] = [s for s in spans.finished() if s.kind is trace.SpanKind.SERVER]
    return span


async def test_a_request_is_a_context_span_inside_the_server_span(
    traced: Traced, spans: Spans
) -> None:
    """The context's span is named after the route, child of the server span; its spans nest."""
    response = await get(make_app(traced, spans), "/notes/3")
    assert (response.status_code, response.text) == (200, "conn/aconn/3")
    context = context_span(spans)
    assert context.name == "GET /notes/{id:int}"
    assert spans.parent(context) == server_span(spans)
    assert not is_error(context)
    service = spans.one("dal.notes.get")
    assert spans.parent(service) == context
    for name in ("conn", "aconn"):
        assert spans.parent(spans.one(f"resource {name} setup")) == service
        assert spans.parent(spans.one(f"resource {name} teardown")) == context
    assert trace.get_current_span() is trace.INVALID_SPAN


async def test_a_failed_commit_is_an_error_span_and_a_500(traced: Traced, spans: Spans) -> None:
    """A commit that fails gives a 500 and makes the context's span an error recording it."""
    response = await get(make_app(traced, spans), "/notes/3", **{FAIL_COMMIT: "1"})
    assert response.status_code == 500
    assert traced.events == ["commit-failed"]
    context = context_span(spans)
    assert (is_error(context), exceptions(context)) == (True, [f"{__name__}.CommitFailed"])
    assert is_error(server_span(spans))


async def test_an_endpoint_exception_is_recorded(traced: Traced, spans: Spans) -> None:
    """An endpoint's exception (a 500) is recorded on the context's span, an error."""
    assert (await get(make_app(traced, spans), "/boom")).status_code == 500
    context = context_span(spans)
    assert (context.name, is_error(context), exceptions(context)) == (
        "GET /boom",
        True,
        ["RuntimeError"],
    )
    assert traced.events == ["rollback:RuntimeError"]


async def test_a_handled_exception_is_recorded_too(traced: Traced, spans: Spans) -> None:
    """An exception the app's handler turned into a 400 is still recorded on the context's span."""
    assert (await get(make_app(traced, spans), "/handled")).status_code == 400
    assert exceptions(context_span(spans)) == [f"{__name__}.Handled"]


async def test_client_errors_are_recorded_without_an_error_status(
    traced: Traced, spans: Spans
) -> None:
    """An HTTPException(404) and a service's NotFound are recorded; the spans are no errors."""
    app = make_app(traced, spans)
    assert (await get(app, "/http-error")).status_code == 404
    assert exceptions(context_span(spans)) == ["starlette.exceptions.HTTPException"]
    assert not is_error(context_span(spans))
    spans.clear()
    assert (await get(app, "/notes/0")).status_code == 404
    assert exceptions(context_span(spans)) == ["polydatum.errors.NotFound"]
    assert not is_error(context_span(spans))


async def test_a_sync_endpoint_in_the_thread_pool(traced: Traced, spans: Spans) -> None:
    """A sync endpoint's service call, in a worker thread, is a child of the context's span."""
    response = await get(make_app(traced, spans), "/sync")
    assert response.text != threading.current_thread().name
    assert spans.parent(spans.one("dal.notes.thread")) == context_span(spans)


async def test_a_streamed_body_runs_inside_the_context_span(traced: Traced, spans: Spans) -> None:
    """Service calls of a streamed body are children of the context's span, which ends after."""
    assert (await get(make_app(traced, spans), "/stream")).text == "conn/aconn/1;conn/aconn/2;"
    context = context_span(spans)
    calls = [s for s in spans.finished() if s.name == "dal.notes.get"]
    assert [spans.parent(s) for s in calls] == [context, context]
    assert all(s.end_time <= context.end_time for s in calls)  # type: ignore[operator]
    assert traced.events == ["commit"]
    assert trace.get_current_span() is trace.INVALID_SPAN


async def test_without_a_server_span_contexts_are_roots_and_leave_nothing_behind(
    traced: Traced, spans: Spans
) -> None:
    """With no server span each request's context span is a root span; none stays current."""
    app = make_app(traced, spans, server_spans=False)
    for path in ("/notes/1", "/stream", "/notes/2"):
        assert (await get(app, path)).status_code == 200
    contexts = [s for s in spans.finished() if s.name.startswith("GET")]
    notes = "GET /notes/{id:int}"
    assert [c.name for c in contexts] == [notes, "GET /stream", notes]
    assert [c.parent for c in contexts] == [None, None, None]
    assert len({c.context.trace_id for c in contexts}) == 3  # type: ignore[union-attr]
    # The streamed body closed its context in a child task; the next request put back here
    # what was current before (httpx runs the app in the test's own context).
    assert trace.get_current_span() is trace.INVALID_SPAN


async def test_concurrent_requests_get_spans_of_their_own(traced: Traced, spans: Spans) -> None:
    """Concurrent requests each get a context span in their own trace, with their own calls."""
    app = make_app(traced, spans)
    async with client_for(app) as client, anyio.create_task_group() as tg:
        for i in (1, 2, 3, 4):
            tg.start_soon(client.get, f"/notes/{i}")
    servers = [s for s in spans.finished() if s.kind is trace.SpanKind.SERVER]
    assert len(servers) == 4
    for server in servers:
        trace_spans = [s for s in spans.finished() if s.context.trace_id == server.context.trace_id]  # type: ignore[union-attr]
        names = sorted(s.name for s in trace_spans if s.instrumentation_scope.name == "polydatum")  # type: ignore[union-attr]
        assert names == sorted(
            [
                "GET /notes/{id:int}",
                "dal.notes.get",
                "resource conn setup",
                "resource conn teardown",
                "resource aconn setup",
                "resource aconn teardown",
            ]
        )


def test_a_websocket_session_is_one_span(traced: Traced, spans: Spans) -> None:
    """A WebSocket connection's context is one span named after its route."""
    client = TestClient(make_app(traced, spans, server_spans=False))
    with client, client.websocket_connect("/ws") as websocket:
        assert websocket.receive_text() == "conn/aconn/1"
    context = context_span(spans)
    assert context.name == "/ws"
    assert spans.parent(spans.one("dal.notes.get")) == context
    assert spans.names().count(CONTEXT_SPAN_NAME) == 0
