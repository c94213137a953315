"""The data access context: one unit of work's resources, middleware and meta."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Mapping
from contextvars import Token
from types import AsyncGeneratorType, GeneratorType, GenericAlias, TracebackType
from typing import TYPE_CHECKING, Any, Literal, get_origin, overload

from ._steps import (
    _AACTIVE,
    _ACTIVE,
    _CREATED,
    _EXITED,
    _EXITING,
    _MISSING,
    _STATE_NAMES,
    _entered_shield,
    _finish_async,
    _finish_sync,
    _Gen,
    _twice,
)
from ._types import D, Generic, T, U
from .errors import (
    MiddlewareSetupException,
    NoActiveContextError,
    ResourceException,
    ResourceSetupException,
)
from .util import describe

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Self

    from .dal import DataManager, Middleware

__all__ = ["Context", "DataAccessContext", "Meta", "lazy"]

from .meta import Meta, as_meta, lazy

logger = logging.getLogger("polydatum")

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class ResourceAttribute:
    """Sets up a registered resource on first attribute access of a context.

    DataManagers install one per resource name on their own context class;
    once set up, the value sits in the context's ``__dict__`` (which takes
    precedence over this non-data descriptor), so later reads are plain lookups.
    """

    __slots__ = ("factory", "name")

    def __init__(self, name: str, factory: Any) -> None:
        self.name = name
        self.factory = factory

    def __get__(self, ctx: DataAccessContext | None, owner: type | None = None) -> Any:
        if ctx is None:
            return self
        # _open_resource raises: the context is not live.
        gen = self.factory(ctx) if ctx._state >= _ACTIVE else ctx._open_resource(self.name)
        try:
            # A for loop starts a generator for less than next() does.
            for value in gen:  # type: ignore[union-attr]  # noqa: B007 - the first value only
                break
            else:
                raise ResourceSetupException(f"Resource {self.name!r} did not yield on setup.")
        except TypeError:
            if type(gen) is GeneratorType:
                raise  # raised by the resource itself
            raise _async_resource(ctx, self.name) from None
        name = self.name
        ctx._resource_generators[name] = gen
        # setattr keeps CPython's compact instance values (``__dict__`` would build a dict).
        setattr(ctx, name, value)
        return value


def _of_kind(name: str, value: Any, kind: type[Any]) -> Any:
    """``value``, the resource ``name``, once it is checked to be a ``kind``."""
    if not isinstance(value, get_origin(kind) or kind):
        raise TypeError(
            f"Resource {name!r} is {describe(value)}, not an instance of {kind.__qualname__}: "
            f"ask for its own type, or register a resource that yields one."
        )
    return value


def _async_resource(ctx: DataAccessContext, name: str) -> ResourceSetupException:
    """The error for an async resource read as an attribute."""
    if getattr(ctx, "_async", False):
        msg = f"Resource {name!r} is async; get it with `await ctx.aget({name!r})` first."
    else:
        msg = (
            f"Resource {name!r} is async (an async generator); open the context with "
            f"`async with dm.context()` and get it with `await ctx.aget({name!r})`."
        )
    return ResourceSetupException(msg)


class Context(Generic[D, U]):
    """What every context offers: declare an app's resources on a subclass.

    ``class Ctx(Context["Dal", User]): db: sqlite3.Connection`` says that
    ``ctx.db`` is a connection, ``ctx.dal`` a ``Dal`` and ``ctx.meta.user``
    a ``User``; ``DataManager(context_class=Ctx)`` makes its contexts of
    that class. Unlike :class:`DataAccessContext`, a resource that is not
    declared is a type error, not ``Any``. A declaration only: every context
    is built by a DataManager and is also a ``DataAccessContext``, which
    implements what is declared here.
    """

    __slots__ = ()

    if not TYPE_CHECKING:
        # ``Context[...]`` at run time (in a base class list, say), without typing.Generic.
        __class_getitem__ = classmethod(GenericAlias)

    if TYPE_CHECKING:
        #: The DataManager that made this context.
        data_manager: DataManager[D, Any]
        #: Read-only data about the context; ``meta.user`` is a ``U``.
        meta: Meta[U]
        #: The DAL of the DataManager (services, while the context is active).
        dal: D

        @overload
        async def aget(self, name: str) -> Any: ...
        @overload
        async def aget(self, name: str, kind: type[T]) -> T: ...
        async def aget(self, name: str, kind: type[Any] | None = None) -> Any:
            """Return the resource ``name``, setting it up (sync or async) on first access.

            With ``kind`` (``await ctx.aget("db", AsyncConnection)``) the resource
            is that type for type checkers, and checked to be one.
            """

        def __contains__(self, name: object) -> bool:
            """Return True when the resource ``name`` is set up (and not yet torn down)."""

        def get_resource_exit_errors(self) -> list[ExcInfo]:
            """Return ``(type, value, traceback)`` of each error raised by a resource's teardown."""

        def __enter__(self) -> Self: ...

        def __exit__(
            self,
            exc_type: type[BaseException] | None = None,
            exc_value: BaseException | None = None,
            traceback: TracebackType | None = None,
        ) -> Literal[False]: ...

        async def __aenter__(self) -> Self: ...

        async def __aexit__(
            self,
            exc_type: type[BaseException] | None = None,
            exc_value: BaseException | None = None,
            traceback: TracebackType | None = None,
        ) -> Literal[False]: ...


class DataAccessContext(Context[D, U]):
    """One unit of work (a request, a job): its meta, middleware and resources.

    Lifecycle: enter (becomes the active context of its DataManager) ->
    middleware set up in registration order -> resources set up lazily on
    first access -> middleware torn down in reverse -> resources torn down
    newest first -> the previous context is active again. A context is used
    once, with ``with`` or ``async with``.
    """

    # Slots make the per-request attribute writes cheap; set-up resources are
    # cached in __dict__ so reading one again is a plain attribute lookup.
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_async",
        "_middleware_generators",
        "_resource_generators",
        "_state",
        "_token",
        "dal",
        "data_manager",
        "meta",
    )

    #: ``_async``: True for a context opened with ``async with`` (set then only).
    #: ``_state``: _CREATED, then _ACTIVE; _AACTIVE once an async generator
    #: (middleware or resource) is set up: only then must closing await.
    #: ``_token``, ``_resource_generators`` and ``_middleware_generators`` are
    #: set on entering. DataManager.context() builds contexts without calling
    #: __init__ (a Python call less per request): it sets what __init__ sets.

    _state: int
    _async: bool
    _token: Token[DataAccessContext | None] | None
    _resource_generators: dict[str, _Gen]
    _middleware_generators: list[_Gen]

    def __init__(
        self, data_manager: DataManager[D, Any], meta: Mapping[str, object] | Meta | None = None
    ):
        """Create a context of ``data_manager``; ``meta`` is read-only data about it."""
        own = data_manager.context_class
        if type(self) is not own and issubclass(own, type(self)):
            # Built directly (``DataAccessContext(dm)``): become the DataManager's
            # own class, where its resources are attributes.
            self.__class__ = own
        self.data_manager = data_manager
        self.dal = data_manager._dal
        self.meta = as_meta(meta)
        self._state = _CREATED

    # -- resources ---------------------------------------------------------
    # Each registered resource is an attribute of the DataManager's own context
    # class (a ResourceAttribute), so ``ctx.db`` sets it up on first access.
    # There is deliberately no __getattr__: in CPython it would slow down every
    # attribute read of a context. An unknown name raises Python's own
    # AttributeError (with its "Did you mean" hint); ``aget`` lists the names.

    if TYPE_CHECKING:
        # For type checkers only: resources are attributes made at registration.
        def __getattr__(self, name: str) -> Any: ...

    @overload
    async def aget(self, name: str) -> Any: ...
    @overload
    async def aget(self, name: str, kind: type[T]) -> T: ...
    async def aget(self, name: str, kind: type[Any] | None = None) -> Any:
        """Return the resource ``name``, setting it up (sync or async) on first access.

        With ``kind`` (``await ctx.aget("db", AsyncConnection)``) the resource is
        that type for type checkers, and checked to be one.

        Raises:
            TypeError: the resource is not a ``kind``.
        """
        if kind is not None:
            return _of_kind(name, await self.aget(name), kind)
        factory = None
        state = self._state
        if state != _CREATED and name in self._resource_generators:
            return getattr(self, name)
        if state >= _ACTIVE:
            factory = self.data_manager._resource_manager._resources.get(name)
        gen = factory(self) if factory is not None else self._open_resource(name)
        if type(gen) is GeneratorType:
            value = next(gen, _MISSING)
        else:
            value = _MISSING
            async for value in gen:  # type: ignore[union-attr]  # noqa: B007
                break
            if value is not _MISSING:
                self._state = _AACTIVE  # set up: closing must now await it
        if value is _MISSING:
            raise ResourceSetupException(f"Resource {name!r} did not yield on setup.")
        self._resource_generators[name] = gen
        setattr(self, name, value)
        return value

    def _open_resource(self, name: str) -> _Gen:
        state = self._state
        if state < _ACTIVE:
            if state == _EXITING:
                raise ResourceException(
                    f"Resource {name!r} was not set up during the context; resources can "
                    "not be created while the context closes (check `name in ctx` first)."
                )
            raise NoActiveContextError(
                f"Resource {name!r} can only be used while its context is active."
            )
        factory = self.data_manager._resource_manager._resources.get(name)
        if factory is None:
            names = ", ".join(sorted(self.data_manager._resource_manager.names())) or "none"
            raise AttributeError(
                f"No resource named {name!r} for this context; registered resources: {names}."
            )
        return factory(self)

    def __contains__(self, name: object) -> bool:
        """Return True when the resource ``name`` is set up (and not yet torn down)."""
        return self._state != _CREATED and name in self._resource_generators

    def get_resource_exit_errors(self) -> list[ExcInfo]:
        """Return ``(type, value, traceback)`` of each error raised by a resource's teardown."""
        errors: list[ExcInfo] = self.__dict__.setdefault("_resource_exit_errors", [])
        return errors

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

    def _leave_out_of_order(self, token: Token[DataAccessContext | None]) -> None:
        """Stop being active while contexts entered after this one are still open.

        They stay active, newest on top; when the last of them exits, what was
        active before this context is active again (never this closed one).
        Does nothing when this context is not active here (closed from
        another contextvars.Context, where it was never set).
        """
        var = self.data_manager._context_var
        newer: list[DataAccessContext] = []
        ctx = var.get()
        while isinstance(ctx, DataAccessContext) and ctx is not self:
            newer.append(ctx)
            ctx_token = ctx._token if ctx._state != _CREATED else None
            ctx = ctx_token.old_value if ctx_token is not None else None
        if ctx is not self:
            return
        try:
            var.reset(token)
        except ValueError:
            return
        for ctx in reversed(newer):
            ctx._token = var.set(ctx)

    def _detach(self) -> None:
        """Stop being the active context without closing (e.g. while a body streams)."""
        if self._state >= _ACTIVE and self._token is not None:
            token, self._token = self._token, None
            self._deactivate(token)

    def _begin_exit(self) -> None:
        if self._state < _ACTIVE:
            raise RuntimeError("A DataAccessContext must be active to exit it.")
        self._state = _EXITING
        if self._token is None:
            # Detached while a body streamed: be active again while closing.
            self._token = self.data_manager._context_var.set(self)

    # -- sync lifecycle ----------------------------------------------------

    def __enter__(self) -> Self:
        if self._state != _CREATED:
            raise RuntimeError("A DataAccessContext may only be used once.")
        # Active from the start: middleware may set resources up while it sets up.
        self._state = _ACTIVE
        dm = self.data_manager
        self._resource_generators = {}
        self._token = dm._context_var.set(self)
        try:
            chain: Sequence[Middleware[Any]] | None = dm._chain
            if chain is None:
                self._middleware_generators = _NO_GENERATORS
                chain = dm.get_middleware(self)
            if chain:
                self._middleware_generators = generators = []
                for middleware in chain:
                    gen = middleware(self)
                    try:
                        # A for loop starts a generator for less than next() does.
                        for _ in gen:
                            break
                        else:
                            raise _no_yield(middleware)
                    except TypeError:
                        if type(gen) is GeneratorType:
                            raise  # raised by the middleware itself
                        raise MiddlewareSetupException(
                            f"Middleware {describe(middleware)} is async; open the context "
                            "with `async with dm.context()` to use it."
                        ) from None
                    generators.append(gen)
            else:
                self._middleware_generators = _NO_GENERATORS
        except BaseException:
            if not self.__exit__(*sys.exc_info()):
                raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> Literal[False]:
        """Tear down middleware, then resources; return False (the exception is never suppressed).

        Middleware sees the in-context exception and may replace it (an error
        it raises propagates) or handle it (return): the middleware before it
        and the resources then see a clean end, and the caller still gets the
        exception, as in polydatum 0.9. Resource teardown errors are
        collected, logged and never propagate.
        """
        if self._state != _ACTIVE or self._token is None:
            if self._state == _AACTIVE:
                return self._close_async_parts(exc_type, exc_value, traceback)
            self._begin_exit()
        self._state = _EXITING
        if exc_type is not None and exc_value is None:
            exc_value = exc_type()
        original = exc_value
        try:
            generators = self._middleware_generators
            while generators:
                gen: Any = generators.pop()
                try:
                    if exc_value is None:
                        for _ in gen:
                            raise _twice(gen)
                    elif _finish_sync(gen, exc_value):
                        exc_value = None
                except BaseException as err:
                    exc_value = err
            resources = self._resource_generators
            while resources:
                name, rgen = resources.popitem()
                delattr(self, name)
                try:
                    if exc_value is None:
                        for _ in rgen:  # type: ignore[union-attr]
                            raise _twice(rgen)  # type: ignore[arg-type]
                    else:
                        _finish_sync(rgen, exc_value)  # type: ignore[arg-type]
                except BaseException:
                    self._resource_failed(name)
        finally:
            self._state = _EXITED
            token = self._token
            var = self.data_manager._context_var
            if var.get() is self:
                try:
                    var.reset(token)  # type: ignore[arg-type]
                except ValueError:
                    self._deactivate(token)  # type: ignore[arg-type]
            else:
                self._leave_out_of_order(token)  # type: ignore[arg-type]
        # An exception middleware swallowed still reaches the caller, as in polydatum 0.9;
        # later middleware and the resources saw a clean end.
        if exc_value is None or exc_value is original:
            return False
        raise exc_value

    def _close_async_parts(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> Literal[False]:
        """Close with ``__exit__`` a context that set up async parts: in a fresh event loop.

        This happens when sync code opened the context and an async view set
        up an async resource in a loop of its own (Django under WSGI, say).
        Inside a running event loop, ``async with`` is the only way.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(
                "This context set up async middleware or resources; close it with "
                "`async with` (or `await ctx.__aexit__(...)`)."
            )
        # The fresh loop runs in a copy of this contextvars.Context: stop being
        # active here first; closing makes the context active in the copy.
        self._detach()
        return asyncio.run(self.__aexit__(exc_type, exc_value, traceback))

    def _resource_failed(self, name: str) -> None:
        info: Any = sys.exc_info()
        self.get_resource_exit_errors().append(info)
        logger.error("Resource %r raised while tearing down", name, exc_info=info)

    # -- async lifecycle ---------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._state != _CREATED:
            raise RuntimeError("A DataAccessContext may only be used once.")
        self._state = _ACTIVE
        self._async = True
        dm = self.data_manager
        self._resource_generators = {}
        self._middleware_generators = _NO_GENERATORS
        self._token = dm._context_var.set(self)
        try:
            if dm._chain is not None:
                chain = dm._achain
            else:
                # A middleware usable in both kinds of context may carry an async
                # twin: `async with` contexts call its `acall` instead.
                chain = [getattr(m, "acall", m) for m in dm.get_middleware(self)]
            if chain:
                self._middleware_generators = generators = []
                for middleware in chain:
                    gen = middleware(self)
                    if type(gen) is GeneratorType:
                        if next(gen, _MISSING) is _MISSING:
                            raise _no_yield(middleware)
                    elif type(gen) is AsyncGeneratorType:
                        value = _MISSING
                        async for value in gen:  # noqa: B007 - take the first value only
                            break
                        if value is _MISSING:
                            raise _no_yield(middleware)
                        self._state = _AACTIVE  # set up: closing must now await it
                    else:
                        raise MiddlewareSetupException(
                            f"Middleware {describe(_owner(middleware))} returned "
                            f"{type(gen).__name__}, not a generator."
                        )
                    generators.append(gen)
        except BaseException:
            if not await self.__aexit__(*sys.exc_info()):
                raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> Literal[False]:
        """Async twin of ``__exit__``; cleanup survives cancellation of the task.

        When the context ends by cancellation, or a cancellation arrives while
        it closes, the rest of the cleanup runs shielded (with anyio) and the
        cancellation is raised once every step ran.
        """
        if self._state != _AACTIVE:
            # Nothing async was set up: close the sync way, without awaiting.
            return self.__exit__(exc_type, exc_value, traceback)
        self._begin_exit()
        if exc_type is not None and exc_value is None:
            exc_value = exc_type()
        original = exc_value
        cancelled: BaseException | None = None
        scope = None
        if exc_value is not None and isinstance(exc_value, asyncio.CancelledError):
            scope = _entered_shield()
        try:
            generators = self._middleware_generators
            while generators:
                gen: Any = generators.pop()
                try:
                    if type(gen) is GeneratorType:
                        if exc_value is None:
                            for _ in gen:
                                raise _twice(gen)
                        elif _finish_sync(gen, exc_value):
                            exc_value = None
                    elif exc_value is None:
                        async for _ in gen:
                            await gen.aclose()
                            raise RuntimeError(f"{gen} yielded more than once.")
                    elif await _finish_async(gen, exc_value):
                        exc_value = None
                except asyncio.CancelledError as err:
                    cancelled = err
                    if scope is None:
                        scope = _entered_shield()  # cancelled while closing: shield the rest
                except BaseException as err:
                    exc_value = err
            resources = self._resource_generators
            while resources:
                name, rgen = resources.popitem()
                delattr(self, name)
                try:
                    if type(rgen) is GeneratorType:
                        _finish_sync(rgen, exc_value)
                    elif exc_value is None:
                        async for _ in rgen:  # type: ignore[union-attr]
                            await rgen.aclose()  # type: ignore[union-attr]
                            raise RuntimeError(f"{rgen} yielded more than once.")
                    else:
                        await _finish_async(rgen, exc_value)  # type: ignore[arg-type]
                except asyncio.CancelledError as err:
                    if err is not exc_value:
                        cancelled = err
                        if scope is None:
                            scope = _entered_shield()
                except BaseException:
                    self._resource_failed(name)
        finally:
            if scope is not None:
                scope.__exit__(None, None, None)
            self._state = _EXITED
            token = self._token
            var = self.data_manager._context_var
            if var.get() is self:
                try:
                    var.reset(token)  # type: ignore[arg-type]
                except ValueError:
                    self._deactivate(token)  # type: ignore[arg-type]
            else:
                self._leave_out_of_order(token)  # type: ignore[arg-type]
        if exc_value is None:
            if cancelled is not None:
                raise cancelled
            return False  # swallowed by middleware: still the caller's, as in __exit__
        if exc_value is original:
            return False
        raise exc_value

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {_STATE_NAMES[self._state]} meta={self.meta!r}>"


#: The middleware generators of a context before any is set up: empty, never
#: appended to (contexts make a list of their own first), so one serves all.
_NO_GENERATORS: list[_Gen] = ()  # type: ignore[assignment]


def _owner(middleware: Any) -> Any:
    """The registered middleware behind ``middleware`` (an ``acall`` twin's object)."""
    return getattr(middleware, "__self__", middleware)


def _no_yield(middleware: Any) -> MiddlewareSetupException:
    return MiddlewareSetupException(
        f"Middleware {describe(_owner(middleware))} did not yield on setup."
    )
