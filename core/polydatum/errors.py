"""Exceptions raised by polydatum and by services built on it."""

from __future__ import annotations

__all__ = [
    "AlreadyExistsException",
    "ErrorsOnClose",
    "MiddlewareException",
    "MiddlewareSetupException",
    "NoActiveContextError",
    "NotFound",
    "PolydatumException",
    "RegistrationError",
    "ResourceException",
    "ResourceSetupException",
    "ServiceError",
    "UnknownNameError",
]


class PolydatumException(Exception):
    """Base class of every polydatum exception."""


class ServiceError(PolydatumException):
    """An error a service raises on purpose; ``code`` is the HTTP status it maps to."""

    code: int = 500


class NotFound(ServiceError):
    """A service action needs an object that does not exist (HTTP 404)."""

    code = 404


class ErrorsOnClose(PolydatumException):
    """Kept for compatibility with polydatum 0.8; resource exit errors are collected instead."""

    def __init__(self, message: str, exceptions: list[BaseException]) -> None:
        super().__init__(message)
        self.message = message
        self.exceptions = exceptions

    def __str__(self) -> str:
        return f"<{self.__class__.__name__} {self.message}: {self.exceptions}>"


class AlreadyExistsException(PolydatumException):
    """A service, resource or middleware is already registered under that name."""


class RegistrationError(PolydatumException, TypeError):
    """Something that cannot be registered was given to a DataManager."""


class UnknownNameError(PolydatumException, AttributeError, KeyError):
    """No service (or sub-service) is registered under that name; the message lists those that are.

    Both an ``AttributeError`` (``dal.nope``, as Python raises for an unknown
    attribute) and a ``KeyError`` (what polydatum 0.9 raised), so code
    catching either keeps working.
    """

    def __str__(self) -> str:
        # KeyError would quote the message.
        return str(self.args[0]) if self.args else ""


class NoActiveContextError(PolydatumException, RuntimeError):
    """The DAL or a service's context was used while no context is active."""


class MiddlewareException(PolydatumException):
    """Base class of context middleware errors."""


class MiddlewareSetupException(MiddlewareException):
    """A context middleware failed to set up (for example it did not yield)."""


class ResourceException(PolydatumException):
    """Base class of resource errors."""


class ResourceSetupException(ResourceException):
    """A resource failed to set up (for example it did not yield)."""
