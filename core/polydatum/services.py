"""Services: business logic and data access, reached through the DAL."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from .errors import AlreadyExistsException, NoActiveContextError, RegistrationError
from .util import describe

if TYPE_CHECKING:
    from .context import DataAccessContext
    from .dal import DataAccessLayer, DataManager

__all__ = ["Service"]


class Service:
    """Base class of services; nest sub-services with ``register_services``.

    Inside a method, ``self._ctx`` is the active context (its resources and
    meta), ``self._dal`` the DAL (to call other services) and
    ``self._data_manager`` the DataManager.
    """

    #: Where ``_ctx`` finds the active context; set by ``setup``.
    _context_var: ContextVar[DataAccessContext | None]

    def __init__(self) -> None:
        self._services: dict[str, Service] = {}
        self._data_manager: DataManager | None = None
        self._dal: DataAccessLayer | None = None
        self._context_var = _NO_VAR

    def register_services(self, **services: Service) -> Service:
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
            service.setup(self._data_manager)
            self._services[key] = service
            if not hasattr(type(self), key):
                # A plain attribute, read at the speed of any other.
                self.__dict__[key] = service
        return self

    if TYPE_CHECKING:
        # For type checkers only: sub-services are attributes made at registration.
        def __getattr__(self, name: str) -> Any: ...

    def setup(self, data_manager: DataManager | None) -> None:
        """Attach this service and its sub-services to ``data_manager``."""
        self._data_manager = data_manager
        self._dal = data_manager.get_dal() if data_manager is not None else None
        self._context_var = data_manager._context_var if data_manager is not None else _NO_VAR
        for service in self._services.values():
            service.setup(data_manager)

    @property
    def _ctx(self) -> DataAccessContext:
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
_NO_VAR: ContextVar[DataAccessContext | None] = ContextVar("polydatum_unregistered", default=None)


def check_service(key: str, service: object) -> None:
    """Raise RegistrationError unless ``service`` can be registered as a service."""
    if not callable(getattr(service, "setup", None)):
        raise RegistrationError(
            f"Service {key!r} must be a polydatum.Service instance (or have a "
            f"setup(data_manager) method); got {describe(service)}."
        )
