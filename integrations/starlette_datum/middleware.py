"""``DatumMiddleware``: one data context per HTTP request and per WebSocket connection."""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from inspect import isawaitable
from typing import Any, TypeVar, overload

from polydatum import DataAccessLayer, DataManager, Layer
from polydatum._steps import _AACTIVE
from polydatum.lifecycle import RequestScope, status_for
from polydatum.meta import new_meta
from polydatum.util import describe
from starlette.datastructures import State
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from ._responses import send_server_error, service_error_response

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
MetaFactory = Callable[[HTTPConnection], Mapping[str, object] | Awaitable[Mapping[str, object]]]

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
    For an HTTP/1.0 client, which could not tell a cut-short body from a whole
    one, a streamed body without a length is held and sent whole after the
    commit. A 500 the middleware lets through before anything went out is
    rendered by the app's 500 handler with ``Connection: close`` (uvicorn
    closes the connection after it).
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
        RegistrationError: a service or resource the DataManager's classes
            declare is not registered (see ``DataManager.check``). Starlette
            builds its middleware at start-up (the lifespan) or on the first
            request, whichever comes first.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        data_manager: DataManager[Any, Any],
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
        data_manager.check()
        self.app = app
        self.data_manager = data_manager
        self.meta = meta
        self.map_service_errors = map_service_errors
        self._dal = data_manager.get_dal()
        self._context_var = data_manager._context_var

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await self._websocket(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        # The HTTP path is inlined here: each extra call is a measurable share of a request.
        dm = self.data_manager
        if self.meta is None:
            # The Meta is built, meta.request too and meta.user read, only if a
            # service reads them.
            if "user" in scope:
                ctx = dm._sourced_context(_REQUEST, (scope, receive), {"user": scope["user"]})
            else:
                ctx = dm._sourced_context(_REQUEST_AND_USER, (scope, receive))
        else:
            request = Request(scope, receive)
            ctx = dm.context(new_meta(*await self._meta_values(scope, request)))
        # RequestScope.__init__'s work, without a Python-level __init__ call.
        exchange = _Exchange()
        exchange.context = ctx
        exchange.exception = None
        exchange.closed = False
        exchange.forward = send
        exchange.held = None
        exchange.started = False
        exchange.close_error = None
        scope[REQUEST_SCOPE_KEY] = exchange
        state = scope.get("state")
        if state is None:
            scope["state"] = state = {}
        state[DAL_STATE_KEY] = self._dal
        var = self._context_var
        previous = var.get()
        try:
            # No context middleware is async (and the chain is the default one): enter
            # without a coroutine, marked as opened for async code like __aenter__ does.
            if dm._chain is not None and not dm._async_chain:
                ctx.__enter__()
                ctx._async = True
            else:
                await ctx.__aenter__()
        except BaseException:
            scope.pop(REQUEST_SCOPE_KEY, None)
            raise
        # An exception already being handled when the request arrived is not the request's.
        exchange.outer = sys.exception()
        try:
            await self.app(scope, receive, exchange.send)
        except BaseException as exc:
            if exchange.close_error is not None:
                if not exchange.started:  # a failed commit: the 500 says Connection: close
                    await send_server_error(scope, receive, send, exchange.close_error)
                raise exchange.close_error from None
            if exchange.closed:
                raise  # The response was complete (e.g. a background task failed).
            exchange.record(exc)
            started = exchange.started
            status = status_for(exc) if self.map_service_errors and not started else None
            if status is None:
                if started:
                    await exchange.aclose_quietly()
                    raise
                try:
                    await exchange.aclose()
                except BaseException as err:
                    await send_server_error(scope, receive, send, err)
                    raise
                await send_server_error(scope, receive, send, exc)
                raise
            await exchange.aclose()
            await service_error_response(exc, status)(scope, receive, send)
        else:
            if not exchange.closed:
                # The app returned before the last body chunk: the client went away
                # mid-stream (or the app sent no response); roll back.
                exchange.record(
                    ClientDisconnect("The response ended before its body was complete.")
                )
                if exchange.started:
                    await exchange.aclose_quietly()
                else:
                    await exchange.aclose()
                held = exchange.held
                if held is not None:
                    await send(held)
        finally:
            # A streamed body may finish (and close the context) in a child task, whose
            # reset cannot reach this task; it may be the caller's own (httpx's
            # ASGITransport runs the app in the caller's context).
            if var.get() is ctx:
                var.set(previous)
            # The scope refers to the context, whose meta refers to the scope: break the
            # cycle so the request is freed at once rather than by the garbage collector.
            scope.pop(REQUEST_SCOPE_KEY, None)

    async def _extra_meta(self, conn: HTTPConnection) -> Mapping[str, Any]:
        """Call the ``meta=`` callable (awaiting it if async) and check what it returned."""
        meta = self.meta
        if meta is None:
            return {}
        extra = meta(conn)
        if isawaitable(extra):
            extra = await extra
        if not isinstance(extra, Mapping):
            raise TypeError(
                f"DatumMiddleware's meta= callable {describe(meta)} must return a "
                f"mapping of extra meta entries, got {type(extra).__name__}."
            )
        return extra

    async def _meta_values(
        self, scope: Scope, conn: HTTPConnection
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Return the meta entries (request, user, ``meta=``'s) and the lazy ones apart.

        The user is read from the scope now if AuthenticationMiddleware ran before
        us, else on first read (an authentication middleware inside ours may set it).
        """
        extra = await self._extra_meta(conn) if self.meta is not None else None
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
        return values, later

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        var = self._context_var
        previous = var.get()
        websocket = WebSocket(scope, receive, send)
        values, later = await self._meta_values(scope, websocket)
        request_scope = RequestScope(self.data_manager, values, later)
        scope[REQUEST_SCOPE_KEY] = request_scope
        state = scope.get("state")
        if state is None:
            scope["state"] = state = {}
        state[DAL_STATE_KEY] = self._dal
        try:
            await request_scope.aopen()
        except BaseException:
            scope.pop(REQUEST_SCOPE_KEY, None)
            raise
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
            if var.get() is request_scope.context:
                var.set(previous)
            scope.pop(REQUEST_SCOPE_KEY, None)


def _request(source: tuple[Scope, Receive]) -> Request:
    """``meta.request``, built on first read from the request's scope and receive."""
    return Request(source[0], source[1])


def _user(source: tuple[Scope, Receive]) -> Any:
    """``meta.user``, read on first read (an authentication middleware inside ours may set it)."""
    return source[0].get("user")


# Meta's lazy entries: shared by every request, each called with the request's
# (scope, receive); a request builds no loader of its own.
_REQUEST = {"request": _request}
_REQUEST_AND_USER = {"request": _request, "user": _user}


class _Exchange(RequestScope):
    """One HTTP request's RequestScope, and the ``send`` the app gets.

    ``send`` holds ``http.response.start`` until the body's last message has
    arrived, closes the context, then sends both: a failure while closing
    becomes the server's 500 rather than a sent 2xx.
    """

    __slots__ = ("close_error", "forward", "held", "outer", "started")

    # Built bare (no Python __init__ call) and filled in by the middleware.
    __init__ = object.__init__

    forward: Send
    held: Message | None
    started: bool
    close_error: BaseException | None
    outer: BaseException | None

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            # An exception handler sends its response while handling the exception,
            # so the exception being handled here is the one the app turned into it.
            exc = sys.exception()
            if exc is not None and exc is not self.outer:
                self.record(exc)
            self.held = message
            return
        if kind in _BODY and not self.closed:
            if message.get("more_body", False):
                # A streamed body: its start goes out with the first chunk below, unless
                # the client speaks HTTP/1.0 (see _hold_for_http10).
                if self.held is not None and self._hold_for_http10(message):
                    return
            else:
                try:
                    # Nothing async set up: RequestScope.close, inlined; else await aclose.
                    ctx = self.context
                    if ctx._state == _AACTIVE:
                        await self.aclose()
                    else:
                        self.closed = True
                        error = self.exception
                        if error is None:
                            ctx.__exit__(None, None, None)
                        else:
                            ctx.__exit__(type(error), error, error.__traceback__)
                except BaseException as err:
                    # Nothing went out unless the body was streaming: the app stops here
                    # and the error reaches the server, which answers 500 or drops the
                    # connection.
                    self.close_error = err
                    if self.started:
                        logger.error(
                            "Closing the data context failed while the body streamed; "
                            "closing the connection",
                            exc_info=err,
                        )
                    raise
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
            request = self.context.meta.request
            scope = getattr(request, "scope", None) or {}
            if (
                message["type"] != "http.response.body"
                or scope.get("http_version") != "1.0"
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


def _state_dal(state: State) -> Any:
    """``State.dal``: the same ``scope["state"]`` entry, read without State's ``__getattr__``."""
    try:
        return state._state[DAL_STATE_KEY]
    except KeyError:
        # State's own __getattr__ runs next and raises its usual AttributeError.
        raise AttributeError(DAL_STATE_KEY) from None


# ``request.state.dal`` is read on most requests. State finds its entries with
# ``__getattr__``, which CPython reaches only after a failed lookup (an
# AttributeError built and discarded each time); a property is found at once.
# Setting and deleting still go through State's __setattr__/__delattr__.
if DAL_STATE_KEY not in vars(State):
    State.dal = property(_state_dal)  # type: ignore[attr-defined]


#: The app's declared DAL class.
D = TypeVar("D", bound=Layer)


@overload
def get_dal(conn: HTTPConnection) -> DataAccessLayer: ...
@overload
def get_dal(conn: HTTPConnection, dal_class: type[D]) -> D: ...
def get_dal(conn: HTTPConnection, dal_class: type[Any] | None = None) -> Any:
    """Return the DAL of the request's (or WebSocket's) data context.

    ``get_dal(request, Dal)`` gives the app's declared DAL class
    (``DataManager(dal_class=Dal)``), so ``get_dal(request, Dal).notes`` is a
    ``Notes`` for type checkers.

    Raises:
        RuntimeError: ``DatumMiddleware`` did not run for this request.
        TypeError: the DAL is not a ``dal_class``.
    """
    request_scope = conn.scope.get(REQUEST_SCOPE_KEY)
    if request_scope is None:
        raise RuntimeError(
            "No data context for this request: add "
            "Middleware(DatumMiddleware, data_manager=dm) to the app's middleware."
        )
    dal: DataAccessLayer = request_scope.context.dal
    if dal_class is not None and not isinstance(dal, dal_class):
        name = dal_class.__qualname__
        raise TypeError(
            f"The DAL of this request is a {type(dal).__qualname__}, not a {name}: build the "
            f"app's DataManager with DataManager(dal_class={name}), or ask for its own class."
        )
    return dal
