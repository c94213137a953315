"""A DataManager that records its lifecycle, and a Starlette app that exercises it."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import starlette
from polydatum import DataAccessContext, DataManager, NotFound, Service, ServiceError
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from starlette_datum import DatumMiddleware, get_dal

FAIL_COMMIT = "x-fail-commit"

#: The installed Starlette's (major, minor): the supported releases differ in what the app raises.
STARLETTE = tuple(int(part) for part in starlette.__version__.split(".")[:2])


class CommitFailed(Exception):
    """The transaction middleware's commit raised."""


class Handled(Exception):
    """An exception the app's own exception handler turns into a 400."""


class Unavailable(ServiceError):
    """A service error with a 5xx code."""

    code = 503


class Recorder:
    """Collects lifecycle events: ``begin``, ``commit``, ``rollback:<Exc>``, resource steps."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def count(self, event: str) -> int:
        return self.events.count(event)

    def clear(self) -> None:
        self.events.clear()


class Notes(Service):
    """Reads both resources and the meta, awaiting in between like real I/O."""

    async def touch(self) -> str:
        ctx = self._ctx
        conn = ctx.conn
        aconn = await ctx.aget("aconn")
        await anyio.lowlevel.checkpoint()
        return f"{conn}+{aconn}"

    async def get(self, note_id: int) -> str:
        await self.touch()
        if note_id == 0:
            raise NotFound(f"No note {note_id}.")
        return f"note {note_id}"

    async def unavailable(self) -> None:
        await self.touch()
        raise Unavailable("database password is hunter2")

    def user(self) -> Any:
        return self._ctx.meta.user


def make_dm(recorder: Recorder) -> DataManager:
    """A DataManager with a transaction middleware, a sync and an async resource."""
    events = recorder.events

    async def transaction(ctx: DataAccessContext) -> AsyncIterator[None]:
        events.append("begin")
        try:
            yield
        except BaseException as exc:
            events.append(f"rollback:{type(exc).__name__}")
            raise
        request = ctx.meta.request
        if request is not None and request.headers.get(FAIL_COMMIT):
            events.append("commit-failed")
            raise CommitFailed("The commit failed.")
        events.append("commit")

    def conn(ctx: DataAccessContext) -> Iterator[str]:
        events.append("conn:setup")
        try:
            yield "conn"
        finally:
            events.append("conn:teardown")

    async def aconn(ctx: DataAccessContext) -> AsyncIterator[str]:
        events.append("aconn:setup")
        try:
            yield "aconn"
        finally:
            # An await in teardown: it must survive a cancelled request.
            await anyio.lowlevel.checkpoint()
            events.append("aconn:teardown")

    dm = DataManager()
    dm.register_context_middleware(transaction)
    dm.register_resources(conn=conn, aconn=aconn)
    dm.register_services(notes=Notes())
    return dm


def make_app(
    dm: DataManager,
    recorder: Recorder,
    *,
    entered: anyio.Event | None = None,
    release: anyio.Event | None = None,
    **options: Any,
) -> Starlette:
    """A Starlette app whose routes each end a request in a different way."""
    events = recorder.events

    async def ok(request: Request) -> Response:
        return PlainTextResponse(await request.state.dal.notes.touch())

    async def http_error(request: Request) -> Response:
        await get_dal(request).notes.touch()
        raise HTTPException(418, "teapot")

    async def handled(request: Request) -> Response:
        await get_dal(request).notes.touch()
        raise Handled("handled")

    async def boom(request: Request) -> Response:
        await get_dal(request).notes.touch()
        raise RuntimeError("boom")

    async def note(request: Request) -> Response:
        return PlainTextResponse(await get_dal(request).notes.get(request.path_params["id"]))

    async def unavailable(request: Request) -> Response:
        await get_dal(request).notes.unavailable()
        return PlainTextResponse("unreachable")

    def sync(request: Request) -> Response:
        ctx = dm.get_active_context()
        return JSONResponse(
            {
                "active": ctx is not None,
                "same_request": ctx is not None and ctx.meta.request.scope is request.scope,
                "thread": threading.current_thread().name,
                "conn": ctx.conn if ctx is not None else None,
            }
        )

    async def stream(request: Request) -> Response:
        dal = get_dal(request)

        async def body() -> AsyncIterator[str]:
            for i in range(3):
                yield f"{await dal.notes.touch()}:{i};"
                events.append(f"chunk:{i}")

        return StreamingResponse(body())

    async def stream_forever(request: Request) -> Response:
        dal = get_dal(request)

        async def body() -> AsyncIterator[str]:
            while True:
                yield f"{await dal.notes.touch()};"
                await anyio.sleep(0.01)  # paces the stream; the client decides when it ends

        return StreamingResponse(body())

    async def stream_fail(request: Request) -> Response:
        dal = get_dal(request)

        async def body() -> AsyncIterator[str]:
            yield f"{await dal.notes.touch()};"
            raise RuntimeError("the body failed")

        return StreamingResponse(body())

    async def background(request: Request) -> Response:
        await get_dal(request).notes.touch()

        async def task() -> None:
            events.append(f"background:active={dm.get_active_context() is not None}")
            async with dm.dal(meta={"job": "background"}) as dal:
                events.append(f"background:{await dal.notes.touch()}")

        return PlainTextResponse("ok", background=BackgroundTask(task))

    async def wait(request: Request) -> Response:
        await get_dal(request).notes.touch()
        assert entered is not None
        assert release is not None
        entered.set()
        await release.wait()
        return PlainTextResponse("released")

    async def user(request: Request) -> Response:
        return PlainTextResponse(str(get_dal(request).notes.user()))

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        dal = get_dal(websocket)
        try:
            while True:
                text = await websocket.receive_text()
                if text == "fail":
                    raise RuntimeError("the session failed")
                await websocket.send_text(f"{text}:{await dal.notes.get(int(text))}")
        except WebSocketDisconnect:
            events.append("ws:disconnect")

    async def on_handled(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("handled", status_code=400)

    routes = [
        Route("/ok", ok),
        Route("/http-error", http_error),
        Route("/handled", handled),
        Route("/boom", boom),
        Route("/notes/{id:int}", note),
        Route("/unavailable", unavailable),
        Route("/sync", sync),
        Route("/stream", stream),
        Route("/stream-fail", stream_fail),
        Route("/stream-forever", stream_forever),
        Route("/background", background),
        Route("/wait", wait),
        Route("/user", user),
        WebSocketRoute("/ws", ws),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(DatumMiddleware, data_manager=dm, **options)],
        exception_handlers={Handled: on_handled},
    )
