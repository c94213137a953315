"""``DatumMiddleware``: one data context per HTTP request and per WebSocket connection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar, overload

from polydatum import DataAccessLayer, DataManager, Layer, asgi
from polydatum.asgi import DAL_STATE_KEY, REQUEST_SCOPE_KEY
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from ._responses import send_server_error, service_error_response

__all__ = [
    "DAL_STATE_KEY",
    "REQUEST_SCOPE_KEY",
    "DatumMiddleware",
    "MetaFactory",
    "get_dal",
]

#: ``meta=``: takes the request (or WebSocket), returns extra meta entries, sync or async.
MetaFactory = Callable[[HTTPConnection], Mapping[str, object] | Awaitable[Mapping[str, object]]]


class DatumMiddleware(asgi.DatumMiddleware):
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
    The lifecycle is :class:`polydatum.asgi.DatumMiddleware`'s; this class
    gives it Starlette's request, 500 page and ``ClientDisconnect``.

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
        super().__init__(
            app,
            data_manager=data_manager,
            meta=meta,
            map_service_errors=map_service_errors,
        )

    def connection(self, scope: Scope, receive: Receive, send: Send) -> HTTPConnection:
        """``meta.request``: the ``Request`` (or the ``WebSocket``)."""
        if scope["type"] == "http":
            return Request(scope, receive)
        return WebSocket(scope, receive, send)

    def incomplete_response(self) -> BaseException:
        """``ClientDisconnect``: what Starlette raises for a client gone mid-request."""
        return ClientDisconnect("The response ended before its body was complete.")

    async def send_server_error(
        self, scope: Scope, receive: Receive, send: Send, exc: BaseException
    ) -> None:
        """Render the app's 500 for ``exc`` with ``Connection: close`` (see ``_responses``)."""
        await send_server_error(scope, receive, send, exc)

    def service_error_response(self, exc: BaseException, status: int) -> ASGIApp:
        """Starlette's ``JSONResponse`` of ``{"detail": ...}`` with ``status``."""
        return service_error_response(exc, status)


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
