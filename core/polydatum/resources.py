"""Resources: lazily set-up backends (connections, sessions, clients) of a context."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ._steps import _Gen
from ._types import CA
from .errors import AlreadyExistsException, RegistrationError
from .util import describe, is_generator

if TYPE_CHECKING:
    from .context import Context
    from .dal import DataManager

__all__ = ["Resource", "ResourceFactory", "ResourceManager", "ValueResource"]

#: A resource: called with the context, returns a generator (or an async
#: generator) that yields the resource exactly once, then cleans it up.
#: Annotate it ``Iterator[T]``, ``Generator[T, None, None]``,
#: ``AsyncIterator[T]`` or ``AsyncGenerator[T, None]``; ``ResourceFactory[Ctx]``
#: takes the app's context type.
ResourceFactory = Callable[[CA], Iterator[Any] | AsyncIterator[Any]]


class Resource:
    """Base class for class-based resources: override ``__call__`` as a generator."""

    # Kept for compatibility with polydatum 0.8: prefer ``context.data_manager``.
    _data_manager: DataManager[Any, Any] | None = None

    def setup(self, data_manager: DataManager[Any, Any]) -> None:
        """Remember the DataManager the resource was registered with (compatibility hook)."""
        self._data_manager = data_manager

    def __call__(self, context: Context[Any, Any]) -> Generator[Any, None, None]:
        """Yield the resource for ``context`` once, then clean it up."""
        yield None


class ValueResource(Resource):
    """A resource that is always the same, already built value."""

    def __init__(self, value: Any) -> None:
        super().__init__()
        self._value = value

    def __call__(self, context: Context[Any, Any]) -> Generator[Any, None, None]:
        yield self._value


def check_resource_name(key: str, data_managers: Iterable[DataManager[Any, Any]] = ()) -> None:
    """Raise RegistrationError when contexts already have an attribute named ``key``.

    ``ctx.<key>`` would read that attribute (``ctx.meta``, ``ctx.aget``...),
    never the resource. ``data_managers`` use the registry: their own
    context classes may add names.
    """
    from .context import DataAccessContext

    classes: list[type] = [DataAccessContext, *(dm.context_class for dm in data_managers)]
    if any(_taken(cls, key) for cls in classes):
        reserved = sorted(
            {n for cls in classes for n in dir(cls) if n[0] != "_" and _taken(cls, n)}
        )
        raise RegistrationError(
            f"Resource name {key!r} is reserved: contexts already have an attribute of that "
            f"name, so ctx.{key} would never reach the resource. Choose another name; "
            f"reserved: {', '.join(reserved)} (and the context's own _private names)."
        )


def _taken(cls: type, name: str) -> bool:
    """True when ``name`` is an attribute of the context class ``cls`` other than a resource."""
    from .context import ResourceAttribute

    current = inspect.getattr_static(cls, name, None)
    return current is not None and not isinstance(current, ResourceAttribute)


class ResourceManager:
    """The registry of a DataManager's resources, by name."""

    def __init__(self, data_manager: DataManager[Any, Any]) -> None:
        # What resources are at run time: generator functions (is_generator checked it).
        self._resources: dict[str, Callable[[Any], _Gen]] = {}
        self._data_manager = data_manager

    def register_resources(self, **resources: ResourceFactory[Any]) -> None:
        """Register resources by name.

        Raises:
            AlreadyExistsException: a name is taken (use ``replace_resource``).
            RegistrationError: a value is not a generator callable.
        """
        for key, resource in resources.items():
            if key in self._resources:
                raise AlreadyExistsException(
                    f"A resource named {key!r} is already registered; "
                    f"use replace_resource({key!r}, ...) to swap it on purpose."
                )
            self._init_resource(key, resource)

    def replace_resource(self, key: str, resource: ResourceFactory[Any]) -> None:
        """Register ``resource`` under ``key``, replacing any resource already there."""
        self._init_resource(key, resource)

    def _init_resource(self, key: str, resource: ResourceFactory[Any]) -> None:
        if isinstance(resource, type) and is_generator(
            inspect.getattr_static(resource, "__call__", None)
        ):
            # A Resource subclass (its __call__ is the generator): the instance is the resource.
            raise RegistrationError(
                f"Resource {key!r} is the class {resource.__qualname__}, not a resource: "
                f"pass an instance: {resource.__qualname__}()."
            )
        check_resource_name(key, self.__dict__.get("_users", ()))
        if not is_generator(resource):
            raise RegistrationError(
                f"Resource {key!r} must be a generator function (or an async generator "
                f"function, or an object whose __call__ is one) taking the context and "
                f"yielding the resource once; got {describe(resource)}."
            )
        setup = getattr(resource, "setup", None)
        if callable(setup):
            setup(self._data_manager)
        self._resources[key] = resource  # type: ignore[assignment]  # a generator function
        # ``ctx.<key>`` on the contexts of each DataManager using this registry
        # sets the resource up.
        for data_manager in self.__dict__.get("_users", ()):
            data_manager._add_resource_attribute(key)

    def names(self) -> Iterator[str]:
        """Iterate over the registered resource names."""
        return iter(self._resources)

    def get(self, name: str) -> ResourceFactory[Any] | None:
        """Return the resource registered as ``name``, or None."""
        return self._resources.get(name)

    def __getitem__(self, name: str) -> ResourceFactory[Any]:
        return self._resources[name]

    def __contains__(self, name: object) -> bool:
        return name in self._resources
