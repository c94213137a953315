"""RequestScope: the per-request lifecycle the web plugins share."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from polydatum import DataManager, NotFound, ServiceError
from polydatum.lifecycle import RequestScope, status_for

from .conftest import Recorder


class Boom(Exception):
    """A view failure."""


@pytest.fixture
def tx_dm(dm: DataManager, rec: Recorder) -> DataManager:
    """A DataManager with a recording transaction middleware and resource."""
    dm.register_context_middleware(rec.middleware("tx"))
    dm.register_resources(db=rec.resource("db"))
    return dm


def test_close_without_exception_commits(tx_dm: DataManager, rec: Recorder) -> None:
    """A scope closed with no recorded exception tears down cleanly."""
    scope = RequestScope(tx_dm, {"user": "bob"})
    ctx = scope.open()
    assert tx_dm.get_active_context() is ctx
    scope.close()
    assert rec.events == ["tx setup", "tx teardown"]
    assert tx_dm.get_active_context() is None


def test_recorded_exception_reaches_middleware_and_is_not_raised(
    tx_dm: DataManager, rec: Recorder
) -> None:
    """A recorded view exception is thrown into middleware, and close() does not re-raise it."""
    scope = RequestScope(tx_dm, None)
    scope.open()
    scope.record(Boom("view"))
    scope.close()
    assert "tx saw Boom('view')" in rec.events


def test_first_recorded_exception_wins(tx_dm: DataManager, rec: Recorder) -> None:
    """record() keeps the first exception of the request."""
    scope = RequestScope(tx_dm, None)
    scope.open()
    scope.record(Boom("first"))
    scope.record(Boom("second"))
    scope.close()
    assert "tx saw Boom('first')" in rec.events


def test_close_raises_an_error_produced_by_closing(dm: DataManager, rec: Recorder) -> None:
    """close() raises an error that closing itself produced, such as a failed commit."""
    dm.register_context_middleware(rec.middleware("tx", fail_teardown=True))
    scope = RequestScope(dm, None)
    scope.open()
    with pytest.raises(RuntimeError, match="tx teardown failed"):
        scope.close()
    assert dm.get_active_context() is None


def test_close_runs_once(tx_dm: DataManager, rec: Recorder) -> None:
    """A second close() does nothing."""
    scope = RequestScope(tx_dm, None)
    scope.open()
    scope.close()
    scope.close()
    scope.close_quietly(Boom())
    assert rec.count("tx teardown") == 1
    assert scope.closed


def test_close_quietly_logs_and_returns_the_error(
    dm: DataManager, rec: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """close_quietly() returns and logs a closing error instead of raising it."""
    dm.register_context_middleware(rec.middleware("tx", fail_teardown=True))
    scope = RequestScope(dm, None)
    scope.open()
    error = scope.close_quietly()
    assert isinstance(error, RuntimeError)
    assert any(r.name == "polydatum" and r.exc_info for r in caplog.records)


def test_iterate_keeps_context_active_per_chunk(tx_dm: DataManager, rec: Recorder) -> None:
    """A detached scope's body runs each chunk with the context active, and closes at the end."""
    scope = RequestScope(tx_dm, {"user": "bob"})
    scope.open()
    scope.detach()
    assert tx_dm.get_active_context() is None

    def body() -> Iterator[str]:
        for i in range(3):
            ctx = tx_dm.get_active_context()
            assert ctx is not None
            yield f"{ctx.meta.user}-{i}-{ctx.db}"

    assert list(scope.iterate(body())) == ["bob-0-db-value", "bob-1-db-value", "bob-2-db-value"]
    assert rec.events[-2:] == ["tx teardown", "db teardown"]
    assert tx_dm.get_active_context() is None


def test_iterate_closed_early_closes_the_scope(tx_dm: DataManager, rec: Recorder) -> None:
    """Closing the wrapped body early (client gone) closes the body and the scope once."""
    scope = RequestScope(tx_dm, None)
    scope.open()
    scope.detach()
    closed = []

    def body() -> Iterator[int]:
        try:
            yield 1
            yield 2
        finally:
            closed.append(True)

    stream = scope.iterate(body())
    assert next(stream) == 1
    stream.close()  # type: ignore[attr-defined]
    assert closed == [True]
    assert rec.count("tx teardown") == 1
    assert scope.closed


def test_iterate_body_error_reaches_middleware(tx_dm: DataManager, rec: Recorder) -> None:
    """An error raised while streaming is thrown into middleware (rollback) and re-raised."""
    scope = RequestScope(tx_dm, None)
    scope.open()
    scope.detach()

    def body() -> Iterator[int]:
        yield 1
        raise Boom("mid-stream")

    with pytest.raises(Boom):
        list(scope.iterate(body()))
    assert "tx saw Boom('mid-stream')" in rec.events


@pytest.mark.anyio
async def test_aiterate_keeps_context_active_and_closes(dm: DataManager, rec: Recorder) -> None:
    """An async body streams with the context active, then the scope closes once."""
    dm.register_context_middleware(rec.async_middleware("atx"))
    scope = RequestScope(dm, {"user": "ann"})
    await scope.aopen()
    scope.detach()

    async def body() -> AsyncIterator[str]:
        for i in range(2):
            ctx = dm.get_active_context()
            assert ctx is not None
            yield f"{ctx.meta.user}-{i}"

    assert [chunk async for chunk in scope.aiterate(body())] == ["ann-0", "ann-1"]
    assert rec.count("atx teardown") == 1
    assert dm.get_active_context() is None


@pytest.mark.anyio
async def test_aclose_raises_closing_error_only(dm: DataManager) -> None:
    """aclose() raises a commit failure but not the recorded view exception."""

    async def commit(ctx: Any) -> AsyncIterator[None]:
        try:
            yield
        except Boom:
            raise
        raise RuntimeError("commit failed")

    dm.register_context_middleware(commit)
    failing = RequestScope(dm, None)
    await failing.aopen()
    with pytest.raises(RuntimeError, match="commit failed"):
        await failing.aclose()
    viewerror = RequestScope(dm, None)
    await viewerror.aopen()
    await viewerror.aclose(Boom())


def test_status_for_service_errors() -> None:
    """status_for maps ServiceError subclasses to their code and other errors to None."""

    class Gone(ServiceError):
        code = 410

    class Weird(ServiceError):
        code = 99

    assert status_for(NotFound()) == 404
    assert status_for(Gone()) == 410
    assert status_for(ServiceError()) == 500
    assert status_for(Weird()) == 500
    assert status_for(ValueError()) is None


@pytest.mark.anyio
async def test_aiterate_closed_before_the_first_chunk_closes_the_scope(
    dm: DataManager, rec: Recorder
) -> None:
    """An async body closed before it started still closes the body and the scope, as a rollback."""
    seen: list[type[BaseException]] = []

    def tx(ctx: Any) -> Iterator[None]:
        try:
            yield
        except BaseException as exc:
            seen.append(type(exc))
            raise

    dm.register_context_middleware(tx)
    scope = RequestScope(dm, None)
    await scope.aopen()
    scope.detach()
    started = []

    async def body() -> AsyncIterator[int]:
        started.append(True)
        yield 1

    stream = scope.aiterate(body())
    await stream.aclose()  # type: ignore[attr-defined]
    assert started == []
    assert scope.closed
    assert seen == [GeneratorExit]
    assert dm.get_active_context() is None


@pytest.mark.anyio
async def test_awaits_once_an_async_part_is_set_up(dm: DataManager) -> None:
    """RequestScope.awaits: False while only sync parts are set up, True after an async one."""

    def sync_db(ctx: Any) -> Iterator[str]:
        yield "sync"

    async def async_db(ctx: Any) -> AsyncIterator[str]:
        yield "async"

    dm.register_resources(sync_db=sync_db, async_db=async_db)
    scope = RequestScope(dm, None)
    ctx = await scope.aopen()
    assert ctx.sync_db == "sync"
    assert not scope.awaits
    assert await ctx.aget("async_db") == "async"
    assert scope.awaits
    await scope.aclose()
