"""The DataManager (the registry) and the DAL (the way in to services)."""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from types import GenericAlias, TracebackType
from typing import TYPE_CHECKING, Any

from ._declared import check_declared, missing_declarations
from ._steps import _CREATED
from ._types import CA, C, D, Generic
from .context import Context, DataAccessContext, Meta, ResourceAttribute
from .errors import (
    AlreadyExistsException,
    NoActiveContextError,
    RegistrationError,
    UnknownNameError,
)
from .meta import (
    _ContextMeta,
    _maker_for,
    _meta,
    _set_source,
    _sourced_class,
    as_meta,
    lazy,
    new_meta,
)
from .resources import ResourceFactory, ResourceManager, check_resource_name
from .services import Service, check_service
from .util import describe, is_async_generator, is_generator

if TYPE_CHECKING:
    from typing import Self

__all__ = ["DataAccessLayer", "DataManager", "Layer", "Middleware"]

#: Context middleware: called with the context, returns a generator (or an
#: async generator) that yields once; the context's exception is thrown in.
#: An object whose ``__call__`` is a generator may also define ``acall`` (an
#: async generator method): ``async with`` contexts call that twin instead.
Middleware = Callable[[CA], Any]

_ids = itertools.count(1)


class Layer:
    """What every DAL offers: declare an app's services on a subclass.

    ``class Dal(Layer): notes: Notes`` (sub-services declared the same way on
    their service classes) says that ``dal.notes`` is a ``Notes``;
    ``DataManager(dal_class=Dal)`` makes its DAL of that class, refuses a
    service of another type (or an undeclared name) and ``dm.check()``
    reports a declared one left unregistered. Unlike
    :class:`DataAccessLayer`, a service that is not declared is a type
    error, not ``Any``. A declaration only: every DAL is built by a
    DataManager and is also a ``DataAccessLayer``, which implements what is
    declared here.
    """

    __slots__ = ()

    if TYPE_CHECKING:

        def register_services(self, **services: Service[Any, Any]) -> Self:
            """Register services by name; each is set up with the DataManager."""

        def replace_service(self, key: str, service: Service[Any, Any]) -> Service[Any, Any]:
            """Register ``service`` under ``key``, replacing any service already there."""

        def __getitem__(self, path: str) -> Any:
            """Return a service, sub-service or method by dotted path: ``dal['notes.get']``."""

        def __contains__(self, name: object) -> bool:
            """Return True when a service ``name`` is registered."""

        #: The registered services, by name (polydatum's own bookkeeping).
        _services: dict[str, Service[Any, Any]]


class DataAccessLayer(Layer):
    """Gives access to a DataManager's services: ``dal.notes.create(...)``.

    Services are reachable only while a context of the DataManager is active.
    For type checkers every name reads as ``Any``: the DAL of a DataManager
    whose app declares nothing (see :class:`Layer` to declare it).
    """

    #: True for the DAL of an app that declares it (DataManager(dal_class=...)):
    #: it takes only the services its class declares.
    _declared = False

    def __init__(self, data_manager: DataManager[Any, Any]) -> None:
        self._services: dict[str, Service[Any, Any]] = {}
        self._data_manager = data_manager
        self._var = data_manager._context_var
        # Each DAL gets its own class so services can be properties on it.
        cls = type(self)
        if "_own_class" not in cls.__dict__:
            self.__class__ = type(cls.__name__, (cls,), {"_own_class": True})

    def register_services(self, **services: Service[Any, Any]) -> Self:
        """Register services by name; each is set up with the DataManager.

        Raises:
            AlreadyExistsException: a name is taken (use ``replace_service``).
            RegistrationError: a value is not a Service, or not what the DAL's
                class declares under that name.
        """
        for key, service in services.items():
            if key in self._services:
                raise AlreadyExistsException(
                    f"A service named {key!r} is already registered; "
                    f"use replace_service({key!r}, ...) to swap it on purpose."
                )
            self._init_service(key, service)
        return self

    def replace_service(self, key: str, service: Service[Any, Any]) -> Service[Any, Any]:
        """Register ``service`` under ``key``, replacing any service already there."""
        return self._init_service(key, service)

    def _init_service(self, key: str, service: Service[Any, Any]) -> Service[Any, Any]:
        check_service(key, service)
        check_declared(self, key, service, closed=self._declared)
        service.setup(self._data_manager)
        self._services[key] = service
        cls = type(self)
        current = cls.__dict__.get(key)
        if (current is None and not hasattr(DataAccessLayer, key)) or isinstance(
            current, _ServiceProperty
        ):
            setattr(cls, key, _service_property(self, key))
        return service

    if TYPE_CHECKING:
        # For type checkers only: services are attributes made at registration.
        def __getattr__(self, name: str) -> Any: ...

    else:

        def __getattr__(self, name: str) -> Any:
            # Reached only for a name that is not a registered service.
            if name[:2] == "__":
                raise AttributeError(name)
            raise self._unknown(name)

    def _unknown(self, name: str) -> UnknownNameError:
        names = ", ".join(sorted(self._services)) or "none"
        return UnknownNameError(
            f"No service named {name!r}; registered services: {names}. Register it with "
            f"dm.register_services({name}=...)."
        )

    def _no_context(self, name: str) -> None:
        raise NoActiveContextError(
            f"dal.{name} needs an active data context. Open one with "
            "`with dm.dal(meta=...) as dal:` (or `async with`), or use a web plugin "
            "that opens one per request."
        )

    def __getitem__(self, path: str) -> Any:
        """Return a service, sub-service or method by dotted path: ``dal['notes.get']``.

        A leading ``dal.`` is ignored.
        """
        parts = path.split(".")
        if parts[0] == "dal":
            parts.pop(0)
        name = parts.pop(0)
        if name not in self._services:
            raise self._unknown(name)
        loc: Any = getattr(self, name)
        for part in parts:
            try:
                loc = getattr(loc, part)
            except AttributeError:
                raise _unknown_part(loc, part, path) from None
        return loc

    def __contains__(self, name: object) -> bool:
        return name in self._services


def _unknown_part(owner: Any, part: str, path: str) -> UnknownNameError:
    """The error for ``part`` of the DAL path ``path``, which ``owner`` does not have."""
    subs = getattr(owner, "_services", None)
    listed = ""
    if isinstance(subs, dict):
        listed = f"; its sub-services: {', '.join(sorted(subs)) or 'none'}"
    return UnknownNameError(f"{describe(owner)} has no {part!r} (in {path!r}){listed}.")


def _service_property(dal: DataAccessLayer, name: str) -> property:
    # The DAL's class is its own, so the getter may hold its variable and service.
    var = dal._var
    service = dal._services[name]

    def get(dal: DataAccessLayer) -> Service[Any, Any]:
        if var.get() is None:
            dal._no_context(name)
        return service

    get.__name__ = name
    return _ServiceProperty(get, doc=f"The {name!r} service (needs an active context).")


class _ServiceProperty(property):
    """``dal.<name>``: the service registered as ``name``, made anew when it is replaced."""


class _DalScope(Generic[D]):
    """``dm.dal()``: a context that gives the DAL, with ``with`` or ``async with``."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: Context[D, Any]) -> None:
        self._ctx = ctx

    def __getattr__(self, name: str) -> Any:
        # Reached only for what a _DalScope does not have: a DAL's name, used without `with`.
        if name[:2] == "__":
            raise AttributeError(name)
        raise AttributeError(
            f"dm.dal() is not the DAL but a context that gives it: use "
            f"`with dm.dal() as dal:` (or `async with`), then `dal.{name}`."
        )

    def __enter__(self) -> D:
        return self._ctx.__enter__().dal

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Never suppresses (the context returns False or raises): None says so to type
        # checkers, so a `return` inside `with dm.dal() as dal:` ends the function.
        self._ctx.__exit__(exc_type, exc_value, traceback)

    async def __aenter__(self) -> D:
        return (await self._ctx.__aenter__()).dal

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._ctx.__aexit__(exc_type, exc_value, traceback)


class DataManager(Generic[D, C]):
    """The registry of services, resources and context middleware; one per process.

    Each DataManager tracks its own active context in a ContextVar, so
    threads, asyncio tasks and two DataManagers never see each other's
    contexts.

    Args:
        resource_manager: the registry of resources (default: a new one).
        dal_class: the app's DAL, a :class:`Layer` subclass declaring its
            services (``notes: Notes``): ``dm.dal()`` gives one, and
            registering a service of another type, or under a name it does
            not declare, raises ``RegistrationError``.
        context_class: the app's context, a :class:`Context` subclass
            declaring its resources (``db: Connection``), which ``context()``
            instantiates.

    With both, the DataManager is a ``DataManager[Dal, Ctx]`` for type
    checkers; without, ``dal.<name>`` and ``ctx.<name>`` are ``Any``.

    Raises:
        TypeError: ``dal_class`` is not a Layer subclass, or
            ``context_class`` not a Context subclass.
    """

    if not TYPE_CHECKING:
        # ``DataManager[...]`` at run time (in a base class list, say), without typing.Generic.
        __class_getitem__ = classmethod(GenericAlias)

    #: The class ``context()`` instantiates; override to customise contexts. Each
    #: DataManager replaces it with a subclass of its own (its resources are
    #: attributes there), which ``context()`` alone instantiates.
    context_class: type[DataAccessContext[Any, Any]] = DataAccessContext

    def __init__(
        self,
        resource_manager: ResourceManager | None = None,
        *,
        dal_class: type[D] | None = None,
        context_class: type[C] | None = None,
    ) -> None:
        self._resource_manager = resource_manager or ResourceManager(self)
        self._middleware: list[Middleware[Any]] = []
        # Whether a registered middleware is async (contexts then open awaiting).
        self._async_chain = False
        self._achain: list[Middleware[Any]] = []
        # What contexts set up: the registered middleware, unless a subclass
        # overrides get_middleware() (None: contexts call it then).
        self._chain: list[Middleware[Any]] | None = self._middleware
        if type(self).get_middleware is not DataManager.get_middleware:
            self._chain = None
        self._context_var: ContextVar[DataAccessContext[Any, Any] | None] = ContextVar(
            f"polydatum_context_{next(_ids)}", default=None
        )
        self._dal: D = _declared_dal(dal_class)(self)
        # A context class of this DataManager's own, where each registered
        # resource is an attribute that sets it up on first access.
        bases = _context_bases(context_class) if context_class else (self.context_class,)
        base = bases[0]
        # context() makes its contexts with a plain call of this class, which sets
        # nothing (object's __init__) and then sets what DataAccessContext.__init__
        # would: a Python call less per request. Only when the class has no
        # __init__ or __new__ of its own; DataAccessContext(dm, meta) still works.
        plain = base.__init__ is DataAccessContext.__init__ and base.__new__ is object.__new__
        namespace: dict[str, Any] = {"__slots__": ()}
        if plain:
            namespace["__init__"] = object.__init__
        self.context_class = type(base.__name__, bases, namespace)
        for name in self._resource_manager.names():
            self._add_resource_attribute(name)
        # Resources registered on the registry later get their attribute too.
        users = self._resource_manager.__dict__.setdefault("_users", weakref.WeakSet())
        users.add(self)
        self._plain_context: Callable[[], Any] | None = self.context_class if plain else None
        # The loaders mapping context(loaders=...) was last given, and what builds its Metas.
        # One tuple, replaced whole: threads with different mappings never see a mixed pair.
        self._last_loaders: tuple[Mapping[str, Any] | None, Callable[..., Meta]] = (
            None,
            _ContextMeta,
        )

    def register_context_middleware(self, *middleware: Middleware[C]) -> None:
        """Add context middleware, in order of execution.

        Raises:
            AlreadyExistsException: the same middleware is registered already.
            RegistrationError: one is not a generator callable.
        """
        for m in middleware:
            if not is_generator(m):
                raise RegistrationError(
                    f"Context middleware must be a generator function (or an async generator "
                    f"function) taking the context and yielding once; got {describe(m)}."
                )
            if m in self._middleware:
                raise AlreadyExistsException(f"Middleware {describe(m)} is already registered.")
        self._middleware.extend(middleware)
        self._async_chain = any(
            is_async_generator(m) or hasattr(m, "acall") for m in self._middleware
        )
        # What `async with` contexts call: a middleware's async twin if it has one.
        self._achain[:] = [getattr(m, "acall", m) for m in self._middleware]

    def get_middleware(self, context: C) -> Sequence[Middleware[C]]:
        """Return the middleware for ``context`` in order of execution (override to vary it)."""
        return self._middleware

    def register_resources(self, **resources: ResourceFactory[C]) -> None:
        """Register resources by name (see ResourceManager.register_resources)."""
        self._resource_manager.register_resources(**resources)

    def replace_resource(self, key: str, resource: ResourceFactory[C]) -> None:
        """Replace the resource registered as ``key``."""
        self._resource_manager.replace_resource(key, resource)

    def _add_resource_attribute(self, name: str) -> None:
        """Make ``ctx.<name>`` set up the resource ``name`` (the ResourceManager calls this)."""
        cls = self.context_class
        current = cls.__dict__.get(name)
        if not (isinstance(current, ResourceAttribute) or not hasattr(cls, name)):
            check_resource_name(name, [self])  # raises: the context class has that name
        setattr(cls, name, ResourceAttribute(name, self._resource_manager[name]))

    def register_services(self, **services: Service[Any, Any]) -> None:
        """Register services with the DAL (see DataAccessLayer.register_services)."""
        self._dal.register_services(**services)

    def replace_service(self, key: str, service: Service[Any, Any]) -> None:
        """Replace the service registered as ``key``."""
        self._dal.replace_service(key, service)

    def get_resource(self, name: str) -> ResourceFactory[Any] | None:
        """Return the resource registered as ``name``, or None."""
        return self._resource_manager.get(name)

    def resource_names(self) -> list[str]:
        """Return the names of the registered resources, in order of registration."""
        return list(self._resource_manager.names())

    def get_service(self, name: str) -> Service[Any, Any] | None:
        """Return the (top-level) service registered as ``name``, or None; needs no context."""
        return self._dal._services.get(name)

    def service_names(self) -> list[str]:
        """Return the names of the registered (top-level) services, in order of registration."""
        return list(self._dal._services)

    def check(self) -> None:
        """Check that everything the declared classes promise is registered.

        The DAL's class (``dal_class``) declares services, services declare
        sub-services (annotations of a Service type) and the context class
        (``context_class``) declares resources. The web plugins call this
        when they are set up, so a declared name left unregistered fails at
        start-up rather than on the first request that uses it.

        Raises:
            RegistrationError: something declared is not registered; the
                message lists each one and how to register it.
        """
        missing = missing_declarations(self)
        if missing:
            lines = "".join(f"\n  - {line}" for line in missing)
            raise RegistrationError(f"Declared but not registered:{lines}")

    def get_dal(self) -> D:
        """Return the DAL of this DataManager."""
        return self._dal

    def context(
        self,
        meta: Mapping[str, object] | Meta | None = None,
        # Not keyword-only: CPython finds keyword-only defaults in a dict, on every call.
        loaders: Mapping[str, Callable[[Any], object]] | None = None,
        source: Any = None,
    ) -> C:
        """Return a new context; enter it with ``with`` or ``async with``.

        ``meta`` is read-only data about the context: a mapping (values may be
        :class:`~polydatum.lazy`) or a :class:`~polydatum.Meta`.

        ``loaders`` (for web plugins) are meta entries computed on first read:
        ``loaders[key](source)``, then cached for the context. One ``loaders``
        mapping may serve every request (it is never changed), so a request
        builds no loader of its own: ``dm.context({"user": u},
        loaders={"request": make_request}, source=raw_request)``. ``meta``
        then holds the plain entries, which win over a loader of the same key.

        Raises:
            TypeError: ``loaders`` is not a mapping, or ``meta`` given with
                ``loaders`` is not a dict of plain values.
        """
        cls = self._plain_context
        if loaders is not None:
            last = self._last_loaders
            if loaders is last[0]:
                make = last[1]
            else:
                if type(loaders) is not dict and not isinstance(loaders, Mapping):
                    raise TypeError(
                        "loaders= must be a mapping of meta keys to callables taking the "
                        f"source; got {describe(loaders)}."
                    )
                # One mapping serves every request of a plugin: its Meta class, kept at hand.
                make = _sourced_class(loaders)
                self._last_loaders = (loaders, make)
            # sourced_meta's work, inlined (a Python call less per request); keep the two alike.
            if meta is not None:
                make = _maker_for(meta, loaders, make)  # type: ignore[arg-type]
            shared = make(**meta) if meta else make()
            _set_source(shared, source)
            if cls is None:
                return self.context_class(self, shared)  # type: ignore[return-value]
            ctx: Any = cls()
            ctx.data_manager = self
            ctx.dal = self._dal
            ctx.meta = shared
            ctx._state = _CREATED
            return ctx  # type: ignore[no-any-return]
        if cls is None:
            return self.context_class(self, meta)  # type: ignore[return-value]
        # DataAccessContext.__init__'s work, without its call: this runs once per request.
        ctx = cls()
        ctx.data_manager = self
        ctx.dal = self._dal
        if type(meta) is dict:
            # as_meta's first case, inlined (a Python call less); keep the two alike.
            for value in meta.values():
                if type(value) is lazy:
                    ctx.meta = new_meta(meta)
                    break
            else:
                ctx.meta = _meta(**meta)
        elif type(meta) is _ContextMeta:
            ctx.meta = meta  # built by a plugin
        else:
            ctx.meta = as_meta(meta)
        ctx._state = _CREATED
        return ctx  # type: ignore[no-any-return]

    def dal(self, meta: Mapping[str, object] | Meta | None = None) -> _DalScope[D]:
        """Open a new context and give its DAL: ``with dm.dal(meta) as dal:``."""
        return _DalScope(self.context(meta))

    def get_active_context(self) -> C | None:
        """Return the active context of this DataManager, or None."""
        return self._context_var.get()  # type: ignore[return-value]


def _declared_dal(dal_class: type[Any] | None) -> type[Any]:
    """The class of a DataManager's DAL: ``dal_class`` (a Layer) that is also a DataAccessLayer."""
    if dal_class is None:
        return DataAccessLayer
    if not (isinstance(dal_class, type) and issubclass(dal_class, Layer)):
        raise TypeError(
            "dal_class must be a subclass of polydatum.Layer declaring the services "
            f"(class Dal(Layer): notes: Notes); got {describe(dal_class)}."
        )
    if dal_class is DataAccessLayer:
        return DataAccessLayer
    # The app's class first (what it declares), then what implements it.
    bases = (dal_class,) if issubclass(dal_class, DataAccessLayer) else (dal_class, DataAccessLayer)
    # The DAL's own class already (see DataAccessLayer.__init__): one per DataManager.
    return type(dal_class.__name__, bases, {"_declared": True, "_own_class": True})


def _context_bases(context_class: type[Any]) -> tuple[type[Any], ...]:
    """The bases of a class that is ``context_class`` (a Context) and a DataAccessContext."""
    if not (isinstance(context_class, type) and issubclass(context_class, Context)):
        raise TypeError(
            "context_class must be a subclass of polydatum.Context declaring the resources "
            f"(class Ctx(Context[Dal, User]): db: Connection); got {describe(context_class)}."
        )
    if issubclass(context_class, DataAccessContext):
        return (context_class,)
    # The app's class first (what it declares), then what implements it.
    return (context_class, DataAccessContext)
