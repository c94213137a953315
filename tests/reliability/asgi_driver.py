"""Drive an ASGI app the way a server does, to see what a client would get."""

from __future__ import annotations

from typing import Any

import anyio

from tests.asgi import http_scope

from .faults import Outcome

Message = dict[str, Any]


async def serve(app: Any, path: str, *, leave_after_first: bool = False) -> Outcome:
    """Serve one GET of ``path``; with ``leave_after_first`` the client goes away after chunk 0.

    A client that left never completes another send, and ``receive`` then
    gives ``http.disconnect``. An error the app raises is what a server
    would see: a 500 if nothing was sent yet, else a connection closed
    before the body ended (``broken``). The error is in ``extra["raised"]``.
    """
    first_chunk = anyio.Event()
    sent: list[Message] = []
    requested = False

    async def receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        if leave_after_first:
            await first_chunk.wait()
            return {"type": "http.disconnect"}
        await anyio.sleep_forever()  # the client stays until the response is complete
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        is_chunk = message["type"] == "http.response.body" and bool(message.get("body"))
        if leave_after_first and is_chunk and first_chunk.is_set():
            await anyio.sleep_forever()  # the peer is gone: the write never completes
        sent.append(message)
        if is_chunk:
            first_chunk.set()

    raised: BaseException | None = None
    with anyio.fail_after(20):
        try:
            await app(http_scope(path, user="ann"), receive, send)
        except Exception as exc:
            raised = exc
    starts = [m for m in sent if m["type"] == "http.response.start"]
    bodies = [m for m in sent if m["type"] == "http.response.body"]
    ended = any(not m.get("more_body", False) for m in bodies)
    status = starts[0]["status"] if starts else 500
    body = b"".join(m.get("body", b"") for m in bodies).decode()
    return Outcome(status, body, broken=not ended, extra={"raised": raised})
