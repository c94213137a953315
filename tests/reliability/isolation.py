"""A DataManager for isolation tests: every request reads its user many times, pausing between.

The pauses (thread switches or event-loop turns) come from the request, so a
test can let hypothesis choose where each request yields. The answer repeats
what the request saw at each point; any cross-talk shows up as another user.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from polydatum import DataAccessContext, DataManager, Service

#: Points where a request may yield: before the resource, between reads, before
#: answering, in the resource's teardown.
POINTS = 4


def encode(pauses: tuple[int, ...]) -> str:
    """The ``x-pauses`` header for ``pauses``."""
    return ",".join(map(str, pauses))


def request_meta(headers: Mapping[str, str]) -> dict[str, Any]:
    """Meta of a request: its user and pauses, from the x-user and x-pauses headers."""
    pauses = tuple(int(p) for p in headers["x-pauses"].split(","))
    return {"user": headers["x-user"], "pauses": pauses}


def expected(user: str) -> str:
    """The answer a request by ``user`` must get when nothing leaked into it."""
    return "|".join([user, user, f"conn-of-{user}", user])


class Who(Service):
    """Reads the user before and after pauses, and the resource opened for the user."""

    def __init__(self, owner: Isolation) -> None:
        super().__init__()
        self.owner = owner

    def echo(self) -> str:
        """Sync: yields the thread with ``time.sleep(0)`` at the request's pause points."""
        pauses = self._ctx.meta.pauses
        first = self._ctx.meta.user
        _sleep(pauses[0])
        conn = self._ctx.conn
        self.owner.meet()
        _sleep(pauses[1])
        second = self._ctx.meta.user
        _sleep(pauses[2])
        return "|".join([first, second, conn, self._ctx.meta.user])

    async def aecho(self) -> str:
        """Async: yields to the event loop with ``asyncio.sleep(0)`` at the pause points."""
        pauses = self._ctx.meta.pauses
        first = self._ctx.meta.user
        await _asleep(pauses[0])
        conn = await self._ctx.aget("aconn")
        await self.owner.ameet()
        await _asleep(pauses[1])
        second = self._ctx.meta.user
        await _asleep(pauses[2])
        return "|".join([first, second, conn, self._ctx.meta.user])


def _sleep(turns: int) -> None:
    for _ in range(turns):
        time.sleep(0)


async def _asleep(turns: int) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)


class Isolation:
    """The DataManager, its counters and an optional meeting point for all requests."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.opened = 0
        self.closed = 0
        self.barrier: threading.Barrier | None = None
        self.abarrier: asyncio.Barrier | None = None
        self.dm = DataManager()
        self.dm.register_context_middleware(self._count)
        self.dm.register_resources(conn=self._conn, aconn=self._aconn)
        self.dm.register_services(who=Who(self))

    def meet(self) -> None:
        """Wait until every request of the round holds its resource (threads)."""
        if self.barrier is not None:
            self.barrier.wait(timeout=20)

    async def ameet(self) -> None:
        """Wait until every request of the round holds its resource (tasks)."""
        if self.abarrier is not None:
            async with asyncio.timeout(20):
                await self.abarrier.wait()

    def _count(self, ctx: DataAccessContext) -> Iterator[None]:
        with self.lock:
            self.opened += 1
        try:
            yield
        finally:
            with self.lock:
                self.closed += 1

    def _conn(self, ctx: DataAccessContext) -> Iterator[str]:
        try:
            yield f"conn-of-{ctx.meta.user}"
        finally:
            _sleep(ctx.meta.pauses[3])

    async def _aconn(self, ctx: DataAccessContext) -> AsyncIterator[str]:
        try:
            yield f"conn-of-{ctx.meta.user}"
        finally:
            await _asleep(ctx.meta.pauses[3])
