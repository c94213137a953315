"""Concurrent requests stay apart; cancelled requests still tear everything down."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
from polydatum import DataManager, Service
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette_datum import DatumMiddleware, get_dal

from .support import Recorder, make_app

pytestmark = pytest.mark.anyio

REQUESTS = 1000


class Whoami(Service):
    """Reads the meta's user before and after waiting for every other request to arrive."""

    def __init__(self, all_in: anyio.Event, arrived: list[int]) -> None:
        super().__init__()
        self.all_in = all_in
        self.arrived = arrived

    async def reads(self) -> list[Any]:
        seen = [self._ctx.meta.user]
        self.arrived[0] += 1
        if self.arrived[0] == REQUESTS:
            self.all_in.set()
        await self.all_in.wait()  # every request is now inside its own context at once
        seen.append(self._ctx.meta.user)
        await anyio.lowlevel.checkpoint()
        seen.append(self._dal.whoami._ctx.meta.user)
        return seen


async def test_concurrent_requests_never_see_each_others_meta() -> None:
    """1000 requests in flight at once each see only their own user, before and after awaits."""
    all_in = anyio.Event()
    dm = DataManager()
    dm.register_services(whoami=Whoami(all_in, [0]))

    async def endpoint(request: Request) -> Response:
        return JSONResponse(await get_dal(request).whoami.reads())

    app = Starlette(
        routes=[Route("/", endpoint)],
        middleware=[
            Middleware(
                DatumMiddleware, data_manager=dm, meta=lambda r: {"user": r.headers["x-user"]}
            )
        ],
    )
    results: dict[str, list[Any]] = {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:

        async def one(user: str) -> None:
            response = await client.get("http://test/", headers={"x-user": user})
            results[user] = response.json()

        async with anyio.create_task_group() as tg:
            for i in range(REQUESTS):
                tg.start_soon(one, f"user-{i}")
    assert len(results) == REQUESTS
    assert all(seen == [user] * 3 for user, seen in results.items())
    assert dm.get_active_context() is None


async def test_cancelled_request_tears_everything_down(dm: DataManager, recorder: Recorder) -> None:
    """A request cancelled mid-endpoint rolls back and runs its async teardown to the end."""
    entered, release = anyio.Event(), anyio.Event()
    app = make_app(dm, recorder, entered=entered, release=release)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(client.get, "http://test/wait")
        await entered.wait()
        tg.cancel_scope.cancel()
    assert recorder.events == [
        "begin",
        "conn:setup",
        "aconn:setup",
        "rollback:CancelledError",
        "aconn:teardown",
        "conn:teardown",
    ]
    assert dm.get_active_context() is None
