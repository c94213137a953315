"""RequestScope.iterate: a streamed body runs with the context active and closes the scope once."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import pytest
from polydatum import DataAccessContext, DataManager
from polydatum.lifecycle import RequestScope


def _dm(log: list[str]) -> DataManager:
    dm = DataManager()

    def conn(ctx: DataAccessContext) -> Generator[str, None, None]:
        log.append("setup")
        try:
            yield "conn"
        except BaseException as exc:
            log.append(f"error:{type(exc).__name__}")
            raise
        finally:
            log.append("teardown")

    dm.register_resources(conn=conn)
    return dm


def _open_detached(dm: DataManager) -> RequestScope:
    scope = RequestScope(dm, None)
    scope.open()
    scope.detach()
    return scope


def test_chunks_see_the_active_context() -> None:
    """Each chunk is produced while the scope's context is the active one."""
    log: list[str] = []
    dm = _dm(log)
    scope = _open_detached(dm)

    def body() -> Iterator[str]:
        for _ in range(2):
            ctx = dm.get_active_context()
            assert ctx is not None
            yield ctx.conn

    assert list(scope.iterate(body())) == ["conn", "conn"]
    assert dm.get_active_context() is None


def test_exhausted_body_closes_scope_once() -> None:
    """Reading the body to the end closes the scope and tears the resource down once."""
    log: list[str] = []
    dm = _dm(log)
    scope = _open_detached(dm)
    body = scope.iterate(iter(["a"]))
    scope.context.conn  # noqa: B018 - set the resource up
    list(body)
    body.close()  # type: ignore[attr-defined]
    assert scope.closed
    assert log == ["setup", "teardown"]


def test_close_before_first_chunk_closes_body_and_scope() -> None:
    """Closing the body unread (a HEAD response) still closes the inner body and the scope."""
    log: list[str] = []
    dm = _dm(log)
    scope = _open_detached(dm)
    scope.context.conn  # noqa: B018 - set the resource up
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Body:
            return self

        def __next__(self) -> Any:
            raise AssertionError("not read")

        def close(self) -> None:
            closed.append(dm.get_active_context() is scope.context)

    scope.iterate(Body()).close()  # type: ignore[attr-defined]
    assert closed == [True]
    assert log == ["setup", "error:GeneratorExit", "teardown"]
    assert dm.get_active_context() is None


def test_failing_body_throws_its_error_into_the_context() -> None:
    """An error raised while streaming reaches the resource and propagates to the reader."""
    log: list[str] = []
    dm = _dm(log)
    scope = _open_detached(dm)

    def body() -> Iterator[str]:
        dm.get_active_context().conn  # type: ignore[union-attr]  # noqa: B018
        yield "a"
        raise KeyError("lost")

    with pytest.raises(KeyError):
        list(scope.iterate(body()))
    assert log == ["setup", "error:KeyError", "teardown"]
    assert scope.closed


def test_body_closed_early_throws_generator_exit() -> None:
    """A body closed after some chunks throws GeneratorExit into the context and closes once."""
    log: list[str] = []
    dm = _dm(log)
    scope = _open_detached(dm)
    scope.context.conn  # noqa: B018 - set the resource up
    body = scope.iterate(iter(["a", "b"]))
    assert next(body) == "a"
    body.close()  # type: ignore[attr-defined]
    body.close()  # type: ignore[attr-defined]
    assert log == ["setup", "error:GeneratorExit", "teardown"]
