"""The sync context lifecycle: order, laziness, exceptions, teardown."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from polydatum import DataManager, Service
from polydatum.context import DataAccessContext
from polydatum.errors import (
    MiddlewareSetupException,
    NoActiveContextError,
    ResourceException,
    ResourceSetupException,
)

from .conftest import Recorder


class Boom(Exception):
    """The in-context failure used by these tests."""


def test_lifecycle_order(dm: DataManager, rec: Recorder) -> None:
    """Middleware sets up in order, resources lazily; teardown reverses, resources newest first."""
    dm.register_context_middleware(rec.middleware("m1"), rec.middleware("m2"))
    dm.register_resources(r1=rec.resource("r1"), r2=rec.resource("r2"))
    with dm.context() as ctx:
        rec.events.append("body")
        assert ctx.r1 == "r1-value"
        assert ctx.r2 == "r2-value"
    assert rec.events == [
        "m1 setup", "m2 setup", "body", "r1 setup", "r2 setup",
        "m2 teardown", "m1 teardown", "r2 teardown", "r1 teardown",
    ]  # fmt: skip


def test_resource_is_lazy(dm: DataManager, rec: Recorder) -> None:
    """A resource that is never accessed is never set up nor torn down."""
    dm.register_resources(db=rec.resource("db"))
    with dm.context() as ctx:
        assert "db" not in ctx
    assert rec.events == []


def test_resource_set_up_once_per_context(dm: DataManager, rec: Recorder) -> None:
    """Accessing a resource twice in a context sets it up once and gives the same value."""
    dm.register_resources(db=rec.resource("db", value=object()))
    with dm.context() as ctx:
        first = ctx.db
        assert ctx.db is first
        assert "db" in ctx
    assert rec.count("db setup") == 1
    assert rec.count("db teardown") == 1


def test_each_context_gets_its_own_resource(dm: DataManager) -> None:
    """Two contexts in a row each set up their own resource value."""
    dm.register_resources(db=lambda ctx: (yield object()))
    with dm.context() as one:
        first = one.db
    with dm.context() as two:
        assert two.db is not first


def test_resource_can_use_another_resource(dm: DataManager, rec: Recorder) -> None:
    """A resource's setup may use another resource; the inner one is torn down last."""
    dm.register_resources(conn=rec.resource("conn"))

    def session(ctx: Any) -> Iterator[str]:
        rec.events.append("session setup")
        yield f"session on {ctx.conn}"
        rec.events.append("session teardown")

    dm.register_resources(session=session)
    with dm.context() as ctx:
        assert ctx.session == "session on conn-value"
    assert rec.events[-2:] == ["session teardown", "conn teardown"]


def test_middleware_can_use_resources(dm: DataManager, rec: Recorder) -> None:
    """Middleware may set up a resource and still use it while tearing down."""
    dm.register_resources(db=rec.resource("db"))
    seen = []

    def tx(ctx: Any) -> Iterator[None]:
        seen.append(ctx.db)
        yield
        seen.append(ctx.db)

    dm.register_context_middleware(tx)
    with dm.context():
        pass
    assert seen == ["db-value", "db-value"]
    assert rec.events == ["db setup", "db teardown"]


def test_in_context_exception_reaches_middleware_and_resources(
    dm: DataManager, rec: Recorder
) -> None:
    """An exception raised in the context is thrown into middleware and resources, then raised."""
    dm.register_context_middleware(rec.middleware("m"))
    dm.register_resources(db=rec.resource("db"))
    with pytest.raises(Boom), dm.context() as ctx:
        ctx.db  # noqa: B018 - sets the resource up
        raise Boom("x")
    assert "m saw Boom('x')" in rec.events
    assert "db saw Boom('x')" in rec.events


def test_exception_swallowed_by_middleware_still_reaches_the_caller(
    dm: DataManager, rec: Recorder
) -> None:
    """Middleware that catches the exception without re-raising does not hide it (as in 0.9)."""
    dm.register_context_middleware(rec.middleware("m", suppress=True))
    with pytest.raises(Boom, match="quiet"), dm.context():
        raise Boom("quiet")
    assert "m saw Boom('quiet')" in rec.events


def test_exception_swallowed_by_middleware_still_reaches_a_direct_exit_caller(
    dm: DataManager, rec: Recorder
) -> None:
    """Called directly, ``__exit__`` returns False for a swallowed exception: not suppressed."""
    dm.register_context_middleware(rec.middleware("m", suppress=True))
    ctx = dm.context()
    ctx.__enter__()
    error = Boom("quiet")
    assert ctx.__exit__(Boom, error, None) is False
    assert dm.get_active_context() is None


def test_swallowed_exception_does_not_reach_resources(dm: DataManager, rec: Recorder) -> None:
    """Once middleware swallows the exception, later middleware and resources see a clean end."""
    dm.register_context_middleware(rec.middleware("outer"), rec.middleware("m", suppress=True))
    dm.register_resources(db=rec.resource("db"))
    with pytest.raises(Boom), dm.context() as ctx:
        ctx.db  # noqa: B018
        raise Boom("quiet")
    assert not any(e.startswith(("db saw", "outer saw")) for e in rec.events)


def test_middleware_can_replace_exception(dm: DataManager) -> None:
    """Middleware may raise a different exception, which replaces the in-context one."""

    def translate(ctx: Any) -> Iterator[None]:
        try:
            yield
        except Boom as exc:
            raise ValueError("translated") from exc

    dm.register_context_middleware(translate)
    with pytest.raises(ValueError, match="translated"), dm.context():
        raise Boom()


def test_replaced_exception_reaches_outer_middleware(dm: DataManager, rec: Recorder) -> None:
    """An exception raised by inner middleware is what outer middleware sees."""

    def inner(ctx: Any) -> Iterator[None]:
        try:
            yield
        except Boom:
            raise ValueError("inner") from None

    dm.register_context_middleware(rec.middleware("outer"), inner)
    with pytest.raises(ValueError, match="inner"), dm.context():
        raise Boom()
    assert "outer saw ValueError('inner')" in rec.events


def test_middleware_teardown_error_propagates(dm: DataManager, rec: Recorder) -> None:
    """An error raised by middleware while tearing down (e.g. a failed commit) propagates."""
    dm.register_context_middleware(rec.middleware("tx", fail_teardown=True))
    with pytest.raises(RuntimeError, match="tx teardown failed"), dm.context():
        pass


def test_middleware_teardown_error_still_tears_down_the_rest(
    dm: DataManager, rec: Recorder
) -> None:
    """When middleware teardown fails, outer middleware and every resource still tear down once."""
    dm.register_context_middleware(
        rec.middleware("outer"), rec.middleware("tx", fail_teardown=True)
    )
    dm.register_resources(db=rec.resource("db"))
    with pytest.raises(RuntimeError), dm.context() as ctx:
        ctx.db  # noqa: B018
    assert rec.count("outer teardown") == 1
    assert rec.count("db teardown") == 1
    assert "outer saw RuntimeError('tx teardown failed')" in rec.events


def test_middleware_setup_failure_tears_down_earlier_middleware(
    dm: DataManager, rec: Recorder
) -> None:
    """A middleware failing to set up propagates, and the ones set up before it are torn down."""
    dm.register_context_middleware(
        rec.middleware("m1"), rec.middleware("m2", fail_setup=True), rec.middleware("m3")
    )
    with pytest.raises(RuntimeError, match="m2 setup failed"), dm.context():
        pytest.fail("the body must not run")
    assert rec.events == [
        "m1 setup", "m2 setup", "m1 saw RuntimeError('m2 setup failed')", "m1 teardown",
    ]  # fmt: skip
    assert dm.get_active_context() is None


def test_middleware_that_does_not_yield(dm: DataManager) -> None:
    """Middleware that returns without yielding raises MiddlewareSetupException."""

    def lazy_mw(ctx: Any) -> Iterator[None]:
        return
        yield

    dm.register_context_middleware(lazy_mw)
    with pytest.raises(MiddlewareSetupException, match="did not yield"), dm.context():
        pass


def test_middleware_that_yields_twice(dm: DataManager) -> None:
    """Middleware that yields a second time raises RuntimeError when the context closes."""

    def twice(ctx: Any) -> Iterator[None]:
        yield
        yield

    dm.register_context_middleware(twice)
    with pytest.raises(RuntimeError, match="yielded more than once"), dm.context():
        pass


def test_resource_setup_failure_is_in_context(dm: DataManager, rec: Recorder) -> None:
    """A resource failing to set up raises in the context; middleware sees it."""
    dm.register_context_middleware(rec.middleware("m"))
    dm.register_resources(db=rec.resource("db", fail_setup=True))
    with pytest.raises(RuntimeError, match="db setup failed"), dm.context() as ctx:
        ctx.db  # noqa: B018
    assert "m saw RuntimeError('db setup failed')" in rec.events
    assert rec.count("db teardown") == 0


def test_resource_that_does_not_yield(dm: DataManager) -> None:
    """A resource that returns without yielding raises ResourceSetupException."""

    def nothing(ctx: Any) -> Iterator[None]:
        return
        yield

    dm.register_resources(db=nothing)
    with pytest.raises(ResourceSetupException, match="did not yield"), dm.context() as ctx:
        ctx.db  # noqa: B018


def test_resource_yielding_twice_is_collected(dm: DataManager) -> None:
    """A resource that yields twice gets a RuntimeError collected as an exit error, not raised."""

    def twice(ctx: Any) -> Iterator[int]:
        yield 1
        yield 2

    dm.register_resources(db=twice)
    with dm.context() as ctx:
        ctx.db  # noqa: B018
    errors = ctx.get_resource_exit_errors()
    assert len(errors) == 1
    assert errors[0][0] is RuntimeError
    assert "yielded more than once" in str(errors[0][1])


def test_resource_teardown_error_is_collected_not_raised(dm: DataManager, rec: Recorder) -> None:
    """A resource failing to tear down does not raise; the error is collected."""
    dm.register_resources(db=rec.resource("db", fail_teardown=True))
    with dm.context() as ctx:
        ctx.db  # noqa: B018
    [(exc_type, exc, tb)] = ctx.get_resource_exit_errors()
    assert exc_type is RuntimeError
    assert str(exc) == "db teardown failed"
    assert tb is not None


def test_resource_teardown_error_is_logged(
    dm: DataManager, rec: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """A resource teardown error is logged on the polydatum logger with the resource's name."""
    dm.register_resources(db=rec.resource("db", fail_teardown=True))
    with caplog.at_level(logging.ERROR, logger="polydatum"), dm.context() as ctx:
        ctx.db  # noqa: B018
    [record] = [r for r in caplog.records if r.name == "polydatum"]
    assert "'db'" in record.getMessage()
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "db teardown failed"


def test_resource_teardown_error_never_replaces_in_context_exception(
    dm: DataManager, rec: Recorder
) -> None:
    """The in-context exception propagates even when a resource fails while tearing down."""
    dm.register_resources(db=rec.resource("db", fail_teardown=True))
    with pytest.raises(Boom), dm.context() as ctx:
        ctx.db  # noqa: B018
        raise Boom()
    assert len(ctx.get_resource_exit_errors()) == 1


def test_every_resource_torn_down_when_one_fails(dm: DataManager, rec: Recorder) -> None:
    """Every set-up resource is torn down exactly once even if another one's teardown fails."""
    dm.register_resources(
        a=rec.resource("a"), b=rec.resource("b", fail_teardown=True), c=rec.resource("c")
    )
    with dm.context() as ctx:
        ctx.a, ctx.b, ctx.c  # noqa: B018
    assert [e for e in rec.events if e.endswith("teardown")] == [
        "c teardown", "b teardown", "a teardown",
    ]  # fmt: skip


def test_context_is_single_use(dm: DataManager) -> None:
    """Entering a context a second time raises RuntimeError."""
    ctx = dm.context()
    with ctx:
        pass
    with pytest.raises(RuntimeError, match="only be used once"), ctx:
        pass


def test_resources_unusable_after_exit(dm: DataManager) -> None:
    """A context's resources cannot be reached once it has closed."""
    dm.register_resources(db=lambda ctx: (yield "conn"))
    with dm.context() as ctx:
        assert ctx.db == "conn"
    with pytest.raises(NoActiveContextError, match="only be used while its context is active"):
        ctx.db  # noqa: B018


def test_new_resource_refused_while_closing(dm: DataManager) -> None:
    """Middleware cannot set up a new resource while the context closes, and says why."""
    dm.register_resources(db=lambda ctx: (yield "conn"))
    errors = []

    def late(ctx: Any) -> Iterator[None]:
        yield
        try:
            ctx.db  # noqa: B018
        except ResourceException as exc:
            errors.append(str(exc))

    dm.register_context_middleware(late)
    with dm.context():
        pass
    assert errors
    assert "check `name in ctx` first" in errors[0]


def test_unknown_resource_is_an_attribute_error_with_a_hint() -> None:
    """An unknown resource name raises AttributeError; Python's report suggests the near one."""
    script = textwrap.dedent(
        """
        from polydatum import DataManager
        dm = DataManager()
        dm.register_resources(db=lambda ctx: (yield 1), cache=lambda ctx: (yield 2))
        with dm.context() as ctx:
            ctx.dbb
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 1
    assert "AttributeError: 'DataAccessContext' object has no attribute 'dbb'" in result.stderr
    assert "Did you mean: 'db'?" in result.stderr


@pytest.mark.anyio
async def test_unknown_resource_through_aget_lists_registered_names(dm: DataManager) -> None:
    """``aget`` of an unregistered name raises AttributeError listing the registered ones."""
    dm.register_resources(db=lambda ctx: (yield 1), cache=lambda ctx: (yield 2))
    async with dm.context() as ctx:
        with pytest.raises(AttributeError, match="registered resources: cache, db"):
            await ctx.aget("nope")


def test_active_context_is_set_inside_and_cleared_after(dm: DataManager) -> None:
    """get_active_context() is the context while it is open and None after."""
    assert dm.get_active_context() is None
    with dm.context() as ctx:
        assert dm.get_active_context() is ctx
    assert dm.get_active_context() is None


def test_active_context_cleared_after_failure(dm: DataManager, rec: Recorder) -> None:
    """No context stays active after a context that failed in middleware teardown."""
    dm.register_context_middleware(rec.middleware("tx", fail_teardown=True))
    with pytest.raises(RuntimeError), dm.context():
        pass
    assert dm.get_active_context() is None


def test_nested_contexts_restore_the_outer_one(dm: DataManager) -> None:
    """A nested context is active inside, and the outer one is active again after it."""
    with dm.context(meta={"n": 1}) as outer:
        with dm.context(meta={"n": 2}) as inner:
            assert dm.get_active_context() is inner
            assert inner.meta.n == 2
        assert dm.get_active_context() is outer
    assert dm.get_active_context() is None


def test_nested_contexts_have_their_own_resources(dm: DataManager, rec: Recorder) -> None:
    """A nested context sets up its own resource and tears it down before the outer one."""

    def db(ctx: Any) -> Iterator[object]:
        yield object()
        rec.events.append("db teardown")

    dm.register_resources(db=db)
    with dm.context() as outer:
        first = outer.db
        with dm.context() as inner:
            assert inner.db is not first
        assert rec.count("db teardown") == 1
    assert rec.count("db teardown") == 2


def test_two_data_managers_do_not_share_contexts(rec: Recorder) -> None:
    """A context of one DataManager is not active for another DataManager."""
    one, two = DataManager(), DataManager()
    with one.context() as ctx:
        assert one.get_active_context() is ctx
        assert two.get_active_context() is None


def test_services_reach_meta_and_resources(dm: DataManager) -> None:
    """A service method reads meta and resources of the active context through self._ctx."""

    class Users(Service):
        def whoami(self) -> tuple[Any, Any]:
            return self._ctx.meta.user, self._ctx.db

    dm.register_services(users=Users())
    dm.register_resources(db=lambda ctx: (yield "conn"))
    with dm.dal(meta={"user": "bob"}) as dal:
        assert dal.users.whoami() == ("bob", "conn")


def test_service_ctx_without_context_names_the_fix(dm: DataManager) -> None:
    """Service._ctx with no active context raises NoActiveContextError saying how to open one."""
    svc = Service()
    dm.register_services(svc=svc)
    with pytest.raises(NoActiveContextError, match=r"dm\.context"):
        svc._ctx  # noqa: B018


def test_subclassed_context_class_is_used(rec: Recorder) -> None:
    """A DataManager subclass may set context_class; its contexts are of that class."""

    class MyContext(DataAccessContext):
        pass

    class MyManager(DataManager):
        context_class = MyContext

    dm = MyManager()
    dm.register_resources(db=lambda ctx: (yield "conn"))
    with dm.context() as ctx:
        assert isinstance(ctx, MyContext)
        assert ctx.db == "conn"


def test_context_class_with_its_own_init_is_called(rec: Recorder) -> None:
    """A context_class with an __init__ of its own gets it called by dm.context()."""

    class Tagged(DataAccessContext):
        def __init__(self, data_manager: DataManager, meta: Any = None) -> None:
            super().__init__(data_manager, meta)
            self.tag = "mine"

    class MyManager(DataManager):
        context_class = Tagged

    dm = MyManager()
    dm.register_resources(db=lambda ctx: (yield "conn"))
    with dm.context({"user": "ann"}) as ctx:
        assert ctx.tag == "mine"
        assert ctx.meta.user == "ann"
        assert ctx.db == "conn"


def test_context_built_directly_reaches_resources(dm: DataManager) -> None:
    """DataAccessContext(dm, meta), built without dm.context(), still sets up dm's resources."""
    dm.register_resources(db=lambda ctx: (yield "conn"))
    ctx = DataAccessContext(dm, {"user": "ann"})
    assert isinstance(ctx, DataAccessContext)
    assert "db" not in ctx
    with ctx:
        assert ctx.db == "conn"
        assert ctx.meta.user == "ann"
        assert dm.get_active_context() is ctx
    assert "db" not in ctx


def test_get_middleware_override_is_honoured(rec: Recorder) -> None:
    """A DataManager overriding get_middleware(context) decides the middleware per context."""
    only_tagged = rec.middleware("tagged")

    class Picky(DataManager):
        def get_middleware(self, context: DataAccessContext) -> list[Any]:
            return [only_tagged] if context.meta.tagged else []

    dm = Picky()
    with dm.context():
        pass
    with dm.context(meta={"tagged": True}):
        pass
    assert rec.events == ["tagged setup", "tagged teardown"]


def test_repr_shows_state() -> None:
    """A context's repr names its state."""
    dm = DataManager()
    ctx = dm.context()
    assert "created" in repr(ctx)
    with ctx:
        assert "active" in repr(ctx)
    assert "exited" in repr(ctx)


class Who(Service):
    def user(self) -> Any:
        return self._ctx.meta.user


def test_contexts_exited_out_of_order_leave_nothing_active(dm: DataManager) -> None:
    """Exiting a, then b (entered after a) leaves nothing active; b stays active in between."""
    dm.register_services(who=Who())
    a = dm.context(meta={"user": "a"})
    a.__enter__()
    b = dm.context(meta={"user": "b"})
    b.__enter__()
    a.__exit__(None, None, None)
    assert dm.get_active_context() is b
    assert dm.get_dal().who.user() == "b"
    b.__exit__(None, None, None)
    assert dm.get_active_context() is None
    with pytest.raises(NoActiveContextError, match="needs an active data context"):
        dm.get_dal().who.user()


def test_three_contexts_exited_out_of_order_restore_the_open_ones(dm: DataManager) -> None:
    """Exiting the oldest of three, then the newest, leaves the middle one active, then none."""
    outer = dm.context()
    outer.__enter__()
    a, b, c = dm.context(), dm.context(), dm.context()
    for ctx in (a, b, c):
        ctx.__enter__()
    a.__exit__(None, None, None)
    assert dm.get_active_context() is c
    c.__exit__(None, None, None)
    assert dm.get_active_context() is b
    b.__exit__(None, None, None)
    assert dm.get_active_context() is outer
    outer.__exit__(None, None, None)
    assert dm.get_active_context() is None


@pytest.mark.anyio
async def test_async_contexts_exited_out_of_order_leave_nothing_active(dm: DataManager) -> None:
    """The same holds for contexts opened with ``async with``'s methods."""
    a = dm.context()
    await a.__aenter__()
    b = dm.context()
    await b.__aenter__()
    await a.__aexit__(None, None, None)
    assert dm.get_active_context() is b
    await b.__aexit__(None, None, None)
    assert dm.get_active_context() is None
