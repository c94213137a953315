"""Services: business logic and data access, reached through the DAL."""

from __future__ import annotations

from contextvars import ContextVar
from types import GenericAlias
from typing import TYPE_CHECKING, Any

from ._declared import check_declared
from ._types import C, D, Generic
from .errors import AlreadyExistsException, NoActiveContextError, RegistrationError
from .util import describe

if TYPE_CHECKING:
    from typing import Self

    from .context import DataAccessContext
    from .dal import DataManager

__all__ = ["Service"]


class Service(Generic[D, C]):
    """Base class of services; nest sub-services with ``register_services``.

    Inside a method, ``self._ctx`` is the active context (its resources and
    meta), ``self._dal`` the DAL (to call other services) and
    ``self._data_manager`` the DataManager.

    For type checkers, ``Service[Dal, Ctx]`` makes ``self._dal`` a ``Dal``
    and ``self._ctx`` a ``Ctx`` (bare ``Service``: the untyped
    ``DataAccessLayer`` and ``DataAccessContext``, which read any name as
    ``Any``). Declare sub-services as annotations (``archive: Archive``);
    registering one of another type under that name is refused.
    """

    if not TYPE_CHECKING:
        # ``Service[...]`` at run time (in a base class list, say), without typing.Generic.
        __class_getitem__ = classmethod(GenericAlias)

    #: Where ``_ctx`` finds the active context; set by ``setup``.
    _context_var: ContextVar[DataAccessContext[Any, Any] | None]
    #: The DAL of the DataManager the service is registered with (None before).
    _dal: D

    def __init__(self) -> None:
        self._services: dict[str, Service[Any, Any]] = {}
        self._data_manager: DataManager[D, C] | None = None
        self._dal = None  # type: ignore[assignment]  # set by setup()
        self._context_var = _NO_VAR

    def register_services(self, **services: Service[Any, Any]) -> Self:
        """Register sub-services, reached as ``dal.this.sub``; returns self.

        Raises:
            AlreadyExistsException: a name is taken.
            RegistrationError: a value is not a Service.
        """
        for key, service in services.items():
            if key in self._services:
                raise AlreadyExistsException(
                    f"A sub-service named {key!r} is already registered on {describe(self)}."
                )
            check_service(key, service)
            check_declared(self, key, service)
            service.setup(self._data_manager)
            self._services[key] = service
            if not hasattr(type(self), key):
                # A plain attribute, read at the speed of any other.
                self.__dict__[key] = service
        return self

    def setup(self, data_manager: DataManager[Any, Any] | None) -> None:
        """Attach this service and its sub-services to ``data_manager``."""
        self._data_manager = data_manager
        dal = data_manager.get_dal() if data_manager is not None else None
        self._dal = dal  # type: ignore[assignment]  # None until registered
        self._context_var = data_manager._context_var if data_manager is not None else _NO_VAR
        for service in self._services.values():
            service.setup(data_manager)

    @property
    def _ctx(self) -> C:
        """The active context of this service's DataManager.

        Raises:
            NoActiveContextError: no context is active.
        """
        ctx = self._context_var.get()
        if ctx is None:
            self._no_context()
        return ctx  # type: ignore[return-value]

    def _no_context(self) -> None:
        if self._data_manager is None:
            raise NoActiveContextError(
                f"{describe(self)} is not registered with a DataManager; "
                "register it with dm.register_services(name=service)."
            )
        raise NoActiveContextError(
            "No data context is active. Open one with `with dm.context(meta=...):` "
            "(or `async with`), or use a web plugin that opens one per request."
        )


#: The context variable of a service that is not registered: never set.
_NO_VAR: ContextVar[DataAccessContext[Any, Any] | None] = ContextVar(
    "polydatum_unregistered", default=None
)


def check_service(key: str, service: object) -> None:
    """Raise RegistrationError unless ``service`` can be registered as a service."""
    if isinstance(service, type):
        raise RegistrationError(
            f"Service {key!r} is the class {service.__qualname__}, not a service: "
            f"pass an instance: {service.__qualname__}()."
        )
    if not callable(getattr(service, "setup", None)):
        raise RegistrationError(
            f"Service {key!r} must be a polydatum.Service instance (or have a "
            f"setup(data_manager) method); got {describe(service)}."
        )
