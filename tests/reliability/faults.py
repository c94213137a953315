"""A DataManager that fails on demand at any phase of a request, and what each phase must give.

Every framework's fault matrix builds its app around one :class:`Faults`: two
context middleware (``outer``, then ``inner``, the one that fails), a sync
resource ``db`` and an async resource ``adb``, and a ``work`` service. Set
``faults.phase`` to the phase that must fail, make a request, then check the
cell with :func:`check_cell`.

What each cell must give (the same for every framework):

======================  =======  ==============================================
phase                   status   what else
======================  =======  ==============================================
none                    200      full body
middleware setup        500      the context never opened; no resource set up
resource setup          500      the view raised; the resource never counted
in view                 500      rolled back; the resource torn down once
service error           409      its code; rolled back although it became a response
middleware teardown     500      the failed commit is never a 2xx
resource teardown       200      the view's status; the error is logged
while streaming         200      headers went out: the body stops after chunk 0
client disconnect       200      headers went out; the context is rolled back
======================  =======  ==============================================
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from polydatum import DataAccessContext, DataManager, Service, ServiceError
from polydatum.testing import ResourceTracker

PHASES = (
    "none",
    "middleware setup",
    "resource setup",
    "in view",
    "service error",
    "middleware teardown",
    "resource teardown",
    "while streaming",
    "client disconnect",
    "commit after streaming",
)
#: Phases driven through a streamed body; the others through a plain view.
STREAMED = frozenset({"while streaming", "client disconnect", "commit after streaming"})
#: Chunks a streamed body would send if nobody stopped it.
CHUNKS = 20

#: The status each phase must give (see the module docstring).
STATUS = {
    "none": 200,
    "middleware setup": 500,
    "resource setup": 500,
    "in view": 500,
    "service error": 409,
    "middleware teardown": 500,
    "resource teardown": 200,
    "while streaming": 200,
    "client disconnect": 200,
    "commit after streaming": 200,
}


class Injected(Exception):
    """The failure injected at one phase; its message names the phase."""


class Conflict(ServiceError):
    """A service error the plugin turns into a response with its code."""

    code = 409


class Faults:
    """Owns the fault-injecting DataManager and records what its middleware saw."""

    def __init__(self) -> None:
        self.phase = "none"
        self.lock = threading.Lock()
        self.seen: dict[str, list[str]] = {"outer": [], "inner": []}
        self.events: list[str] = []
        self.dm = DataManager()
        self.dm.register_context_middleware(_Middleware(self, "outer"), _Middleware(self, "inner"))
        self.dm.register_resources(db=self._db, adb=self._adb)
        self.dm.register_services(work=Work(self))

    def fail(self, phase: str) -> None:
        """Raise Injected when ``phase`` is the phase under test."""
        if self.phase == phase:
            raise Injected(phase)

    def fail_in_view(self) -> None:
        """Raise Injected in the ``in view`` phase, Conflict in the ``service error`` phase."""
        if self.phase == "service error":
            raise Conflict(self.phase)
        self.fail("in view")

    def fail_commit(self) -> None:
        """Raise Injected when the phase under test is a failing commit."""
        if self.phase in ("middleware teardown", "commit after streaming"):
            raise Injected(self.phase)

    def record(self, name: str, event: str) -> None:
        """Log ``event`` of middleware ``name`` (thread-safe)."""
        with self.lock:
            self.events.append(f"{name} {event}")

    def saw(self, name: str, exc: BaseException | None) -> None:
        """Remember the exception (or None) middleware ``name`` saw at teardown."""
        with self.lock:
            self.seen[name].append("None" if exc is None else describe(exc))

    def reset(self) -> None:
        """Forget what was seen and stop failing (before the next request)."""
        self.phase = "none"
        with self.lock:
            self.seen = {"outer": [], "inner": []}
            self.events.clear()

    def _db(self, ctx: DataAccessContext) -> Iterator[str]:
        self.fail("resource setup")
        try:
            yield f"db-of-{ctx.meta.user}"
        finally:
            self.fail("resource teardown")

    async def _adb(self, ctx: DataAccessContext) -> AsyncIterator[str]:
        self.fail("resource setup")
        try:
            yield f"adb-of-{ctx.meta.user}"
        finally:
            await asyncio.sleep(0)  # an await in teardown, like closing a real connection
            self.fail("resource teardown")


class _Middleware:
    """Context middleware usable in sync (``__call__``) and async (``acall``) contexts."""

    def __init__(self, faults: Faults, name: str) -> None:
        self.faults = faults
        self.name = name

    def __call__(self, ctx: DataAccessContext) -> Iterator[None]:
        faults = self.faults
        faults.record(self.name, "up")
        if self.name == "inner":
            faults.fail("middleware setup")
        try:
            yield
        except BaseException as exc:
            faults.saw(self.name, exc)
            faults.record(self.name, "down")
            raise
        faults.saw(self.name, None)
        faults.record(self.name, "down")
        if self.name == "inner":
            faults.fail_commit()

    async def acall(self, ctx: DataAccessContext) -> AsyncIterator[None]:
        faults = self.faults
        faults.record(self.name, "up")
        await asyncio.sleep(0)
        if self.name == "inner":
            faults.fail("middleware setup")
        try:
            yield
        except BaseException as exc:
            faults.saw(self.name, exc)
            faults.record(self.name, "down")
            raise
        await asyncio.sleep(0)
        faults.saw(self.name, None)
        faults.record(self.name, "down")
        if self.name == "inner":
            faults.fail_commit()


class Work(Service):
    """What views call: reads a resource and may fail in the view or while streaming."""

    def __init__(self, faults: Faults) -> None:
        super().__init__()
        self.faults = faults

    def run(self) -> str:
        """Use the sync resource; fail here in the ``in view`` phase."""
        db = self._ctx.db
        self.faults.fail_in_view()
        return f"ok {db}"

    async def arun(self) -> str:
        """Use the async resource; fail here in the ``in view`` phase."""
        db = await self._ctx.aget("adb")
        await asyncio.sleep(0)
        self.faults.fail_in_view()
        return f"ok {db}"

    def chunks(self) -> Iterator[str]:
        """A streamed body using the DAL for each chunk; fails after chunk 0 when told."""
        for i in range(CHUNKS):
            yield f"{self._dal.work.run()}:{i};"
            self.faults.fail("while streaming")

    async def achunks(self) -> AsyncIterator[str]:
        """Async twin of :meth:`chunks`."""
        for i in range(CHUNKS):
            yield f"{await self._dal.work.arun()}:{i};"
            self.faults.fail("while streaming")


@dataclass
class Outcome:
    """What the client got: the status, the body it could read, and whether the body broke."""

    status: int
    body: str = ""
    broken: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


#: What middleware saw, per phase: (outer, inner). DISCONNECT stands for the
#: framework's own signal of a client gone (given to :func:`check_cell`).
DISCONNECT = "<disconnect>"
_SEEN = {
    "none": (["None"], ["None"]),
    "middleware setup": (["Injected(middleware setup)"], []),
    "resource setup": (["Injected(resource setup)"], ["Injected(resource setup)"]),
    "in view": (["Injected(in view)"], ["Injected(in view)"]),
    "service error": (["Conflict(service error)"], ["Conflict(service error)"]),
    "middleware teardown": (["Injected(middleware teardown)"], ["None"]),
    "resource teardown": (["None"], ["None"]),
    "while streaming": (["Injected(while streaming)"], ["Injected(while streaming)"]),
    "client disconnect": ([DISCONNECT], [DISCONNECT]),
    "commit after streaming": (["Injected(commit after streaming)"], ["None"]),
}


def describe(exc: BaseException) -> str:
    """``Injected(in view)``; an exception group as ``ExceptionGroup[<its exceptions>]``."""
    if isinstance(exc, BaseExceptionGroup):
        return f"{type(exc).__name__}[{', '.join(describe(e) for e in exc.exceptions)}]"
    return f"{type(exc).__name__}({exc})"


def check_cell(
    faults: Faults,
    tracker: ResourceTracker,
    phase: str,
    outcome: Outcome,
    caplog: pytest.LogCaptureFixture,
    *,
    disconnect: str | tuple[str, ...] = "GeneratorExit()",
    grouped_body_error: bool = False,
) -> None:
    """Assert everything a fault cell must hold (status, middleware, teardowns, no leak).

    ``grouped_body_error``: the framework raises a streamed body's error inside an
    ExceptionGroup (Starlette before 0.46), so that group is what the middleware sees.
    """
    assert outcome.status == STATUS[phase], (phase, outcome)
    if phase == "none":
        assert not outcome.broken
        assert outcome.body.startswith("ok ")
    if phase == "while streaming":
        # Headers and chunk 0 went out; the body then stopped.
        assert outcome.broken
        assert outcome.body.endswith(":0;")
    if phase == "commit after streaming":
        # Every chunk went out, but the write was lost: the body must not end cleanly.
        assert outcome.broken, outcome
        assert outcome.body.endswith(f":{CHUNKS - 1};")
    outer, inner = _SEEN[phase]
    if grouped_body_error and phase == "while streaming":
        outer = inner = [f"ExceptionGroup[{outer[0]}]"]
    if phase == "client disconnect":
        # The framework's signal of a client gone; both middleware see the same one.
        allowed = (disconnect,) if isinstance(disconnect, str) else disconnect
        assert len(faults.seen["outer"]) == 1, faults.seen
        assert faults.seen["outer"][0] in allowed, faults.seen
        assert faults.seen["inner"] == faults.seen["outer"]
    else:
        assert faults.seen == {"outer": outer, "inner": inner}, (phase, faults.seen)
    # Each middleware that set up is torn down exactly once.
    assert faults.events.count("outer up") == faults.events.count("outer down") == 1
    inner_down = 0 if phase == "middleware setup" else 1
    assert faults.events.count("inner up") == 1
    assert faults.events.count("inner down") == inner_down
    # Every resource set up was torn down exactly once.
    opened = 0 if phase in ("middleware setup", "resource setup") else 1
    assert sum(tracker.set_up.values()) == opened, tracker.set_up
    assert tracker.set_up == tracker.torn_down
    tracker.assert_no_leaks()
    assert faults.dm.get_active_context() is None
    logged = [r for r in caplog.records if "raised while tearing down" in r.getMessage()]
    assert len(logged) == (1 if phase == "resource teardown" else 0)
    if phase == "commit after streaming":
        assert any(r.exc_info and str(r.exc_info[1]) == phase for r in caplog.records), (
            "the failed commit was not logged"
        )


def check_next_request_ok(faults: Faults, tracker: ResourceTracker, outcome: Outcome) -> None:
    """Assert the request after a fault succeeded and left nothing behind."""
    assert (outcome.status, outcome.broken) == (200, False), outcome
    assert outcome.body.startswith("ok ")
    assert faults.seen == {"outer": ["None"], "inner": ["None"]}
    assert tracker.set_up == tracker.torn_down
    tracker.assert_no_leaks()
    assert faults.dm.get_active_context() is None
