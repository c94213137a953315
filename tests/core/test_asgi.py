"""polydatum.asgi: the ASGI lifecycle on its own, with a raw ASGI app and no framework."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from polydatum import DataAccessContext, DataManager, NotFound
from polydatum.asgi import REQUEST_SCOPE_KEY, DatumMiddleware, ResponseIncomplete

pytestmark = pytest.mark.anyio

Message = dict[str, Any]


def _recording_dm(seen: list[object]) -> DataManager:
    """A DataManager whose one middleware records how each context ended."""

    def middleware(ctx: DataAccessContext) -> Iterator[None]:
        try:
            yield
        except BaseException as exc:
            seen.append(type(exc))
            raise
        else:
            seen.append("clean")

    dm = DataManager()
    dm.register_context_middleware(middleware)
    return dm


async def _serve(app: Any, scope: dict[str, Any], incoming: list[Message]) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def test_an_unhandled_service_error_becomes_a_json_response() -> None:
    """A ``ServiceError`` the app raises is answered with its code and ``{"detail": ...}``."""
    seen: list[object] = []
    dm = _recording_dm(seen)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise NotFound("no note 7")

    start, body = await _serve(DatumMiddleware(app, data_manager=dm), {"type": "http"}, [])
    assert start["status"] == 404
    assert dict(start["headers"])[b"content-type"] == b"application/json"
    assert json.loads(body["body"]) == {"detail": "no note 7"}
    assert seen == [NotFound]  # the context rolled back before the response


async def test_a_websocket_connection_has_one_context_until_the_app_returns() -> None:
    """A WebSocket's context is active while the app runs, ``meta.request`` the ASGI scope."""
    seen: list[object] = []
    dm = _recording_dm(seen)
    during: list[object] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ctx = dm.get_active_context()
        assert ctx is not None
        during.append(ctx.meta.request is scope)
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1000})

    sent = await _serve(DatumMiddleware(app, data_manager=dm), {"type": "websocket"}, [])
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.close"]
    assert (during, seen) == ([True], ["clean"])
    assert dm.get_active_context() is None


async def test_a_response_cut_short_rolls_back_with_response_incomplete() -> None:
    """An app returning before its last body message leaves the context rolled back."""
    seen: list[object] = []
    dm = _recording_dm(seen)
    scope: dict[str, Any] = {"type": "http"}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})

    sent = await _serve(DatumMiddleware(app, data_manager=dm), scope, [])
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert seen == [ResponseIncomplete]
    assert REQUEST_SCOPE_KEY not in scope  # the scope no longer refers to the context


async def test_a_failed_commit_raises_before_anything_is_sent() -> None:
    """A middleware failing at close makes the app's last send raise; nothing went out."""
    dm = DataManager()

    def failing_commit(ctx: DataAccessContext) -> Iterator[None]:
        yield
        raise RuntimeError("commit failed")

    dm.register_context_middleware(failing_commit)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    with pytest.raises(RuntimeError, match="commit failed"):
        await DatumMiddleware(app, data_manager=dm)({"type": "http"}, receive, send)
    assert sent == []  # the server answers 500: no 200 for a lost write
