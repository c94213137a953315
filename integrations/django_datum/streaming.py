"""Streamed bodies: run each chunk with the request's context active, close once.

Django registers the ``close`` of the object assigned to
``response.streaming_content`` as a closer of the response, so the context
closes when the server closes the response, even if the body was never read.

For an HTTP/1.0 client (no chunked encoding) a body without a length is read
whole before the commit instead (``whole_body_needed``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any, cast

from asgiref.sync import async_to_sync, sync_to_async
from django.http import HttpRequest, StreamingHttpResponse
from polydatum.lifecycle import RequestScope

__all__ = ["aread_whole_body", "read_whole_body", "stream_in_context", "whole_body_needed"]

_END = object()
# Keeps tasks that finish a close started from inside a running loop alive.
_PENDING: set[asyncio.Task[None]] = set()


class _SyncBody:
    """A sync body streamed with a sync-opened scope.

    ``RequestScope.iterate`` already closes the body and the scope once, also
    when closed before the first chunk; this class only gives Django the
    ``close`` it registers as a closer of the response.
    """

    __slots__ = ("_iterator",)

    def __init__(self, scope: RequestScope, source: Iterator[Any]) -> None:
        self._iterator = cast("Generator[Any, None, None]", scope.iterate(source))

    def __iter__(self) -> Iterator[Any]:
        return self._iterator

    def close(self) -> None:
        """Close the body and the scope (the scope closes even if the body never started)."""
        self._iterator.close()


def _next_or_end(source: Iterator[Any]) -> Any:
    return next(source, _END)


async def _from_sync(source: Iterator[Any]) -> AsyncIterator[Any]:
    """Advance a sync body in the request's sync thread, one chunk at a time."""
    step = sync_to_async(_next_or_end, thread_sensitive=True)
    try:
        while True:
            chunk = await step(source)
            if chunk is _END:
                return
            yield chunk
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=True)()


class _AsyncBody:
    """An async body (or a sync one under ASGI) streamed with the scope active."""

    __slots__ = ("_iterator", "_scope", "_source")

    def __init__(self, scope: RequestScope, source: Any) -> None:
        self._scope = scope
        self._source = source
        is_sync = not hasattr(source, "__aiter__")
        self._iterator = scope.aiterate(_from_sync(source) if is_sync else source)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterator

    async def aclose(self) -> None:
        """Close the body and the scope (the scope closes even if the body never started)."""
        await self._iterator.aclose()  # type: ignore[attr-defined]
        source = self._source
        if not hasattr(source, "__aiter__") and hasattr(source, "close"):
            # A sync source wrapped for ASGI that never started: nothing closed it yet
            # (closing it again after a full read is harmless).
            await sync_to_async(source.close, thread_sensitive=True)()

    def close(self) -> None:
        """Django's closer: finish :meth:`aclose` from sync code."""
        if self._scope.closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            # A thread without a loop (Django's ASGI handler closes responses
            # through sync_to_async): run the close on the request's loop.
            async_to_sync(self.aclose)()
            return
        task = loop.create_task(self.aclose())
        _PENDING.add(task)
        task.add_done_callback(_PENDING.discard)


def stream_in_context(
    response: StreamingHttpResponse, scope: RequestScope, *, is_async: bool
) -> None:
    """Re-wire ``response``'s body so it streams with ``scope`` active and closes it once.

    ``is_async`` tells how the scope was opened (async under ASGI): an
    async-opened scope always streams through an async body.
    """
    source: Any = getattr(response, "_iterator", None)
    if source is None:  # pragma: no cover - Django always sets it
        source = response.streaming_content
    # The source's own close now runs inside our close, with the context active.
    closers: list[Any] = getattr(response, "_resource_closers", [])
    source_close = getattr(source, "close", None)
    if source_close is not None and source_close in closers:
        closers.remove(source_close)
    if response.is_async or is_async:
        response.streaming_content = _AsyncBody(scope, source)
    else:
        response.streaming_content = _SyncBody(scope, source)


def whole_body_needed(request: HttpRequest, response: StreamingHttpResponse) -> bool:
    """Whether a streamed body must be read whole before the commit: HTTP/1.0, no length.

    An HTTP/1.0 client has no chunked encoding: a body without a
    ``Content-Length`` ends when the connection closes, so one cut short by a
    failed commit would look complete. Such a body is read with the context
    active, the commit follows, and the body goes out whole with its length
    (or Django's 500 does, if the body or the commit failed).
    """
    if response.has_header("Content-Length"):
        return False
    scope = getattr(request, "scope", None)  # ASGI; WSGI has SERVER_PROTOCOL
    if scope is not None:
        return scope.get("http_version") == "1.0"  # type: ignore[no-any-return]
    return request.META.get("SERVER_PROTOCOL") == "HTTP/1.0"


def read_whole_body(response: StreamingHttpResponse, content: bytes) -> None:
    """Make ``response`` send ``content`` (its body, read) in one piece with its length."""
    response.streaming_content = [content]
    response["Content-Length"] = str(len(content))


async def _once(content: bytes) -> AsyncIterator[bytes]:
    yield content


async def aread_whole_body(response: StreamingHttpResponse) -> None:
    """Async twin of ``read_whole_body(response, b"".join(response))``.

    A sync body is read in the request's sync thread. The body then goes out
    as an async one, which Django's ASGI handler sends without a warning.
    """
    if response.is_async:
        content = b"".join([chunk async for chunk in response])
    else:
        content = await sync_to_async(b"".join, thread_sensitive=True)(response)
    response.streaming_content = _once(content)
    response["Content-Length"] = str(len(content))
