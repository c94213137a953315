"""A context middleware with an async twin (``acall``) runs the right variant per context."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import Any

import pytest
from polydatum import DataAccessContext, DataManager


class _Twin:
    """Records which variant ran."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, context: DataAccessContext) -> Generator[None, None, None]:
        self.calls.append("sync")
        yield

    async def acall(self, context: DataAccessContext) -> AsyncGenerator[None, None]:
        self.calls.append("async")
        yield


def _manager(twin: Any) -> DataManager:
    dm = DataManager()
    dm.register_context_middleware(twin)
    return dm


def test_sync_context_calls_the_middleware_itself() -> None:
    """A `with` context calls the middleware, not its async twin."""
    twin = _Twin()
    with _manager(twin).context():
        pass
    assert twin.calls == ["sync"]


@pytest.mark.anyio
async def test_async_context_calls_the_async_twin() -> None:
    """An `async with` context calls the middleware's `acall` twin."""
    twin = _Twin()
    async with _manager(twin).context():
        pass
    assert twin.calls == ["async"]
