"""Test helpers: overrides that restore, and a tracker that finds leaked contexts and resources.

``override(dm, services=..., resources=...)`` swaps services and resources
for a ``with`` block (or a test, through the pytest plugin) and restores what
was there afterwards, even when the block fails. ``ResourceTracker`` counts
every resource set up and torn down while it is installed;
``tracker.assert_no_leaks()`` fails with a message naming what leaked.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import AsyncGenerator, Generator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ._types import C, D
from .context import DataAccessContext
from .dal import DataManager
from .resources import ResourceFactory
from .services import Service
from .util import is_async_generator

__all__ = ["LeakError", "ResourceTracker", "override"]

_MISSING: Any = object()


class LeakError(AssertionError):
    """A context stayed active, or a resource was set up and never torn down."""


class _Layer:
    """The replacements of one ``override`` block."""

    __slots__ = ("resources", "services")

    def __init__(
        self,
        services: Mapping[str, Service[Any, Any]],
        resources: Mapping[str, ResourceFactory[Any]],
    ) -> None:
        self.services = dict(services)
        self.resources = dict(resources)


class _Overrides:
    """The override blocks active on one DataManager, oldest first, and what they replaced."""

    __slots__ = ("base_resources", "base_services", "layers")

    def __init__(self) -> None:
        self.layers: list[_Layer] = []
        self.base_services: dict[str, Any] = {}
        self.base_resources: dict[str, Any] = {}


_ACTIVE: weakref.WeakKeyDictionary[DataManager[Any, Any], _Overrides] = weakref.WeakKeyDictionary()


@contextmanager
def override(
    dm: DataManager[D, C],
    *,
    services: Mapping[str, Service[Any, Any]] | None = None,
    resources: Mapping[str, ResourceFactory[Any]] | None = None,
) -> Iterator[DataManager[D, C]]:
    """Replace services and resources of ``dm`` inside the block; restore them afterwards.

    A name that was not registered before is registered for the block and
    removed afterwards. Overrides nest, and may end in any order (pytest
    tears fixtures down in reverse order of set-up, which need not be the
    order the overrides began): when a block ends, each of its names goes
    back to the newest block still active for it, else to what was
    registered before the first. The replacement is global to ``dm``:
    requests served by a test client or a server thread in the block see it.
    """
    state = _ACTIVE.get(dm)
    if state is None:
        state = _ACTIVE[dm] = _Overrides()
    layer = _Layer(services or {}, resources or {})
    registered: dict[str, Service[Any, Any]] = _services(dm)
    for name in layer.services:
        if not any(name in active.services for active in state.layers):
            state.base_services[name] = registered.get(name, _MISSING)
    for name in layer.resources:
        if not any(name in active.resources for active in state.layers):
            state.base_resources[name] = dm.get_resource(name) or _MISSING
    state.layers.append(layer)
    try:
        for name, service in layer.services.items():
            dm.replace_service(name, service)
        for name, resource in layer.resources.items():
            dm.replace_resource(name, resource)
        yield dm
    finally:
        _end(dm, state, layer)


def _end(dm: DataManager[Any, Any], state: _Overrides, layer: _Layer) -> None:
    """Remove ``layer``; give each of its names the newest remaining replacement or the original."""
    state.layers = [active for active in state.layers if active is not layer]
    for name in layer.services:
        newer = [active.services[name] for active in state.layers if name in active.services]
        if newer:
            dm.replace_service(name, newer[-1])
            continue
        old_service = state.base_services.pop(name)
        if old_service is _MISSING:
            _remove_service(dm, name)
        else:
            dm.replace_service(name, old_service)
    for name in layer.resources:
        newer_resources = [a.resources[name] for a in state.layers if name in a.resources]
        if newer_resources:
            dm.replace_resource(name, newer_resources[-1])
            continue
        old_resource = state.base_resources.pop(name)
        if old_resource is _MISSING:
            _remove_resource(dm, name)
        else:
            dm.replace_resource(name, old_resource)


def _services(dm: DataManager[Any, Any]) -> dict[str, Service[Any, Any]]:
    services: dict[str, Service[Any, Any]] = dm._dal._services
    return services


def _remove_service(dm: DataManager[Any, Any], name: str) -> None:
    dal = dm._dal
    dal._services.pop(name, None)
    if name in type(dal).__dict__:
        delattr(type(dal), name)


def _remove_resource(dm: DataManager[Any, Any], name: str) -> None:
    dm._resource_manager._resources.pop(name, None)
    if name in dm.context_class.__dict__:
        delattr(dm.context_class, name)


class ResourceTracker:
    """Counts set-ups and teardowns of every resource of a DataManager.

    Use as a context manager (``with ResourceTracker(dm) as tracker:``); it
    wraps the registered resources for the block and restores them after.
    Thread-safe, so requests served in other threads are counted too.
    """

    def __init__(self, dm: DataManager[Any, Any]) -> None:
        self.dm = dm
        self.set_up: dict[str, int] = {}
        self.torn_down: dict[str, int] = {}
        self._open: dict[int, str] = {}
        self._lock = threading.Lock()
        self._override: Any = None

    def __enter__(self) -> ResourceTracker:
        names = list(self.dm._resource_manager.names())
        wrapped = {name: self._wrap(name, self.dm._resource_manager[name]) for name in names}
        self._override = override(self.dm, resources=wrapped)
        self._override.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._override.__exit__(None, None, None)

    def _opened(self, name: str, token: int) -> None:
        with self._lock:
            self.set_up[name] = self.set_up.get(name, 0) + 1
            self._open[token] = name

    def _closed(self, name: str, token: int) -> None:
        with self._lock:
            self.torn_down[name] = self.torn_down.get(name, 0) + 1
            self._open.pop(token, None)

    def _wrap(self, name: str, factory: ResourceFactory) -> ResourceFactory:
        tracker = self
        if is_async_generator(factory):

            async def tracked_async(ctx: DataAccessContext) -> AsyncGenerator[Any, None]:
                agen: Any = factory(ctx)
                try:
                    value = await agen.__anext__()
                except StopAsyncIteration:
                    return
                token = id(agen)
                tracker._opened(name, token)
                try:
                    try:
                        yield value
                    except GeneratorExit:
                        await agen.aclose()
                        raise
                    except BaseException as exc:
                        try:
                            extra = await agen.athrow(exc)
                        except StopAsyncIteration:
                            return
                        yield extra  # the context reports that it did not stop
                        return
                    async for extra in agen:
                        yield extra  # a second value: the context reports it
                finally:
                    tracker._closed(name, token)

            return tracked_async

        def tracked(ctx: DataAccessContext) -> Generator[Any, None, None]:
            gen: Any = factory(ctx)
            try:
                value = next(gen)
            except StopIteration:
                return
            token = id(gen)
            tracker._opened(name, token)
            try:
                try:
                    yield value
                except GeneratorExit:
                    gen.close()
                    raise
                except BaseException as exc:
                    try:
                        extra = gen.throw(exc)
                    except StopIteration:
                        return
                    yield extra  # the context reports that it did not stop
                    return
                yield from gen  # the original's teardown; a second value reaches the context
            finally:
                tracker._closed(name, token)

        return tracked

    def leaks(self) -> list[str]:
        """Describe what leaked: an active context, resources set up and not torn down."""
        found = []
        active = self.dm.get_active_context()
        if active is not None:
            found.append(f"a context is still active: {active!r}")
        with self._lock:
            still_open: dict[str, int] = {}
            for name in self._open.values():
                still_open[name] = still_open.get(name, 0) + 1
        for name, count in sorted(still_open.items()):
            found.append(
                f"resource {name!r}: set up {self.set_up.get(name, 0)} time(s), "
                f"torn down {self.torn_down.get(name, 0)}; {count} still open"
            )
        return found

    def assert_no_leaks(self) -> None:
        """Raise LeakError naming each leak (an active context, a resource never torn down)."""
        found = self.leaks()
        if found:
            raise LeakError("polydatum leaked:\n  " + "\n  ".join(found))
