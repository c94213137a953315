"""The errors services raise on purpose; each ``code`` is the HTTP status it becomes."""

from __future__ import annotations

from polydatum import NotFound, ServiceError

__all__ = [
    "BadRequest",
    "NotFound",
    "PayloadTooLarge",
    "Unauthorized",
    "error_response",
]


class BadRequest(ServiceError):
    """The request's input is malformed or invalid; the message says what to fix."""

    code = 400


class Unauthorized(ServiceError):
    """The request carries no token, or a token that is not known."""

    code = 401


class PayloadTooLarge(ServiceError):
    """The request body is larger than ``validation.MAX_BODY_BYTES``."""

    code = 413


def error_response(exc: ServiceError) -> tuple[int, dict[str, str], dict[str, str]]:
    """Return ``(status, JSON body, headers)`` for ``exc``: what every app answers.

    The body is ``{"error": message}``; a 401 also gets ``WWW-Authenticate: Bearer``.
    ``NotFound`` comes from polydatum itself (a service's missing object).
    """
    status = exc.code
    headers = {"WWW-Authenticate": "Bearer"} if status == Unauthorized.code else {}
    return status, {"error": str(exc)}, headers
