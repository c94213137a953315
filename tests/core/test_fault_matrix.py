"""Fault injection in the core: a failure at each phase of a context, sync and async.

For every cell: the right exception reaches the caller, the in-context
exception reaches middleware, every resource and middleware that was set up
is torn down exactly once, no context stays active, and the next context on
the same DataManager works.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from polydatum import DataManager, Service
from polydatum.testing import ResourceTracker

PHASES = ["none", "middleware setup", "resource setup", "in context", "middleware teardown",
          "resource teardown"]  # fmt: skip


class Injected(Exception):
    """The injected failure."""


class Cell:
    """One context run with a failure injected at one phase, recording what happened."""

    def __init__(self, phase: str, use_async: bool) -> None:
        self.phase = phase
        self.events: list[str] = []
        self.seen_by_middleware: list[BaseException] = []
        self.dm = DataManager()
        self.dm.register_services(work=Work())
        if use_async:
            self.dm.register_context_middleware(self.outer_async, self.inner_async)
            self.dm.register_resources(db=self.db_async)
        else:
            self.dm.register_context_middleware(self.outer, self.inner)
            self.dm.register_resources(db=self.db)

    def fail(self, phase: str) -> None:
        if self.phase == phase:
            raise Injected(phase)

    def outer(self, ctx: Any) -> Iterator[None]:
        self.events.append("outer up")
        try:
            yield
        except BaseException as exc:
            self.seen_by_middleware.append(exc)
            raise
        finally:
            self.events.append("outer down")

    def inner(self, ctx: Any) -> Iterator[None]:
        self.events.append("inner up")
        self.fail("middleware setup")
        try:
            yield
        except BaseException as exc:
            self.seen_by_middleware.append(exc)
            raise
        finally:
            self.events.append("inner down")
        self.fail("middleware teardown")

    async def outer_async(self, ctx: Any) -> AsyncIterator[None]:
        self.events.append("outer up")
        try:
            yield
        except BaseException as exc:
            self.seen_by_middleware.append(exc)
            raise
        finally:
            await asyncio.sleep(0)
            self.events.append("outer down")

    async def inner_async(self, ctx: Any) -> AsyncIterator[None]:
        self.events.append("inner up")
        self.fail("middleware setup")
        try:
            yield
        except BaseException as exc:
            self.seen_by_middleware.append(exc)
            raise
        finally:
            await asyncio.sleep(0)
            self.events.append("inner down")
        self.fail("middleware teardown")

    def db(self, ctx: Any) -> Iterator[str]:
        self.fail("resource setup")
        try:
            yield "conn"
        finally:
            self.fail("resource teardown")

    async def db_async(self, ctx: Any) -> AsyncIterator[str]:
        self.fail("resource setup")
        try:
            yield "conn"
        finally:
            await asyncio.sleep(0)
            self.fail("resource teardown")


class Work(Service):
    def run(self, cell: Cell) -> None:
        assert self._ctx.db == "conn"
        cell.fail("in context")

    async def arun(self, cell: Cell) -> None:
        assert await self._ctx.aget("db") == "conn"
        cell.fail("in context")


# What reaches the caller for each phase: resource teardown errors are collected, not raised.
RAISES = {"none": None, "resource teardown": None}


def _check(cell: Cell, tracker: ResourceTracker, raised: BaseException | None) -> None:
    expected = RAISES.get(cell.phase, cell.phase)
    assert (str(raised) if raised else None) == expected
    if cell.phase in ("resource setup", "in context"):
        assert [str(e) for e in cell.seen_by_middleware] == [cell.phase, cell.phase]
    if cell.phase in ("middleware setup", "middleware teardown"):
        # The inner middleware failed; the outer one sees its error.
        assert [str(e) for e in cell.seen_by_middleware] == [cell.phase]
    assert cell.events.count("outer up") == cell.events.count("outer down") == 1
    assert cell.events.count("inner up") == 1
    # A middleware whose setup failed is not torn down; otherwise exactly once.
    assert cell.events.count("inner down") == (0 if cell.phase == "middleware setup" else 1)
    tracker.assert_no_leaks()
    assert tracker.set_up == tracker.torn_down
    assert cell.dm.get_active_context() is None


@pytest.mark.parametrize("phase", PHASES)
def test_sync_fault(phase: str) -> None:
    """A sync context with a failure at this phase fails cleanly and leaves nothing behind."""
    cell = Cell(phase, use_async=False)
    with ResourceTracker(cell.dm) as tracker:
        raised = None
        try:
            with cell.dm.dal() as dal:
                dal.work.run(cell)
        except Injected as exc:
            raised = exc
        _check(cell, tracker, raised)
        cell.phase = "none"
        with cell.dm.dal() as dal:
            dal.work.run(cell)
        tracker.assert_no_leaks()


@pytest.mark.anyio
@pytest.mark.parametrize("phase", PHASES)
async def test_async_fault(phase: str) -> None:
    """An async context with a failure at this phase fails cleanly and leaves nothing behind."""
    cell = Cell(phase, use_async=True)
    with ResourceTracker(cell.dm) as tracker:
        raised = None
        try:
            async with cell.dm.dal() as dal:
                await dal.work.arun(cell)
        except Injected as exc:
            raised = exc
        _check(cell, tracker, raised)
        cell.phase = "none"
        async with cell.dm.dal() as dal:
            await dal.work.arun(cell)
        tracker.assert_no_leaks()
