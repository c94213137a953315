"""Request bodies Django does not bound by itself: chunked ones, and oversize ones under ASGI.

Two gaps of Django 5.2 that the notes API must not show:

* Under WSGI Django reads ``CONTENT_LENGTH`` bytes of a body, and none without
  it. A client sending ``Transfer-Encoding: chunked`` declares no length;
  gunicorn de-chunks the body and says so with ``wsgi.input_terminated``, but
  Django still reads it as empty. :func:`wsgi_bodies` reads such a body (at
  most one byte over the limit) and hands it to Django with its length, so
  ``request.body`` holds it, or raises ``RequestDataTooBig`` past the limit.
* Under ASGI Django reads the whole body before the view runs, and checks
  ``DATA_UPLOAD_MAX_MEMORY_SIZE`` only then: a 10 MB body is read in full to
  be refused. :func:`asgi_bodies` answers 413 as soon as a body is known to be
  over the limit (from its ``Content-Length``, or once that many chunked bytes
  arrived), without reading on.

Bodies with a ``Content-Length`` within the limit pass through untouched:
the server never gives the app more than was declared.
"""

from __future__ import annotations

import io
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from example_apps.notes import body_too_large, error_response

__all__ = ["asgi_bodies", "wsgi_bodies"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Message = dict[str, Any]
ASGIApp = Callable[..., Awaitable[None]]


def wsgi_bodies(app: WSGIApp, limit: int) -> WSGIApp:
    """Wrap a Django WSGI app so that it reads chunked bodies (up to ``limit`` + 1 bytes)."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # A body without a length that the server ended for us (gunicorn, mod_wsgi with
        # WSGIChunkedRequest): read what Django needs to tell a body from one too large.
        if (
            "HTTP_TRANSFER_ENCODING" in environ
            and not environ.get("CONTENT_LENGTH")
            and environ.get("wsgi.input_terminated")
        ):
            body = _read_at_most(environ["wsgi.input"], limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return app(environ, start_response)

    return application


def _read_at_most(stream: Any, size: int) -> bytes:
    parts, left = [], size
    while left > 0:
        part = stream.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def asgi_bodies(app: ASGIApp, limit: int) -> ASGIApp:
    """Wrap a Django ASGI app so that a body over ``limit`` bytes gets 413 without being read."""

    async def application(
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-length":
                    if value.isdigit() and int(value) > limit:
                        await _too_large(send)
                        return
                    break  # the server delivers no more than declared
                if name == b"transfer-encoding":
                    first = await _receive_at_most(receive, limit + 1)
                    if first is None:
                        await _too_large(send)
                        return
                    receive = _replay(first, receive)
                    break
        await app(scope, receive, send)

    return application


async def _receive_at_most(receive: Callable[[], Awaitable[Message]], size: int) -> Message | None:
    """Read a body of fewer than ``size`` bytes into one message; None if it reaches ``size``.

    Reading stops there. A disconnect is returned as it came, for Django to see.
    """
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return message
        body += message.get("body", b"")
        if len(body) >= size:
            return None
        if not message.get("more_body", False):
            return {"type": "http.request", "body": bytes(body), "more_body": False}


def _replay(
    first: Message, receive: Callable[[], Awaitable[Message]]
) -> Callable[[], Awaitable[Message]]:
    """A ``receive`` giving ``first``, then what the server sends next (a disconnect)."""
    pending: Message | None = first

    async def replay() -> Message:
        nonlocal pending
        message, pending = pending, None
        return message if message is not None else await receive()

    return replay


async def _too_large(send: Callable[[Message], Awaitable[None]]) -> None:
    status, body, headers = error_response(body_too_large())
    content = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    raw += [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    # The rest of the body is never read: the connection can not carry another request.
    raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content})
