"""One data context per ASGI HTTP request and per WebSocket connection.

The lifecycle every ASGI plugin shares, framework-free: ``DatumMiddleware``
wraps an ASGI app; a framework's plugin subclasses it and overrides the few
hooks that need the framework (what ``meta.request`` is, the 500 it renders,
the error a cut-short response records). Each connection gets an
:class:`ASGIRequestScope` (a :class:`~polydatum.lifecycle.RequestScope`),
stored in the ASGI scope under :data:`REQUEST_SCOPE_KEY`; the DAL is put in
``scope["state"]`` under :data:`DAL_STATE_KEY` (Starlette's ``request.state.dal``).

HTTP: ``http.response.start`` is held until the body's last message, the
context closes (commits) then, and both go out: a failure while closing
becomes a 500 rather than a sent 2xx. A streamed body keeps the context
until its last chunk; a failure then is logged and raised, so the server
drops the connection. An HTTP/1.0 streamed body without a length is held
and sent whole after the commit. WebSocket: the context closes when the
app returns; an exception handled while the app sends ``websocket.close``
is recorded.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from functools import partial
from http import HTTPStatus
from inspect import isawaitable
from typing import Any

from ._steps import _AACTIVE
from .context import DataAccessContext
from .dal import DataManager
from .lifecycle import RequestScope, status_for
from .meta import new_meta
from .util import describe

__all__ = [
    "DAL_STATE_KEY",
    "REQUEST_SCOPE_KEY",
    "ASGIRequestScope",
    "DatumMiddleware",
    "ResponseIncomplete",
]

logger = logging.getLogger("polydatum.asgi")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Key of the connection's :class:`ASGIRequestScope` in the ASGI scope.
REQUEST_SCOPE_KEY = "polydatum.request_scope"
#: Key of the DAL in ``scope["state"]`` (Starlette's ``request.state.dal``).
DAL_STATE_KEY = "dal"

# Messages that carry (part of) a response body; "more_body" says whether more follow.
_BODY = frozenset({"http.response.body", "http.response.zerocopy", "http.response.pathsend"})


class ResponseIncomplete(Exception):
    """Recorded when the app returned before its response's last body message.

    The client went away mid-stream, or the app sent no response: the
    context rolls back. Plugins may record their framework's own error instead
    (see :meth:`DatumMiddleware.incomplete_response`).
    """


class ASGIRequestScope(RequestScope):
    """One HTTP request's (or WebSocket connection's) RequestScope, and the ``send`` the app gets.

    Read-only for plugins: ``context``, ``exception``, ``closed`` (as every
    RequestScope), ``started`` (the response start went out) and
    ``close_error`` (the error closing raised, if any).
    """

    __slots__ = ("close_error", "forward", "held", "outer", "scope", "started", "websocket")

    def __init__(self, context: DataAccessContext, scope: Scope, send: Send) -> None:
        """Wrap ``context`` (not entered yet) for ``scope``; ``send`` is the server's."""
        # RequestScope's fields, for a context made by the middleware.
        self.context = context
        self.exception: BaseException | None = None
        self.closed = False
        self.scope = scope
        self.forward = send
        self.websocket = scope["type"] == "websocket"
        self.held: Message | None = None
        self.started = False
        self.close_error: BaseException | None = None
        #: The exception being handled when the connection arrived (not the app's);
        #: set by the middleware once the context is entered.
        self.outer: BaseException | None

    async def send(self, message: Message) -> None:
        """The ``send`` the app gets: holds the response start, closes before the last body."""
        kind = message["type"]
        if kind == "http.response.start":
            # An exception handler sends its response while handling the exception,
            # so the exception being handled here is the one the app turned into it.
            exc = sys.exception()
            if exc is not None and exc is not self.outer:
                self.record(exc)
            self.held = message
            return
        if kind in _BODY:
            if not self.closed:
                if message.get("more_body", False):
                    # A streamed body: its start goes out with the first chunk below,
                    # unless the client speaks HTTP/1.0 (see _hold_for_http10).
                    if self.held is not None and self._hold_for_http10(message):
                        return
                else:
                    # The last body message: close the context before it goes out.
                    try:
                        ctx = self.context
                        if ctx._state == _AACTIVE:
                            await self.aclose()
                        else:
                            # Nothing async set up: RequestScope.close, inlined.
                            self.closed = True
                            error = self.exception
                            if error is None:
                                ctx.__exit__(None, None, None)
                            else:
                                ctx.__exit__(type(error), error, error.__traceback__)
                    except BaseException as err:
                        # Nothing went out unless the body was streaming: the app stops
                        # here and the error reaches the server, which answers 500 or
                        # drops the connection.
                        self.close_error = err
                        if self.started:
                            logger.error(
                                "Closing the data context failed while the body streamed; "
                                "closing the connection",
                                exc_info=err,
                            )
                        raise
        elif kind == "websocket.close":
            exc = sys.exception()
            if exc is not None and exc is not self.outer:
                self.record(exc)
        held = self.held
        if held is not None:
            self.held = None
            self.started = True
            await self.forward(held)
        await self.forward(message)

    def _hold_for_http10(self, message: Message) -> bool:
        """Keep a streamed body until the commit when the client speaks HTTP/1.0.

        Without chunked encoding (HTTP/1.0) and without a ``Content-Length``, a
        body ends when the connection closes, so a stream cut short by a failed
        commit would reach the client looking complete. Such a body is held
        (``_Whole`` collects it) and sent whole with its length after the
        commit, or replaced by a 500 when the commit fails. Returns whether
        ``message`` was held.
        """
        forward = self.forward
        if not isinstance(forward, _Whole):
            held = self.held
            assert held is not None
            if (
                message["type"] != "http.response.body"
                or self.scope.get("http_version") != "1.0"
                or any(name.lower() == b"content-length" for name, _ in held.get("headers", ()))
            ):
                return False
            forward = _Whole(forward)
            self.forward = forward
        forward.body += message.get("body", b"")
        return True


class _Whole:
    """Stands in for the server's ``send`` while an HTTP/1.0 response's streamed body is held.

    Collects the body; given the start and then the last message (once the
    context closed), sends the start with a ``Content-Length`` and the whole
    body in one message.
    """

    __slots__ = ("body", "send", "start")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.body = bytearray()
        self.start: Message | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
            return
        self.body += message.get("body", b"")
        start = self.start
        assert start is not None  # the last message comes after the start
        headers = [*start.get("headers", ()), (b"content-length", b"%d" % len(self.body))]
        await self.send({**start, "headers": headers})
        await self.send({"type": "http.response.body", "body": bytes(self.body)})


def _user(source: tuple[Scope, Receive, Send]) -> Any:
    """``meta.user``, read on first read (an authentication middleware inside ours may set it)."""
    return source[0].get("user")


class DatumMiddleware:
    """Open one data context per HTTP request and per WebSocket connection of an ASGI app.

    Lifespan and other scopes pass through untouched. The context is active
    while the app runs (also in sync endpoints a framework runs in its thread
    pool). Meta: ``request`` (see :meth:`connection`) and ``user`` (the
    scope's, read on first use), both built only if a service reads them,
    plus what ``meta=`` returns. The app's exception reaches the context even
    when the app turned it into a response. An unhandled ``ServiceError``
    becomes a JSON response with its ``code`` unless ``map_service_errors``
    is False.

    Hooks for a framework's subclass: :meth:`connection`,
    :meth:`incomplete_response`, :meth:`send_server_error` and
    :meth:`service_error_response`.

    Args:
        app: the ASGI app to wrap.
        data_manager: the DataManager whose contexts are opened.
        meta: optional callable taking the connection (see :meth:`connection`)
            and returning extra meta entries, sync or async; they are added to
            ``request`` and ``user`` and may replace them.
        map_service_errors: turn unhandled ``ServiceError``\\ s into responses.

    Raises:
        TypeError: ``data_manager`` is not a DataManager or ``meta`` is not callable.
        RegistrationError: a service or resource the DataManager's classes
            declare is not registered (see ``DataManager.check``).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        data_manager: DataManager[Any, Any],
        meta: Callable[[Any], Any] | None = None,
        map_service_errors: bool = True,
    ) -> None:
        name = type(self).__name__
        if not isinstance(data_manager, DataManager):
            raise TypeError(
                f"{name} needs data_manager=<a polydatum.DataManager>, got "
                f"{describe(data_manager)}: Middleware({name}, data_manager=dm)."
            )
        if meta is not None and not callable(meta):
            raise TypeError(
                f"{name}'s meta= must be a callable taking the request and "
                f"returning a mapping of extra meta entries, got {describe(meta)}."
            )
        data_manager.check()
        self.app = app
        self.data_manager = data_manager
        self.meta = meta
        self.map_service_errors = map_service_errors
        self._dal = data_manager.get_dal()
        self._context_var = data_manager._context_var
        # Meta's lazy entries: shared by every connection, each called with its
        # (scope, receive, send); a request builds no loader of its own.
        self._with_user = {"request": self._connection}
        self._with_lazy_user = {"request": self._connection, "user": _user}

    # -- hooks -------------------------------------------------------------

    def connection(self, scope: Scope, receive: Receive, send: Send) -> Any:
        """Return ``meta.request`` of a connection (and what ``meta=`` is called with).

        This class gives the ASGI scope itself; Starlette's plugin gives its
        ``Request`` (or ``WebSocket``). Called at most once per connection,
        only if a service reads ``meta.request`` (always, with ``meta=``).
        """
        return scope

    def incomplete_response(self) -> BaseException:
        """Return the error recorded when the app returns before its last body message."""
        return ResponseIncomplete("The response ended before its body was complete.")

    async def send_server_error(
        self, scope: Scope, receive: Receive, send: Send, exc: BaseException
    ) -> None:
        """Send a 500 for ``exc`` before the error is re-raised to the server (here: nothing).

        A framework's plugin renders its app's own 500 here, with
        ``Connection: close``; with nothing sent, the server answers 500.
        """

    def service_error_response(self, exc: BaseException, status: int) -> ASGIApp:
        """Return the ASGI response for an unhandled ``ServiceError``: ``{"detail": ...}``.

        A 4xx carries the error's message (services raise those for the caller
        to read); a 5xx carries only the status phrase, so internals do not leak.
        """
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        detail = (str(exc) or phrase) if status < 500 else phrase
        body = json.dumps({"detail": detail}, ensure_ascii=False, separators=(",", ":")).encode()
        return partial(_send_json, status, body)

    # -- the lifecycle -----------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        dm = self.data_manager
        if self.meta is None:
            # The Meta is built, meta.request too and meta.user read, only if a
            # service reads them.
            # dm.context(meta, loaders, source): positional, as keywords cost a little more.
            if "user" in scope:
                ctx = dm.context({"user": scope["user"]}, self._with_user, (scope, receive, send))
            else:
                ctx = dm.context(None, self._with_lazy_user, (scope, receive, send))
        else:
            ctx = dm.context(await self._meta(scope, receive, send))
        request_scope = ASGIRequestScope(ctx, scope, send)
        scope[REQUEST_SCOPE_KEY] = request_scope
        state = scope.get("state")
        if state is None:
            scope["state"] = state = {}
        state[DAL_STATE_KEY] = self._dal
        var = self._context_var
        previous = var.get()
        try:
            # No context middleware is async (and the chain is the default one): enter
            # without a coroutine, marked as opened for async code as __aenter__ does.
            if dm._chain is not None and not dm._async_chain:
                ctx.__enter__()
                ctx._async = True
            else:
                await ctx.__aenter__()
        except BaseException:
            scope.pop(REQUEST_SCOPE_KEY, None)
            raise
        # An exception already being handled when the request arrived is not the request's.
        request_scope.outer = sys.exception()
        try:
            await self.app(scope, receive, request_scope.send)
        except BaseException as exc:
            if await self._failed(request_scope, exc, scope, receive, send):
                raise
        else:
            if not request_scope.closed:
                await self._returned(request_scope, send)
        finally:
            # A streamed body may finish (and close the context) in a child task, whose
            # reset cannot reach this task; it may be the caller's own (httpx's
            # ASGITransport runs the app in the caller's context).
            if var.get() is ctx:
                var.set(previous)
            # The scope refers to the context, whose meta refers to the scope: break the
            # cycle so the request is freed at once rather than by the garbage collector.
            scope.pop(REQUEST_SCOPE_KEY, None)

    async def _failed(
        self,
        request_scope: ASGIRequestScope,
        exc: BaseException,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> bool:
        """The app raised ``exc``: close the context and answer; True when ``exc`` propagates."""
        close_error = request_scope.close_error
        if close_error is not None:
            if not request_scope.started:  # a failed commit: the 500 says Connection: close
                await self.send_server_error(scope, receive, send, close_error)
            raise close_error from None
        if request_scope.closed:
            return True  # The response was complete (e.g. a background task failed).
        request_scope.record(exc)
        if request_scope.websocket:
            await request_scope.aclose()
            return True
        started = request_scope.started
        status = status_for(exc) if self.map_service_errors and not started else None
        if status is None:
            if started:
                await request_scope.aclose_quietly()
                return True
            try:
                await request_scope.aclose()
            except BaseException as err:
                await self.send_server_error(scope, receive, send, err)
                raise
            await self.send_server_error(scope, receive, send, exc)
            return True
        await request_scope.aclose()
        await self.service_error_response(exc, status)(scope, receive, send)
        return False

    async def _returned(self, request_scope: ASGIRequestScope, send: Send) -> None:
        """The app returned with the context still open."""
        if request_scope.websocket:
            await request_scope.aclose()
            return
        # The app returned before the last body chunk: the client went away
        # mid-stream (or the app sent no response); roll back.
        request_scope.record(self.incomplete_response())
        if request_scope.started:
            await request_scope.aclose_quietly()
        else:
            await request_scope.aclose()
        held = request_scope.held
        if held is not None:
            await send(held)

    async def _meta(self, scope: Scope, receive: Receive, send: Send) -> Any:
        """The Meta of a connection with ``meta=``: request, user and ``meta=``'s entries.

        The user is read from the scope now if an authentication middleware ran
        before us, else on first read (one inside ours may set it).
        """
        conn = self.connection(scope, receive, send)
        meta = self.meta
        assert meta is not None
        extra = meta(conn)
        if isawaitable(extra):
            extra = await extra
        if not isinstance(extra, Mapping):
            raise TypeError(
                f"{type(self).__name__}'s meta= callable {describe(meta)} must return a "
                f"mapping of extra meta entries, got {type(extra).__name__}."
            )
        values: dict[str, Any] = {"request": conn}
        later: dict[str, Any] = {}  # plain callables, called on first read
        if "user" in scope:
            values["user"] = scope["user"]
        else:
            later["user"] = partial(scope.get, "user")
        if extra:
            values.update(extra)
            for key in extra:
                later.pop(key, None)
        return new_meta(values, later)

    def _connection(self, source: tuple[Scope, Receive, Send]) -> Any:
        """``meta.request``, built on first read from the connection's scope, receive and send."""
        return self.connection(*source)


async def _send_json(status: int, body: bytes, scope: Scope, receive: Receive, send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-length", str(len(body)).encode()),
                (b"content-type", b"application/json"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
