"""Fixtures for the core tests: a DataManager and a recorder of lifecycle events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from polydatum import DataManager


class Recorder:
    """Collects lifecycle events in order, and builds generators that record them."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def middleware(
        self,
        name: str,
        *,
        fail_setup: bool = False,
        fail_teardown: bool = False,
        suppress: bool = False,
    ) -> Callable[[Any], Iterator[None]]:
        def middleware(ctx: Any) -> Iterator[None]:
            self.events.append(f"{name} setup")
            if fail_setup:
                raise RuntimeError(f"{name} setup failed")
            try:
                yield
            except Exception as exc:
                self.events.append(f"{name} saw {exc!r}")
                if suppress:
                    return
                raise
            finally:
                self.events.append(f"{name} teardown")
            if fail_teardown:
                raise RuntimeError(f"{name} teardown failed")

        middleware.__name__ = name
        return middleware

    def resource(
        self, name: str, value: Any = None, *, fail_setup: bool = False, fail_teardown: bool = False
    ) -> Callable[[Any], Iterator[Any]]:
        def resource(ctx: Any) -> Iterator[Any]:
            self.events.append(f"{name} setup")
            if fail_setup:
                raise RuntimeError(f"{name} setup failed")
            try:
                yield value if value is not None else f"{name}-value"
            except Exception as exc:
                self.events.append(f"{name} saw {exc!r}")
                raise
            finally:
                self.events.append(f"{name} teardown")
                if fail_teardown:
                    raise RuntimeError(f"{name} teardown failed")

        return resource

    def async_resource(self, name: str) -> Callable[[Any], AsyncIterator[Any]]:
        async def resource(ctx: Any) -> AsyncIterator[Any]:
            self.events.append(f"{name} setup")
            try:
                yield f"{name}-value"
            except Exception as exc:
                self.events.append(f"{name} saw {exc!r}")
                raise
            finally:
                self.events.append(f"{name} teardown")

        return resource

    def async_middleware(self, name: str) -> Callable[[Any], AsyncIterator[None]]:
        async def middleware(ctx: Any) -> AsyncIterator[None]:
            self.events.append(f"{name} setup")
            try:
                yield
            except Exception as exc:
                self.events.append(f"{name} saw {exc!r}")
                raise
            finally:
                self.events.append(f"{name} teardown")

        middleware.__name__ = name
        return middleware

    def count(self, event: str) -> int:
        return self.events.count(event)


@pytest.fixture
def rec() -> Recorder:
    """A fresh event recorder."""
    return Recorder()


@pytest.fixture
def dm() -> DataManager:
    """A fresh, empty DataManager."""
    return DataManager()
