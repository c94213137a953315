"""Client disconnects under Django's ASGI handler still tear the context down."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from django.core.handlers.asgi import ASGIHandler

from tests.asgi import http_scope
from tests.django_datum import views
from tests.django_datum.app import Probe, dm

pytestmark = pytest.mark.anyio

Message = dict[str, Any]


def _receive_then_disconnect(when: asyncio.Event) -> Callable[[], Awaitable[Message]]:
    sent_request = False

    async def receive() -> Message:
        nonlocal sent_request
        if not sent_request:
            sent_request = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await when.wait()
        return {"type": "http.disconnect"}

    return receive


async def test_disconnect_during_view_cancels_and_closes(probe: Probe) -> None:
    """A disconnect while the view waits throws CancelledError into the context once."""
    started = views.EVENTS["block"] = asyncio.Event()
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    try:
        await asyncio.wait_for(
            ASGIHandler()(http_scope("/a/block"), _receive_then_disconnect(started), send), 20
        )
    finally:
        del views.EVENTS["block"]
    assert sent == []
    assert (probe.seen, probe.setups, probe.teardowns) == ([asyncio.CancelledError], 1, 1)


async def test_disconnect_during_stream_closes_the_context(probe: Probe) -> None:
    """A disconnect while a body streams rolls the context back and closes it once."""
    first_chunk = asyncio.Event()

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            first_chunk.set()
            await asyncio.Event().wait()  # the client is gone: this send never completes

    await asyncio.wait_for(
        ASGIHandler()(http_scope("/a/stream/50"), _receive_then_disconnect(first_chunk), send), 20
    )
    assert (probe.seen, probe.setups, probe.teardowns) == ([GeneratorExit], 1, 1)
    assert dm.get_active_context() is None
