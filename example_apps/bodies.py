"""Reading a request body under ASGI with a size limit (the Starlette and FastAPI apps)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request

__all__ = ["read_limited"]


async def read_limited(request: Request, limit: int, too_large: Callable[[], Exception]) -> bytes:
    """Return the body of ``request``; raise ``too_large()`` once it is over ``limit`` bytes.

    A declared ``Content-Length`` over the limit is refused before anything is
    read; a body sent without one (chunked) is refused as soon as it passes it.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large()
    return bytes(body)
