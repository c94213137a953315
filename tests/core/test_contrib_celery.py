"""polydatum.contrib.celery in one process: eager tasks, direct calls, configuration errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from polydatum import DataAccessContext, DataManager, Layer, Service
from polydatum.contrib.celery import USER_HEADER, DatumTask, UserReferenceError
from polydatum.errors import RegistrationError

from tests.core._celery_app import User, load_user


def noop() -> None:
    """A task body that does nothing."""


@pytest.fixture
def seen() -> list[str]:
    """Exceptions the context's middleware saw, in order."""
    return []


@pytest.fixture
def dm(seen: list[str]) -> DataManager:
    """A DataManager whose middleware records the exception each context ends with."""

    def watch(ctx: DataAccessContext) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            seen.append(repr(exc))
            raise

    dm = DataManager()
    dm.register_context_middleware(watch)
    return dm


@pytest.fixture
def app(dm: DataManager) -> Celery:
    """An eager Celery app (tasks run in the caller's process) with DatumTask as base."""

    class AppTask(
        DatumTask[Any, Any], data_manager=dm, user_ref=lambda u: u.name, load_user=load_user
    ):
        pass

    app = Celery("eager", task_cls=AppTask, broker="memory://", backend="cache+memory://")
    app.conf.update(
        task_always_eager=True, task_eager_propagates=False, task_store_eager_result=False
    )

    @app.task(name="e.user", shared=False)
    def user() -> Any:
        ctx = dm.get_active_context()
        assert ctx is not None
        found = ctx.meta.user
        return found.name if found is not None else None

    @app.task(name="e.meta", shared=False, bind=True)
    def meta(self: DatumTask[Any, Any]) -> dict[str, Any]:
        ctx = dm.get_active_context()
        assert ctx is not None
        return dict(ctx.meta.items())

    @app.task(name="e.fail", shared=False)
    def fail() -> None:
        raise LookupError("body failed")

    @app.task(name="e.write_meta", shared=False)
    def write_meta() -> None:
        ctx = dm.get_active_context()
        assert ctx is not None
        ctx.meta.user = "mallory"

    @app.task(name="e.async_user", shared=False)
    async def async_user() -> Any:
        ctx = dm.get_active_context()
        assert ctx is not None
        return (await ctx.meta.aget("user")).name

    return app


def test_eager_delay_carries_the_user(app: Celery, dm: DataManager) -> None:
    """delay() from a context with a user runs an eager task with that user."""
    with dm.context({"user": User("ann")}):
        result = app.tasks["e.user"].delay()
    assert result.get() == "ann"


def test_eager_apply_async_carries_the_user(app: Celery, dm: DataManager) -> None:
    """apply_async() from a context with a user runs an eager task with that user."""
    with dm.context({"user": User("bob")}):
        result = app.tasks["e.user"].apply_async()
    assert result.get() == "bob"


def test_eager_task_has_its_own_context(app: Celery, dm: DataManager) -> None:
    """An eager task runs in a new context with task meta, not in the sender's context."""
    with dm.context({"user": User("ann"), "request": "GET /"}):
        result = app.tasks["e.meta"].apply_async(task_id="id-1")
    assert result.get() == {
        "task_name": "e.meta",
        "task_id": "id-1",
        "retries": 0,
        "user_ref": "ann",
        "user": User("ann"),
    }


def test_header_set_to_none_sends_on_behalf_of_nobody(app: Celery, dm: DataManager) -> None:
    """headers={USER_HEADER: None} sends a task with no user from a context that has one."""
    with dm.context({"user": User("ann")}):
        result = app.tasks["e.user"].apply_async(headers={USER_HEADER: None})
    assert result.get() is None


def test_direct_call_inside_a_context_sees_that_user(app: Celery, dm: DataManager) -> None:
    """A task called as a function inside a context runs in a new context with that user."""
    with dm.context({"user": User("cy")}):
        assert app.tasks["e.user"]() == "cy"


def test_direct_call_outside_a_context_has_no_user(app: Celery) -> None:
    """A task called as a function outside any context runs with meta.user None."""
    assert app.tasks["e.user"]() is None


def test_unresolvable_reference_raises_naming_it(app: Celery, dm: DataManager) -> None:
    """Reading a user whose reference load_user can not resolve raises, naming the reference."""
    with dm.context({"user": User("ghost-3")}):
        result = app.tasks["e.user"].delay()
    with pytest.raises(UserReferenceError, match="user reference 'ghost-3'"):
        result.get()


def test_body_exception_reaches_the_context(app: Celery, seen: list[str]) -> None:
    """The body's exception is thrown into the context (middleware sees it) and fails the task."""
    result = app.tasks["e.fail"].delay()
    assert result.state == "FAILURE"
    assert seen == ["LookupError('body failed')"]


def test_meta_is_read_only_in_a_task(app: Celery) -> None:
    """A task can not change its meta."""
    with pytest.raises(AttributeError, match="can not be changed"):
        app.tasks["e.write_meta"].delay().get()


def test_failing_close_fails_the_task(app: Celery, dm: DataManager) -> None:
    """An error raised while closing the context (a commit) fails the task instead of a success."""

    def fail_on_close(ctx: DataAccessContext) -> Iterator[None]:
        yield
        raise RuntimeError("commit failed")

    dm.register_context_middleware(fail_on_close)
    result = app.tasks["e.user"].delay()
    assert result.state == "FAILURE"
    with pytest.raises(RuntimeError, match="commit failed"):
        result.get()


def test_async_body_runs_eagerly_from_sync_code(app: Celery, dm: DataManager) -> None:
    """An async body runs to completion in an eager call made from sync code."""
    with dm.context({"user": User("dee")}):
        result = app.tasks["e.async_user"].delay()
    assert result.get() == "dee"


@pytest.mark.anyio
async def test_async_body_refuses_a_running_loop(app: Celery) -> None:
    """An async body called eagerly from async code fails with an error saying why."""
    with pytest.raises(RuntimeError, match="own event loop"):
        app.tasks["e.async_user"]()


def test_user_ref_must_give_json_data(dm: DataManager) -> None:
    """Sending from a context whose user_ref gives something non-JSON fails at send, saying how."""

    class RawTask(DatumTask[Any, Any], data_manager=dm):
        pass

    app = Celery("raw", task_cls=RawTask, broker="memory://")
    app.conf.task_always_eager = True
    task = app.task(name="raw.noop", shared=False)(noop)
    with dm.context({"user": User("ann")}), pytest.raises(TypeError, match="user_ref="):
        task.delay()


def test_task_class_without_data_manager_fails_at_start_up() -> None:
    """Tasks of a DatumTask with no DataManager are refused when the app sets them up."""
    app = Celery("bare", task_cls=DatumTask, broker="memory://")
    app.task(name="bare.noop", shared=False)(noop)
    with pytest.raises(TypeError, match="data_manager=dm"):
        app.finalize()


def test_task_class_whose_data_manager_misses_a_declared_service_fails_at_start_up() -> None:
    """A DataManager that leaves a declared service unregistered fails the app's set-up."""

    class Notes(Service):
        pass

    class Dal(Layer):
        notes: Notes

    class DeclaredTask(DatumTask[Any, Any], data_manager=DataManager(dal_class=Dal)):
        pass

    app = Celery("declared", task_cls=DeclaredTask, broker="memory://")
    app.task(name="declared.noop", shared=False)(noop)
    with pytest.raises(RegistrationError, match=r"dal\.notes \(Notes, not known at run time\)"):
        app.finalize()


def test_data_manager_keyword_must_be_a_data_manager() -> None:
    """data_manager= with something else than a DataManager raises when the class is made."""
    with pytest.raises(TypeError, match="needs a polydatum DataManager"):

        class Wrong(DatumTask[Any, Any], data_manager=object()):  # type: ignore[arg-type]
            pass


def test_failing_close_is_retried_per_autoretry_for(dm: DataManager) -> None:
    """A closing error matching autoretry_for retries the task, each run in a new context."""
    attempts: list[int] = []

    def fail_on_close(ctx: DataAccessContext) -> Iterator[None]:
        yield
        raise ConnectionError("commit lost")

    dm.register_context_middleware(fail_on_close)

    class RetryTask(DatumTask[Any, Any], data_manager=dm):
        pass

    app = Celery("retry", task_cls=RetryTask, broker="memory://")
    app.conf.update(task_always_eager=True, task_eager_propagates=False)

    @app.task(
        name="r.write",
        shared=False,
        autoretry_for=(ConnectionError,),
        max_retries=2,
        retry_kwargs={"countdown": 0},
    )
    def write() -> None:
        ctx = dm.get_active_context()
        assert ctx is not None
        attempts.append(ctx.meta.retries)

    result = write.delay()
    assert result.state == "FAILURE"
    assert attempts == [0, 1, 2]


def test_async_loader_is_used_by_aget(dm: DataManager) -> None:
    """With aload_user, an async body's ``await meta.aget("user")`` loads the user with it."""

    async def aload_user(ref: str) -> User:
        return User(f"async {ref}")

    class AsyncTask(
        DatumTask[Any, Any], data_manager=dm, user_ref=lambda u: u.name, aload_user=aload_user
    ):
        pass

    app = Celery("async_loader", task_cls=AsyncTask, broker="memory://")
    app.conf.task_always_eager = True

    @app.task(name="a.user", shared=False)
    async def user() -> str:
        ctx = dm.get_active_context()
        assert ctx is not None
        return str((await ctx.meta.aget("user")).name)

    with dm.context({"user": User("eve")}):
        assert user.delay().get() == "async eve"
