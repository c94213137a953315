"""Isolation of contexts between threads, asyncio tasks and thread pools."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polydatum import DataManager, Service

THREADS = 120
TASKS = 1200


class Users(Service):
    def whoami(self) -> Any:
        return self._ctx.meta.user, self._ctx.conn

    async def awhoami(self) -> Any:
        return self._ctx.meta.user, await self._ctx.aget("aconn")


class Tracker:
    """Counts set-ups and teardowns of a resource, thread-safely."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.opened = 0
        self.closed = 0

    def resource(self, ctx: Any) -> Iterator[str]:
        with self.lock:
            self.opened += 1
        try:
            yield f"conn-of-{ctx.meta.user}"
        finally:
            with self.lock:
                self.closed += 1

    async def aresource(self, ctx: Any) -> AsyncIterator[str]:
        self.opened += 1
        try:
            yield f"aconn-of-{ctx.meta.user}"
        finally:
            await asyncio.sleep(0)
            self.closed += 1


@pytest.fixture
def tracker() -> Tracker:
    """A resource tracker."""
    return Tracker()


@pytest.fixture
def users_dm(tracker: Tracker) -> DataManager:
    """A DataManager with a Users service and tracked sync and async resources."""
    dm = DataManager()
    dm.register_services(users=Users())
    dm.register_resources(conn=tracker.resource, aconn=tracker.aresource)
    return dm


def test_threads_see_only_their_own_meta(users_dm: DataManager, tracker: Tracker) -> None:
    """120 threads with open contexts at the same time each see only their own user and resource."""
    barrier = threading.Barrier(THREADS)
    results: dict[int, Any] = {}

    def work(i: int) -> None:
        with users_dm.dal(meta={"user": i}) as dal:
            dal.users.whoami()
            barrier.wait()  # every thread is inside its context now
            results[i] = dal.users.whoami()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: (i, f"conn-of-{i}") for i in range(THREADS)}
    assert tracker.opened == tracker.closed == THREADS


async def _all_inside(dm: DataManager, tracker: Tracker, count: int) -> dict[int, Any]:
    entered = 0
    all_in = asyncio.Event()
    results: dict[int, Any] = {}

    async def work(i: int) -> None:
        nonlocal entered
        async with dm.dal(meta={"user": i}) as dal:
            await dal.users.awhoami()
            entered += 1
            if entered == count:
                all_in.set()
            await all_in.wait()  # every task is inside its context now
            results[i] = (await dal.users.awhoami(), dal.users.whoami())

    await asyncio.gather(*(work(i) for i in range(count)))
    return results


@pytest.mark.anyio
async def test_tasks_see_only_their_own_meta(users_dm: DataManager, tracker: Tracker) -> None:
    """1200 asyncio tasks with open contexts at the same time each see only their own user."""
    results = await _all_inside(users_dm, tracker, TASKS)
    assert results == {i: ((i, f"aconn-of-{i}"), (i, f"conn-of-{i}")) for i in range(TASKS)}
    assert tracker.opened == tracker.closed == 2 * TASKS
    assert users_dm.get_active_context() is None


@pytest.mark.anyio
async def test_thread_pool_sees_the_callers_context(users_dm: DataManager) -> None:
    """Code run with asyncio.to_thread inside a context sees that context."""
    async with users_dm.dal(meta={"user": "ann"}) as dal:
        assert await asyncio.to_thread(lambda: dal.users.whoami()[0]) == "ann"


def test_context_opened_in_worker_thread_does_not_leak(users_dm: DataManager) -> None:
    """A context opened and closed in a pool thread is not active in the caller."""
    seen = []

    def work() -> None:
        with users_dm.context(meta={"user": "w"}):
            seen.append(users_dm.get_active_context() is not None)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: work(), range(8)))
    assert seen == [True] * 8
    assert users_dm.get_active_context() is None


@settings(max_examples=30, deadline=None)
@given(
    schedules=st.lists(
        st.lists(st.integers(min_value=0, max_value=3), min_size=3, max_size=3),
        min_size=2,
        max_size=12,
    )
)
def test_random_interleavings_stay_isolated(schedules: list[list[int]]) -> None:
    """Tasks switching at random points (before use, between uses, before exit) stay isolated."""
    tracker = Tracker()
    dm = DataManager()
    dm.register_services(users=Users())
    dm.register_resources(conn=tracker.resource, aconn=tracker.aresource)

    async def work(i: int, pauses: list[int]) -> Any:
        async def pause(n: int) -> None:
            for _ in range(n):
                await asyncio.sleep(0)

        async with dm.dal(meta={"user": i}) as dal:
            await pause(pauses[0])
            first = await dal.users.awhoami()
            await pause(pauses[1])
            second = dal.users.whoami()
            await pause(pauses[2])
            return first, second

    async def main() -> list[Any]:
        return await asyncio.gather(*(work(i, p) for i, p in enumerate(schedules)))

    results = asyncio.run(main())
    assert results == [((i, f"aconn-of-{i}"), (i, f"conn-of-{i}")) for i in range(len(schedules))]
    assert tracker.opened == tracker.closed == 2 * len(schedules)
