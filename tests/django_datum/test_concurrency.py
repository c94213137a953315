"""100 concurrent requests with their own users never see each other's meta."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.core.handlers.asgi import ASGIHandler
from pytest_django.live_server_helper import LiveServer

from tests.django_datum import views
from tests.django_datum.app import Probe

REQUESTS = 100
# Requests meet in groups inside the view, so every group overlaps for sure.
GROUP = 10


def _expected() -> dict[int, str]:
    return {i: f"user-{i} /{{}}/name?n={i}" for i in range(REQUESTS)}


def test_threaded_wsgi_server_keeps_meta_per_request(live_server: LiveServer, probe: Probe) -> None:
    """Under a threaded WSGI server each request's services see only its own user and request."""
    views.BARRIERS["wsgi"] = threading.Barrier(GROUP)
    try:
        with httpx.Client(base_url=live_server.url, timeout=30) as http:

            def call(i: int) -> str:
                return http.get(f"/s/name?n={i}", headers={"x-user": f"user-{i}"}).text

            with ThreadPoolExecutor(max_workers=2 * GROUP) as pool:
                bodies = list(pool.map(call, range(REQUESTS)))
    finally:
        del views.BARRIERS["wsgi"]
    assert bodies == [v.format("s") for v in _expected().values()]
    assert probe.seen == [None] * REQUESTS


@pytest.mark.anyio
async def test_asgi_app_keeps_meta_per_request(probe: Probe) -> None:
    """Under Django's ASGI handler concurrent async requests see only their own meta."""
    views.BARRIERS["asgi"] = asyncio.Barrier(GROUP)
    transport = httpx.ASGITransport(app=ASGIHandler())
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            responses = await asyncio.gather(
                *(
                    http.get(f"/a/name?n={i}", headers={"x-user": f"user-{i}"})
                    for i in range(REQUESTS)
                )
            )
    finally:
        del views.BARRIERS["asgi"]
    assert [r.text for r in responses] == [v.format("a") for v in _expected().values()]
    assert probe.seen == [None] * REQUESTS
