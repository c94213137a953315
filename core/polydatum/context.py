"""The data access context: one unit of work's resources, middleware and meta."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Iterator, Mapping
from contextvars import Token
from types import AsyncGeneratorType, GeneratorType, TracebackType
from typing import TYPE_CHECKING, Any

from .errors import (
    MiddlewareSetupException,
    NoActiveContextError,
    ResourceException,
    ResourceSetupException,
)
from .util import describe

if TYPE_CHECKING:
    from typing import Self

    from .dal import DataAccessLayer, DataManager

__all__ = ["DataAccessContext", "Meta", "lazy"]

logger = logging.getLogger("polydatum")

_MISSING: Any = object()
_Gen = Generator[Any, None, None] | AsyncGenerator[Any, None]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]

# Context states
_CREATED, _SETUP, _ACTIVE, _EXITING, _EXITED = range(5)


class lazy:  # noqa: N801 - used like a function: meta={"user": lazy(load_user)}
    """A meta value computed on first read, then cached for the context.

    ``load`` is called with no arguments the first time the key is read.
    ``aload``, if given, is an async twin used by ``await meta.aget(key)``.
    """

    __slots__ = ("aload", "load")

    def __init__(
        self,
        load: Callable[[], Any],
        aload: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self.load = load
        self.aload = aload

    def __repr__(self) -> str:
        return f"<lazy {describe(self.load)}>"


class Meta:
    """Read-only data about a context (the request, the user).

    Keys read as attributes; a missing key reads as None. Values wrapped in
    :class:`lazy` are computed on first read and cached.
    """

    __slots__ = ("_values",)

    _values: dict[str, Any]

    def __init__(self, opts: Mapping[str, Any] | None = None) -> None:
        object.__setattr__(self, "_values", dict(opts) if opts else {})

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("Meta values can not be changed.")

    def __delattr__(self, key: str) -> None:
        raise AttributeError("Meta values can not be changed.")

    def __getattr__(self, key: str) -> Any:
        """Return the value for ``key``, or None when it is not set."""
        if key.startswith("__"):
            raise AttributeError(key)
        return self.get(key)

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value for ``key`` (computing a lazy one), or ``default``."""
        value = self._values.get(key, default)
        if type(value) is lazy:
            value = self._values[key] = value.load()
        return value

    async def aget(self, key: str, default: Any = None) -> Any:
        """Like :meth:`get`, but a lazy value with an async loader is awaited."""
        value = self._values.get(key, default)
        if type(value) is lazy:
            value = await value.aload() if value.aload is not None else value.load()
            self._values[key] = value
        return value

    def require(self, key: str) -> Any:
        """Return the value for ``key``; raise ValueError when it is missing or empty."""
        value = self.get(key)
        if not value:
            raise ValueError(f'"{key}" is empty.')
        return value

    def items(self) -> Iterator[tuple[str, Any]]:
        """Iterate over ``(key, value)`` pairs, computing lazy values."""
        for key in list(self._values):
            yield key, self.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __str__(self) -> str:
        return json.dumps(
            {k: (repr(v) if type(v) is lazy else v) for k, v in self._values.items()},
            indent=2,
            default=repr,
        )

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} {self}>"


def _finish_sync(gen: Generator[Any, None, None], exc: BaseException | None) -> bool:
    """Resume a set-up generator after the context; True if it suppressed ``exc``."""
    if exc is None:
        for _ in gen:
            gen.close()
            raise RuntimeError(f"{gen} yielded more than once.")
        return False
    try:
        gen.throw(exc)
    except StopIteration as stop:
        # Suppressed, unless a StopIteration raised in the context came back.
        return stop is not exc
    except BaseException as err:
        if err is not exc:
            raise
        return False
    gen.close()
    raise RuntimeError(f"{gen} did not stop after throw().")


async def _finish_async(gen: AsyncGenerator[Any, None], exc: BaseException | None) -> bool:
    """Async twin of :func:`_finish_sync`."""
    if exc is None:
        try:
            await gen.__anext__()
        except StopAsyncIteration:
            return False
        await gen.aclose()
        raise RuntimeError(f"{gen} yielded more than once.")
    try:
        await gen.athrow(exc)
    except StopAsyncIteration as stop:
        return stop is not exc
    except BaseException as err:
        if err is not exc:
            raise
        return False
    await gen.aclose()
    raise RuntimeError(f"{gen} did not stop after athrow().")


def _shield() -> Any:
    """A cancel scope that shields async cleanup, when anyio is in use."""
    anyio = sys.modules.get("anyio")
    return anyio.CancelScope(shield=True) if anyio is not None else None


class DataAccessContext:
    """One unit of work (a request, a job): its meta, middleware and resources.

    Lifecycle: enter (becomes the active context of its DataManager) ->
    middleware set up in registration order -> resources set up lazily on
    first access -> middleware torn down in reverse -> resources torn down
    newest first -> the previous context is active again. A context is used
    once, with ``with`` or ``async with``.
    """

    def __init__(self, data_manager: DataManager, meta: Mapping[str, Any] | Meta | None = None):
        """Create a context of ``data_manager``; ``meta`` is read-only data about it."""
        self.data_manager = data_manager
        self.dal: DataAccessLayer = data_manager.get_dal()
        self.meta: Meta = meta if isinstance(meta, Meta) else Meta(meta)
        self._resources: dict[str, Any] = {}
        self._resource_generators: dict[str, _Gen] = {}
        self._middleware_generators: list[tuple[Any, _Gen]] = []
        self._resource_exit_errors: list[ExcInfo] = []
        self._state = _CREATED
        self._async = False
        self._token: Token[DataAccessContext | None] | None = None

    # -- resources ---------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        """Return the resource ``name``, setting it up on first access."""
        if name.startswith("__"):
            raise AttributeError(name)
        # .get, not try/except KeyError: a miss is the usual case (first use in a context).
        value = self._resources.get(name, _MISSING)
        if value is not _MISSING:
            return value
        gen = self._open_resource(name)
        if type(gen) is not GeneratorType:
            self._resource_generators.pop(name, None)
            if self._async:
                msg = f"Resource {name!r} is async; get it with `await ctx.aget({name!r})` first."
            else:
                msg = (
                    f"Resource {name!r} is async (an async generator); open the context with "
                    f"`async with dm.context()` and get it with `await ctx.aget({name!r})`."
                )
            raise ResourceSetupException(msg)
        value = next(gen, _MISSING)
        if value is _MISSING:
            del self._resource_generators[name]
            raise ResourceSetupException(f"Resource {name!r} did not yield on setup.")
        self._resources[name] = value
        return value

    async def aget(self, name: str) -> Any:
        """Return the resource ``name``, setting it up (sync or async) on first access."""
        if name in self._resources:
            return self._resources[name]
        gen = self._open_resource(name)
        if type(gen) is GeneratorType:
            value = next(gen, _MISSING)
        else:
            try:
                value = await gen.__anext__()  # type: ignore[union-attr]
            except StopAsyncIteration:
                value = _MISSING
        if value is _MISSING:
            del self._resource_generators[name]
            raise ResourceSetupException(f"Resource {name!r} did not yield on setup.")
        self._resources[name] = value
        return value

    def _open_resource(self, name: str) -> _Gen:
        state = self._state
        if state != _ACTIVE and state != _SETUP:
            if state == _EXITING:
                raise ResourceException(
                    f"Resource {name!r} was not set up during the context; resources can "
                    "not be created while the context closes (check `name in ctx` first)."
                )
            raise NoActiveContextError(
                f"Resource {name!r} can only be used while its context is active."
            )
        factory = self.data_manager.get_resource(name)
        if factory is None:
            names = ", ".join(sorted(self.data_manager._resource_manager.names())) or "none"
            raise AttributeError(
                f"No resource named {name!r} for this context; registered resources: {names}."
            )
        gen = factory(self)
        self._resource_generators[name] = gen
        return gen

    def __contains__(self, name: object) -> bool:
        """Return True when the resource ``name`` has been set up in this context."""
        return name in self._resources

    def get_resource_exit_errors(self) -> list[ExcInfo]:
        """Return ``(type, value, traceback)`` of each error raised by a resource's teardown."""
        return self._resource_exit_errors

    # -- activation --------------------------------------------------------

    def _activate(self) -> Token[DataAccessContext | None]:
        """Make this context the active one; pass the token to :meth:`_deactivate`."""
        return self.data_manager._context_var.set(self)

    def _deactivate(self, token: Token[DataAccessContext | None]) -> None:
        var = self.data_manager._context_var
        try:
            var.reset(token)
        except ValueError:
            # Closed from another contextvars.Context (another thread or task):
            # the token is foreign there, so restore by value instead.
            if var.get(None) is self:
                var.set(token.old_value if token.old_value is not Token.MISSING else None)

    def _detach(self) -> None:
        """Stop being the active context without closing (e.g. while a body streams)."""
        if self._token is not None:
            token, self._token = self._token, None
            self._deactivate(token)

    # -- sync lifecycle ----------------------------------------------------

    def __enter__(self) -> Self:
        if self._state != _CREATED:
            raise RuntimeError("A DataAccessContext may only be used once.")
        self._state = _SETUP
        self._token = self.data_manager._context_var.set(self)
        try:
            generators = self._middleware_generators
            for middleware in self.data_manager.get_middleware(self):
                gen = middleware(self)
                if type(gen) is not GeneratorType:
                    raise MiddlewareSetupException(
                        f"Middleware {describe(middleware)} is async; open the context with "
                        "`async with dm.context()` to use it."
                    )
                if next(gen, _MISSING) is _MISSING:
                    raise MiddlewareSetupException(
                        f"Middleware {describe(middleware)} did not yield on setup."
                    )
                generators.append((middleware, gen))
        except BaseException:
            if not self.__exit__(*sys.exc_info()):
                raise
        self._state = _ACTIVE
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> bool:
        """Tear down middleware, then resources; return True if the exception was suppressed.

        Middleware sees the in-context exception and may suppress or replace
        it; an error it raises propagates. Resource teardown errors are
        collected, logged and never propagate.
        """
        if self._state != _ACTIVE and self._state != _SETUP:
            raise RuntimeError("A DataAccessContext must be active to exit it.")
        if self._async:
            raise RuntimeError("This context was opened with `async with`; close it the same way.")
        if exc_type is not None and exc_value is None:
            exc_value = exc_type()
        original = exc_value
        self._state = _EXITING
        if self._token is None:
            self._token = self.data_manager._context_var.set(self)
        try:
            generators = self._middleware_generators
            while generators:
                gen = generators.pop()[1]
                try:
                    if _finish_sync(gen, exc_value):  # type: ignore[arg-type]
                        exc_value = None
                except BaseException as err:
                    exc_value = err
            resources = self._resource_generators
            while resources:
                name, rgen = resources.popitem()
                try:
                    _finish_sync(rgen, exc_value)  # type: ignore[arg-type]
                except BaseException:
                    self._resource_failed(name)
        finally:
            self._state = _EXITED
            token, self._token = self._token, None
            self._deactivate(token)
        if exc_value is None:
            return original is not None
        if exc_value is original:
            return False
        raise exc_value

    def _resource_failed(self, name: str) -> None:
        info: Any = sys.exc_info()
        self._resource_exit_errors.append(info)
        logger.error("Resource %r raised while tearing down", name, exc_info=info)

    # -- async lifecycle ---------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._state != _CREATED:
            raise RuntimeError("A DataAccessContext may only be used once.")
        self._state = _SETUP
        self._async = True
        self._token = self.data_manager._context_var.set(self)
        try:
            generators = self._middleware_generators
            for middleware in self.data_manager.get_middleware(self):
                gen = middleware(self)
                if type(gen) is GeneratorType:
                    value = next(gen, _MISSING)
                elif type(gen) is AsyncGeneratorType:
                    try:
                        value = await gen.__anext__()
                    except StopAsyncIteration:
                        value = _MISSING
                else:
                    raise MiddlewareSetupException(
                        f"Middleware {describe(middleware)} returned {type(gen).__name__}, "
                        "not a generator."
                    )
                if value is _MISSING:
                    raise MiddlewareSetupException(
                        f"Middleware {describe(middleware)} did not yield on setup."
                    )
                generators.append((middleware, gen))
        except BaseException:
            if not await self.__aexit__(*sys.exc_info()):
                raise
        self._state = _ACTIVE
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> bool:
        """Async twin of ``__exit__``; cleanup survives cancellation of the task."""
        if self._state != _ACTIVE and self._state != _SETUP:
            raise RuntimeError("A DataAccessContext must be active to exit it.")
        if exc_type is not None and exc_value is None:
            exc_value = exc_type()
        original = exc_value
        self._state = _EXITING
        if self._token is None:
            self._token = self.data_manager._context_var.set(self)
        cancelled: BaseException | None = None
        try:
            needs_await = any(
                type(g) is AsyncGeneratorType for _, g in self._middleware_generators
            ) or any(type(g) is AsyncGeneratorType for g in self._resource_generators.values())
            scope = _shield() if needs_await else None
            if scope is not None:
                with scope:
                    exc_value, cancelled = await self._ateardown(exc_value)
            else:
                exc_value, cancelled = await self._ateardown(exc_value)
        finally:
            self._state = _EXITED
            token, self._token = self._token, None
            self._deactivate(token)
        if exc_value is None:
            if cancelled is not None:
                raise cancelled
            return original is not None
        if exc_value is original:
            return False
        raise exc_value

    async def _ateardown(
        self, exc_value: BaseException | None
    ) -> tuple[BaseException | None, BaseException | None]:
        """Run every teardown step; return the final exception and any cancellation seen."""
        cancelled: BaseException | None = None
        generators = self._middleware_generators
        while generators:
            gen = generators.pop()[1]
            try:
                if type(gen) is GeneratorType:
                    suppressed = _finish_sync(gen, exc_value)
                else:
                    suppressed = await _finish_async(gen, exc_value)  # type: ignore[arg-type]
                if suppressed:
                    exc_value = None
            except asyncio.CancelledError as err:
                # The task was cancelled during cleanup: finish the cleanup, then re-raise.
                cancelled = err
            except BaseException as err:
                exc_value = err
        resources = self._resource_generators
        while resources:
            name, rgen = resources.popitem()
            try:
                if type(rgen) is GeneratorType:
                    _finish_sync(rgen, exc_value)
                else:
                    await _finish_async(rgen, exc_value)  # type: ignore[arg-type]
            except asyncio.CancelledError as err:
                if err is not exc_value:
                    cancelled = err
            except BaseException:
                self._resource_failed(name)
        return exc_value, cancelled

    def __repr__(self) -> str:
        states = ("created", "setup", "active", "exiting", "exited")
        return f"<{type(self).__name__} {states[self._state]} meta={self.meta!r}>"
