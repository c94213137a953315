"""``DatumMiddleware``: one data context per HTTP request and per WebSocket connection."""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from inspect import isawaitable
from typing import Any

from polydatum import DataAccessContext, DataAccessLayer, DataManager, Meta, lazy
from polydatum.lifecycle import RequestScope, status_for
from polydatum.util import describe
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from ._responses import service_error_response

__all__ = [
    "DAL_STATE_KEY",
    "REQUEST_SCOPE_KEY",
    "DatumMiddleware",
    "MetaFactory",
    "get_dal",
]

logger = logging.getLogger("polydatum.starlette")

#: Key of the request's :class:`~polydatum.lifecycle.RequestScope` in the ASGI scope.
REQUEST_SCOPE_KEY = "polydatum.request_scope"
#: Key of the DAL in ``scope["state"]``, which makes it ``request.state.dal``.
DAL_STATE_KEY = "dal"

#: ``meta=``: takes the request (or WebSocket), returns extra meta entries, sync or async.
MetaFactory = Callable[[HTTPConnection], Mapping[str, Any] | Awaitable[Mapping[str, Any]]]

# Messages that carry (part of) a response body; "more_body" says whether more follow.
_BODY = frozenset({"http.response.body", "http.response.zerocopy", "http.response.pathsend"})


class DatumMiddleware:
    """Open one data context per HTTP request and per WebSocket connection.

    A pure ASGI middleware: ``Middleware(DatumMiddleware, data_manager=dm)``.
    Lifespan and other scopes pass through untouched. During a request the
    context is active (services, ``request.state.dal``, ``get_dal(request)``),
    also in sync endpoints run in the thread pool.

    The context closes before the response headers leave: a failure while
    closing (a commit raising in context middleware) gives the client a 500.
    A streamed body keeps the context open until its last chunk; a failure
    then is logged and the connection is closed without finishing the body.
    The endpoint's exception reaches the context even when an exception
    handler turned it into a response. An unhandled ``ServiceError`` becomes a
    JSON response with its ``code`` unless ``map_service_errors`` is False.

    Args:
        app: the ASGI app to wrap.
        data_manager: the DataManager whose contexts are opened.
        meta: optional callable taking the request (or WebSocket) and returning
            extra meta entries (sync or async); they are added to ``request``
            and ``user`` and may replace them.
        map_service_errors: turn unhandled ``ServiceError``s into responses.

    Raises:
        TypeError: ``data_manager`` is not a DataManager or ``meta`` is not callable.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        data_manager: DataManager,
        meta: MetaFactory | None = None,
        map_service_errors: bool = True,
    ) -> None:
        if not isinstance(data_manager, DataManager):
            raise TypeError(
                "DatumMiddleware needs data_manager=<a polydatum.DataManager>, got "
                f"{describe(data_manager)}: Middleware(DatumMiddleware, data_manager=dm)."
            )
        if meta is not None and not callable(meta):
            raise TypeError(
                "DatumMiddleware's meta= must be a callable taking the request and "
                f"returning a mapping of extra meta entries, got {describe(meta)}."
            )
        self.app = app
        self.data_manager = data_manager
        self.meta = meta
        self.map_service_errors = map_service_errors
        self._dal = data_manager.get_dal()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _open(self, scope: Scope, conn: HTTPConnection) -> RequestScope:
        """Create the request's scope with its meta, publish the DAL and enter the context."""
        values: dict[str, Any] = {"request": conn, "user": lazy(partial(scope.get, "user"))}
        if self.meta is not None:
            extra = self.meta(conn)
            if isawaitable(extra):
                extra = await extra
            if not isinstance(extra, Mapping):
                raise TypeError(
                    f"DatumMiddleware's meta= callable {describe(self.meta)} must return a "
                    f"mapping of extra meta entries, got {type(extra).__name__}."
                )
            values.update(extra)
        request_scope = RequestScope(self.data_manager, Meta(values))
        scope[REQUEST_SCOPE_KEY] = request_scope
        state = scope.get("state")
        if state is None:
            scope["state"] = state = {}
        state[DAL_STATE_KEY] = self._dal
        await request_scope.aopen()
        return request_scope

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        previous = self.data_manager._context_var.get()
        request_scope = await self._open(scope, Request(scope, receive))
        context = request_scope.context
        # An exception already being handled when the request arrived is not the request's.
        outer = sys.exception()
        held: Message | None = None
        started = False
        close_error: BaseException | None = None

        async def send_closing_first(message: Message) -> None:
            nonlocal held, started, close_error
            kind = message["type"]
            if kind == "http.response.start":
                # An exception handler sends its response while handling the exception,
                # so the exception being handled here is the one the app turned into it.
                exc = sys.exception()
                if exc is not None and exc is not outer:
                    request_scope.record(exc)
                held = message
                return
            if kind in _BODY and not message.get("more_body", False) and not request_scope.closed:
                try:
                    await request_scope.aclose()
                except BaseException as err:
                    # Nothing went out unless the body was streaming: the app stops here
                    # and the error reaches the server, which answers 500 or drops the
                    # connection.
                    close_error = err
                    if started:
                        logger.error(
                            "Closing the data context failed while the body streamed; "
                            "closing the connection",
                            exc_info=err,
                        )
                    raise
            if held is not None:
                start, held = held, None
                started = True
                await send(start)
            await send(message)

        try:
            await self.app(scope, receive, send_closing_first)
        except BaseException as exc:
            if close_error is not None:
                raise close_error from None
            if request_scope.closed:
                raise  # The response was complete (e.g. a background task failed).
            request_scope.record(exc)
            status = status_for(exc) if self.map_service_errors and not started else None
            if status is None:
                if started:
                    await request_scope.aclose_quietly()
                else:
                    await request_scope.aclose()
                raise
            await request_scope.aclose()
            await service_error_response(exc, status)(scope, receive, send)
        else:
            if not request_scope.closed:
                # The app returned before the last body chunk: the client went away
                # mid-stream (or the app sent no response); roll back.
                request_scope.record(
                    ClientDisconnect("The response ended before its body was complete.")
                )
                if started:
                    await request_scope.aclose_quietly()
                else:
                    await request_scope.aclose()
                if held is not None:
                    await send(held)
        finally:
            _leave(self.data_manager, context, previous)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        previous = self.data_manager._context_var.get()
        request_scope = await self._open(scope, WebSocket(scope, receive, send))
        context = request_scope.context
        outer = sys.exception()

        async def send_recording(message: Message) -> None:
            if message["type"] == "websocket.close":
                exc = sys.exception()
                if exc is not None and exc is not outer:
                    request_scope.record(exc)
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        except BaseException as exc:
            request_scope.record(exc)
            await request_scope.aclose()
            raise
        else:
            await request_scope.aclose()
        finally:
            _leave(self.data_manager, context, previous)


def _leave(
    data_manager: DataManager, context: DataAccessContext, previous: DataAccessContext | None
) -> None:
    """Make sure ``context`` is no longer active in the caller's contextvars context.

    A streamed body may finish (and close the context) in a child task; the
    reset there cannot reach this task, which may be the caller's own (httpx's
    ASGITransport runs the app in the caller's context).
    """
    var = data_manager._context_var
    if var.get() is context:
        var.set(previous)


def get_dal(conn: HTTPConnection) -> DataAccessLayer:
    """Return the DAL of the request's (or WebSocket's) data context.

    Raises:
        RuntimeError: ``DatumMiddleware`` did not run for this request.
    """
    request_scope = conn.scope.get(REQUEST_SCOPE_KEY)
    if request_scope is None:
        raise RuntimeError(
            "No data context for this request: add "
            "Middleware(DatumMiddleware, data_manager=dm) to the app's middleware."
        )
    dal: DataAccessLayer = request_scope.context.dal
    return dal
