"""The response an unhandled ``ServiceError`` becomes."""

from __future__ import annotations

from http import HTTPStatus

from starlette.responses import JSONResponse

__all__ = ["service_error_response"]


def service_error_response(exc: BaseException, status: int) -> JSONResponse:
    """Return ``{"detail": ...}`` with ``status``, like FastAPI's ``HTTPException``.

    A 4xx carries the error's message (services raise those for the caller to
    read); a 5xx carries only the status phrase, so internals do not leak.
    """
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    detail = (str(exc) or phrase) if status < 500 else phrase
    return JSONResponse({"detail": detail}, status_code=status)
