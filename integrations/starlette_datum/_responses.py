"""The responses the middleware sends itself: an unhandled ``ServiceError``'s, and a 500."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from inspect import iscoroutinefunction

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

__all__ = ["send_server_error", "service_error_response"]

logger = logging.getLogger("polydatum.starlette")


def service_error_response(exc: BaseException, status: int) -> JSONResponse:
    """Return ``{"detail": ...}`` with ``status``, like FastAPI's ``HTTPException``.

    A 4xx carries the error's message (services raise those for the caller to
    read); a 5xx carries only the status phrase, so internals do not leak.
    """
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    detail = (str(exc) or phrase) if status < 500 else phrase
    return JSONResponse({"detail": detail}, status_code=status)


async def send_server_error(scope: Scope, receive: Receive, send: Send, exc: BaseException) -> None:
    """Send the app's 500 for ``exc`` now, with ``Connection: close``; the caller re-raises.

    Starlette's ``ServerErrorMiddleware`` renders the 500 and re-raises the
    error for the server to log; uvicorn then closes the connection, but the
    500 did not say so and a keep-alive client's next request on it is lost.
    This renders the same response (the app's handler for ``500`` or
    ``Exception``, else Starlette's plain text) and adds the header;
    ``ServerErrorMiddleware`` sees a started response and only re-raises.

    Nothing is sent (the server or Starlette answers as before) outside a
    Starlette app, in debug mode (its traceback page), for a ``BaseException``
    that is not an ``Exception`` (cancellation), or if the handler fails.
    """
    app = scope.get("app")
    handlers = getattr(app, "exception_handlers", None)
    if (
        not isinstance(exc, Exception)
        or not isinstance(handlers, Mapping)
        or getattr(app, "debug", False)
    ):
        return
    handler = None
    for key, value in handlers.items():  # as Starlette picks ServerErrorMiddleware's handler
        if key in (500, Exception):
            handler = value
    try:
        response: Response
        if handler is None:
            response = PlainTextResponse("Internal Server Error", status_code=500)
        elif iscoroutinefunction(handler) or iscoroutinefunction(type(handler).__call__):
            response = await handler(Request(scope, receive), exc)
        else:  # a sync handler runs in the thread pool, as Starlette runs it
            response = await run_in_threadpool(handler, Request(scope, receive), exc)
    except Exception:
        logger.exception("The app's 500 handler failed; Starlette answers instead")
        return
    response.headers["connection"] = "close"
    try:
        await response(scope, receive, send)
    except Exception:
        # The client went away: the caller re-raises the original error all the same.
        logger.debug("Sending the 500 failed", exc_info=True)
