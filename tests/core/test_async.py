"""Async contexts: async resources and middleware, mixing with sync ones, cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest
from polydatum import DataManager, Service
from polydatum.errors import MiddlewareSetupException, ResourceSetupException

from .conftest import Recorder

pytestmark = pytest.mark.anyio


class Boom(Exception):
    """The in-context failure used by these tests."""


async def test_async_lifecycle_order(dm: DataManager, rec: Recorder) -> None:
    """Async and sync middleware and resources follow the same order inside `async with`."""
    dm.register_context_middleware(rec.async_middleware("am"), rec.middleware("sm"))
    dm.register_resources(ar=rec.async_resource("ar"), sr=rec.resource("sr"))
    async with dm.context() as ctx:
        rec.events.append("body")
        assert await ctx.aget("ar") == "ar-value"
        assert ctx.sr == "sr-value"
    assert rec.events == [
        "am setup", "sm setup", "body", "ar setup", "sr setup",
        "sm teardown", "am teardown", "sr teardown", "ar teardown",
    ]  # fmt: skip


async def test_async_resource_is_an_attribute_after_aget(dm: DataManager, rec: Recorder) -> None:
    """Once set up with aget, an async resource is read as a plain attribute."""
    dm.register_resources(ar=rec.async_resource("ar"))
    async with dm.context() as ctx:
        value = await ctx.aget("ar")
        assert ctx.ar is value
        assert await ctx.aget("ar") is value
    assert rec.count("ar setup") == 1


async def test_async_resource_attribute_before_aget_names_the_fix(dm: DataManager) -> None:
    """Reading an async resource as an attribute before aget raises, naming `await ctx.aget`."""

    async def ar(ctx: Any) -> AsyncIterator[int]:
        yield 1

    dm.register_resources(ar=ar)
    async with dm.context() as ctx:
        with pytest.raises(ResourceSetupException, match=r"await ctx\.aget\('ar'\)"):
            ctx.ar  # noqa: B018


async def test_aget_sets_up_sync_resources(dm: DataManager, rec: Recorder) -> None:
    """aget works for sync resources too."""
    dm.register_resources(sr=rec.resource("sr"))
    async with dm.context() as ctx:
        assert await ctx.aget("sr") == "sr-value"


def test_async_resource_in_sync_context_names_the_fix(dm: DataManager) -> None:
    """An async resource used in a sync context raises, saying to use `async with`."""

    async def ar(ctx: Any) -> AsyncIterator[int]:
        yield 1

    dm.register_resources(ar=ar)
    with dm.context() as ctx, pytest.raises(ResourceSetupException, match="async with"):
        ctx.ar  # noqa: B018


def test_async_middleware_in_sync_context_names_the_fix(dm: DataManager, rec: Recorder) -> None:
    """Async middleware in a sync context raises MiddlewareSetupException naming `async with`."""
    dm.register_context_middleware(rec.async_middleware("am"))
    with pytest.raises(MiddlewareSetupException, match="async with"), dm.context():
        pass
    assert dm.get_active_context() is None


async def test_async_dal(dm: DataManager) -> None:
    """`async with dm.dal()` gives the DAL; async service methods reach async resources."""

    class Users(Service):
        async def whoami(self) -> tuple[Any, Any]:
            return self._ctx.meta.user, await self._ctx.aget("db")

    async def db(ctx: Any) -> AsyncIterator[str]:
        yield "conn"

    dm.register_services(users=Users())
    dm.register_resources(db=db)
    async with dm.dal(meta={"user": "ann"}) as dal:
        assert await dal.users.whoami() == ("ann", "conn")


async def test_exception_reaches_async_middleware_and_resources(
    dm: DataManager, rec: Recorder
) -> None:
    """An in-context exception is thrown into async middleware and async resources."""
    dm.register_context_middleware(rec.async_middleware("am"))
    dm.register_resources(ar=rec.async_resource("ar"))
    with pytest.raises(Boom):
        async with dm.context() as ctx:
            await ctx.aget("ar")
            raise Boom("x")
    assert "am saw Boom('x')" in rec.events
    assert "ar saw Boom('x')" in rec.events


async def test_exception_swallowed_by_async_middleware_still_reaches_the_caller(
    dm: DataManager,
) -> None:
    """Async middleware that catches the exception without re-raising does not hide it."""

    async def quiet(ctx: Any) -> AsyncIterator[None]:
        try:
            yield
        except Boom:
            pass

    dm.register_context_middleware(quiet)
    with pytest.raises(Boom):
        async with dm.context():
            raise Boom()


async def test_async_middleware_teardown_error_propagates(dm: DataManager, rec: Recorder) -> None:
    """An async middleware failing while tearing down propagates; resources are still torn down."""

    async def commit(ctx: Any) -> AsyncIterator[None]:
        yield
        raise RuntimeError("commit failed")

    dm.register_context_middleware(commit)
    dm.register_resources(ar=rec.async_resource("ar"))
    with pytest.raises(RuntimeError, match="commit failed"):
        async with dm.context() as ctx:
            await ctx.aget("ar")
    assert rec.count("ar teardown") == 1
    assert dm.get_active_context() is None


async def test_async_resource_teardown_error_collected(dm: DataManager) -> None:
    """An async resource failing while tearing down is collected, not raised."""

    async def bad(ctx: Any) -> AsyncIterator[int]:
        yield 1
        raise RuntimeError("close failed")

    dm.register_resources(bad=bad)
    async with dm.context() as ctx:
        await ctx.aget("bad")
    [(exc_type, exc, _)] = ctx.get_resource_exit_errors()
    assert exc_type is RuntimeError
    assert str(exc) == "close failed"


async def test_async_middleware_not_yielding(dm: DataManager) -> None:
    """Async middleware that does not yield raises MiddlewareSetupException."""

    async def nothing(ctx: Any) -> AsyncIterator[None]:
        return
        yield

    dm.register_context_middleware(nothing)
    with pytest.raises(MiddlewareSetupException, match="did not yield"):
        async with dm.context():
            pass


async def test_async_resource_not_yielding(dm: DataManager) -> None:
    """An async resource that does not yield raises ResourceSetupException."""

    async def nothing(ctx: Any) -> AsyncIterator[None]:
        return
        yield

    dm.register_resources(nothing=nothing)
    with pytest.raises(ResourceSetupException, match="did not yield"):
        async with dm.context() as ctx:
            await ctx.aget("nothing")


async def test_async_middleware_yielding_twice(dm: DataManager) -> None:
    """Async middleware that yields twice raises RuntimeError at close."""

    async def twice(ctx: Any) -> AsyncIterator[None]:
        yield
        yield

    dm.register_context_middleware(twice)
    with pytest.raises(RuntimeError, match="yielded more than once"):
        async with dm.context():
            pass


async def test_async_setup_failure_tears_down_earlier_middleware(
    dm: DataManager, rec: Recorder
) -> None:
    """A middleware failing to set up in an async context tears down the ones before it."""
    dm.register_context_middleware(
        rec.async_middleware("am"), rec.middleware("bad", fail_setup=True)
    )
    with pytest.raises(RuntimeError, match="bad setup failed"):
        async with dm.context():
            pytest.fail("the body must not run")
    assert rec.count("am teardown") == 1
    assert dm.get_active_context() is None


def test_sync_exit_of_async_context_with_async_parts_is_refused(dm: DataManager) -> None:
    """Closing with a plain __exit__ a context that set up async parts raises, naming the fix."""

    async def ar(ctx: Any) -> AsyncIterator[int]:
        yield 1

    dm.register_resources(ar=ar)

    async def scenario() -> None:
        ctx = await dm.context().__aenter__()
        await ctx.aget("ar")
        with pytest.raises(RuntimeError, match="close it with `async with`"):
            ctx.__exit__(None, None, None)
        await ctx.__aexit__(None, None, None)
        assert dm.get_active_context() is None

    asyncio.run(scenario())


def test_async_context_without_async_parts_may_close_sync(dm: DataManager, rec: Recorder) -> None:
    """An `async with` context that set up only sync parts can be closed with __exit__."""
    dm.register_resources(sr=rec.resource("sr"))

    async def scenario() -> None:
        ctx = await dm.context().__aenter__()
        assert ctx.sr == "sr-value"
        assert ctx.__exit__(None, None, None) is False
        assert dm.get_active_context() is None

    asyncio.run(scenario())
    assert rec.events == ["sr setup", "sr teardown"]


async def test_cancelled_task_tears_everything_down(dm: DataManager, rec: Recorder) -> None:
    """Cancelling a task in a context tears down middleware and resources once, then re-raises."""
    dm.register_context_middleware(rec.async_middleware("am"))
    dm.register_resources(ar=rec.async_resource("ar"), sr=rec.resource("sr"))
    inside = asyncio.Event()

    async def worker() -> None:
        async with dm.context() as ctx:
            await ctx.aget("ar")
            ctx.sr  # noqa: B018
            inside.set()
            await asyncio.Event().wait()

    task = asyncio.ensure_future(worker())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rec.count("am teardown") == 1
    assert rec.count("ar teardown") == 1
    assert rec.count("sr teardown") == 1
    assert dm.get_active_context() is None


async def test_cleanup_shielded_when_anyio_scope_cancelled(dm: DataManager) -> None:
    """When an anyio cancel scope cancels the context, async cleanup that awaits still completes."""
    done = []

    async def ar(ctx: Any) -> AsyncIterator[str]:
        try:
            yield "conn"
        finally:
            await anyio.lowlevel.checkpoint()
            done.append("ar closed")

    async def am(ctx: Any) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await anyio.lowlevel.checkpoint()
            done.append("am closed")

    dm.register_context_middleware(am)
    dm.register_resources(ar=ar)
    with anyio.CancelScope() as scope:
        async with dm.context() as ctx:
            await ctx.aget("ar")
            scope.cancel()
            await anyio.lowlevel.checkpoint()
    assert scope.cancelled_caught
    assert done == ["am closed", "ar closed"]


async def test_cancel_during_teardown_finishes_cleanup_then_reraises(dm: DataManager) -> None:
    """A task cancelled while its context tears down still tears down every other resource."""
    closing = asyncio.Event()
    closed = []

    async def first(ctx: Any) -> AsyncIterator[str]:
        yield "a"
        await asyncio.sleep(0)
        closed.append("first")

    async def slow(ctx: Any) -> AsyncIterator[str]:
        yield "b"
        closing.set()
        await asyncio.Event().wait()

    dm.register_resources(first=first, slow=slow)

    async def worker() -> None:
        async with dm.context() as ctx:
            await ctx.aget("first")
            await ctx.aget("slow")

    task = asyncio.ensure_future(worker())
    await closing.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed == ["first"]
    assert dm.get_active_context() is None


async def test_context_in_sync_middleware_of_async_context(dm: DataManager) -> None:
    """Sync middleware in an async context gets the in-context exception too."""
    seen = []

    def sm(ctx: Any) -> Iterator[None]:
        try:
            yield
        except Boom as exc:
            seen.append(exc)
            raise

    dm.register_context_middleware(sm)
    with pytest.raises(Boom):
        async with dm.context():
            raise Boom()
    assert len(seen) == 1


def test_sync_context_with_async_resources_of_a_finished_loop_closes_cleanly(
    dm: DataManager, rec: Recorder
) -> None:
    """Async resources an async view set up in its own, finished loop leave no error at close.

    The loop that ran them closed them when it shut down (asyncio finalises its async
    generators), so they saw that, not the context's exception: the documented limit of
    async resources in a sync-opened context.
    """
    dm.register_resources(ar=rec.async_resource("ar"))
    with pytest.raises(ValueError, match="boom"), dm.context() as ctx:

        async def async_view() -> str:
            value: str = await ctx.aget("ar")
            return value

        assert asyncio.run(async_view()) == "ar-value"
        raise ValueError("boom")
    assert rec.events == ["ar setup", "ar teardown"]
    assert ctx.get_resource_exit_errors() == []
    assert dm.get_active_context() is None


def test_sync_context_closes_async_resources_in_a_fresh_loop(dm: DataManager) -> None:
    """Async resources still open when a sync-opened context closes get its exception there."""
    seen: list[str] = []

    async def ar(ctx: Any) -> AsyncIterator[int]:
        try:
            yield 1
        except ValueError as exc:
            seen.append(f"saw {exc}")
            raise

    dm.register_resources(ar=ar)
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError, match="boom"), dm.context() as ctx:
            # The loop stays open, so nothing finalises the generator before the context closes.
            assert loop.run_until_complete(ctx.aget("ar")) == 1
            raise ValueError("boom")
    finally:
        loop.close()
    assert seen == ["saw boom"]
    assert dm.get_active_context() is None
