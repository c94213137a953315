"""The errors the Conduit services raise on purpose; each ``code`` is the HTTP status it becomes.

Every error answer has the spec's shape (``GenericErrorModel``):
``{"errors": {"body": ["what went wrong and how to fix it"]}}``.
"""

from __future__ import annotations

from polydatum import NotFound, ServiceError

__all__ = [
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "Unauthorized",
    "Unprocessable",
    "error_body",
    "error_response",
]


class Unauthorized(ServiceError):
    """No token where one is needed, or a token that is forged, expired or of a gone user."""

    code = 401


class Forbidden(ServiceError):
    """The user is logged in but may not do this (another user's article or comment)."""

    code = 403


class PayloadTooLarge(ServiceError):
    """The request body is larger than ``validation.MAX_BODY_BYTES``."""

    code = 413


class Unprocessable(ServiceError):
    """The input is not what the API takes (bad JSON, a missing field, a taken username, ...)."""

    code = 422


def error_body(*messages: str) -> dict[str, object]:
    """Return the spec's error body carrying ``messages``."""
    return {"errors": {"body": list(messages)}}


def error_response(exc: ServiceError) -> tuple[int, dict[str, object], dict[str, str]]:
    """Return ``(status, JSON body, headers)`` for ``exc``: what every app answers.

    Each argument of the error is one message (``Unprocessable("username has
    already been taken", "email has already been taken")``). A 401 also gets
    ``WWW-Authenticate: Token`` (the spec's scheme). ``NotFound`` comes from
    polydatum itself (a missing article, profile or comment).
    """
    headers = {"WWW-Authenticate": "Token"} if exc.code == Unauthorized.code else {}
    messages = [str(message) for message in exc.args] or [type(exc).__name__]
    return exc.code, error_body(*messages), headers
