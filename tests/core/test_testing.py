"""polydatum.testing: overrides that restore, and the resource tracker."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from polydatum import DataManager, Service
from polydatum.testing import LeakError, ResourceTracker, override


class Greeter(Service):
    def hello(self) -> str:
        return "hello"


class Fake(Service):
    def hello(self) -> str:
        return "fake"


@pytest.fixture
def greeter_dm(dm: DataManager) -> DataManager:
    """A DataManager with a greeter service and a db resource."""
    dm.register_services(greeter=Greeter())
    dm.register_resources(db=lambda ctx: (yield "real db"))
    return dm


def test_override_replaces_and_restores(greeter_dm: DataManager) -> None:
    """Inside override() the replacements are used; afterwards the originals are back."""
    replacements = {"services": {"greeter": Fake()}, "resources": {"db": lambda c: (yield 1)}}
    with override(greeter_dm, **replacements), greeter_dm.dal() as dal:  # type: ignore[arg-type]
        assert dal.greeter.hello() == "fake"
        assert dal.greeter._ctx.db == 1
    with greeter_dm.dal() as dal:
        assert dal.greeter.hello() == "hello"
        assert dal.greeter._ctx.db == "real db"


def test_override_restores_after_an_exception(greeter_dm: DataManager) -> None:
    """A failing block still restores the originals."""
    with pytest.raises(ZeroDivisionError), override(greeter_dm, services={"greeter": Fake()}):
        1 / 0  # noqa: B018
    with greeter_dm.dal() as dal:
        assert dal.greeter.hello() == "hello"


def test_override_of_a_new_name_is_removed_after(greeter_dm: DataManager) -> None:
    """A name that did not exist is registered for the block and gone afterwards."""
    extra = {"services": {"extra": Fake()}, "resources": {"cache": lambda c: (yield 2)}}
    with override(greeter_dm, **extra), greeter_dm.dal() as dal:  # type: ignore[arg-type]
        assert dal.extra.hello() == "fake"
        assert dal.extra._ctx.cache == 2
    with greeter_dm.dal() as dal:
        assert "extra" not in dal
        with pytest.raises(AttributeError, match="'extra'"):
            dal.extra  # noqa: B018
        with pytest.raises(AttributeError, match="'cache'"):
            dal.greeter._ctx.cache  # noqa: B018
    greeter_dm.register_services(extra=Greeter())  # the name is free again


def test_overrides_nest(greeter_dm: DataManager) -> None:
    """Nested overrides restore layer by layer."""

    class Other(Service):
        def hello(self) -> str:
            return "other"

    with override(greeter_dm, services={"greeter": Fake()}):
        with override(greeter_dm, services={"greeter": Other()}), greeter_dm.dal() as dal:
            assert dal.greeter.hello() == "other"
        with greeter_dm.dal() as dal:
            assert dal.greeter.hello() == "fake"
    with greeter_dm.dal() as dal:
        assert dal.greeter.hello() == "hello"


def test_override_is_seen_by_other_threads(greeter_dm: DataManager) -> None:
    """An override applies to contexts opened in other threads (e.g. a server thread)."""
    seen = []

    def serve() -> None:
        with greeter_dm.dal() as dal:
            seen.append(dal.greeter.hello())

    with override(greeter_dm, services={"greeter": Fake()}):
        thread = threading.Thread(target=serve)
        thread.start()
        thread.join()
    assert seen == ["fake"]


def test_tracker_counts_setups_and_teardowns(greeter_dm: DataManager) -> None:
    """The tracker counts each resource set up and torn down, and finds no leak after clean use."""
    with ResourceTracker(greeter_dm) as tracker:
        for _ in range(3):
            with greeter_dm.context() as ctx:
                assert ctx.db == "real db"
        tracker.assert_no_leaks()
    assert tracker.set_up == {"db": 3}
    assert tracker.torn_down == {"db": 3}


def test_tracker_names_a_leaked_context_and_resource(greeter_dm: DataManager) -> None:
    """A context left open is reported, naming the resource still set up."""
    with ResourceTracker(greeter_dm) as tracker:
        ctx = greeter_dm.context().__enter__()
        ctx.db  # noqa: B018
        with pytest.raises(LeakError) as info:
            tracker.assert_no_leaks()
        ctx.__exit__(None, None, None)
        tracker.assert_no_leaks()
    message = str(info.value)
    assert "a context is still active" in message
    assert "resource 'db': set up 1 time(s), torn down 0; 1 still open" in message


def test_tracker_keeps_resource_semantics(dm: DataManager) -> None:
    """Tracked resources still see the context's exception and may fail their teardown."""
    seen = []

    def db(ctx: Any) -> Iterator[str]:
        try:
            yield "conn"
        except ValueError as exc:
            seen.append(exc)
            raise
        finally:
            seen.append("closed")

    dm.register_resources(db=db)
    with ResourceTracker(dm) as tracker:
        with pytest.raises(ValueError, match="boom"), dm.context() as ctx:
            ctx.db  # noqa: B018
            raise ValueError("boom")
        tracker.assert_no_leaks()
    assert isinstance(seen[0], ValueError)
    assert seen[1] == "closed"


@pytest.mark.anyio
async def test_tracker_counts_async_resources(dm: DataManager) -> None:
    """Async resources are tracked as well."""

    async def adb(ctx: Any) -> AsyncIterator[str]:
        yield "aconn"

    dm.register_resources(adb=adb)
    with ResourceTracker(dm) as tracker:
        async with dm.context() as ctx:
            assert await ctx.aget("adb") == "aconn"
        tracker.assert_no_leaks()
    assert tracker.set_up == tracker.torn_down == {"adb": 1}


def test_tracker_restores_the_original_resources(greeter_dm: DataManager) -> None:
    """After the tracker's block, the original resource factories are registered again."""
    original = greeter_dm.get_resource("db")
    with ResourceTracker(greeter_dm):
        assert greeter_dm.get_resource("db") is not original
    assert greeter_dm.get_resource("db") is original


def test_overrides_ended_out_of_order_restore_the_original(greeter_dm: DataManager) -> None:
    """Blocks ended in another order than they began still leave the originals registered."""
    original = greeter_dm.get_resource("db")
    service = greeter_dm._dal._services["greeter"]
    outer = override(greeter_dm, resources={"db": lambda c: (yield "outer")})
    tracker = ResourceTracker(greeter_dm)
    inner = override(
        greeter_dm, services={"greeter": Fake()}, resources={"db": lambda c: (yield 2)}
    )
    outer.__enter__()
    tracker.__enter__()
    inner.__enter__()
    # pytest tears fixtures down in reverse order of set-up, so the tracker ends first.
    tracker.__exit__(None, None, None)
    with greeter_dm.dal() as dal:
        assert (dal.greeter.hello(), dal.greeter._ctx.db) == ("fake", 2)  # inner still active
    outer.__exit__(None, None, None)
    with greeter_dm.dal() as dal:
        assert (dal.greeter.hello(), dal.greeter._ctx.db) == ("fake", 2)
    inner.__exit__(None, None, None)
    assert greeter_dm.get_resource("db") is original
    assert greeter_dm._dal._services["greeter"] is service
