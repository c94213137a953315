"""The glue between Django and the notes services: meta, and errors answered in JSON."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils.deprecation import MiddlewareMixin
from django_datum import get_data_manager
from polydatum import ServiceError

from example_apps.notes import error_response, user_meta

__all__ = [
    "ServiceErrorMiddleware",
    "bad_request",
    "json_error",
    "not_found",
    "request_meta",
    "server_error",
]


def request_meta(request: HttpRequest) -> dict[str, Any]:
    """``DATUM["META"]``: the user, loaded from the Bearer token when a service reads it."""
    return user_meta(get_data_manager().get_dal(), request.headers.get("Authorization"))


def json_error(exc: ServiceError) -> JsonResponse:
    """Return the JSON response for a service error."""
    status, body, headers = error_response(exc)
    return JsonResponse(body, status=status, headers=headers)


class ServiceErrorMiddleware(MiddlewareMixin):
    """Answer a ``ServiceError`` raised by a view with its status and a JSON body."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> JsonResponse | None:
        return json_error(exception) if isinstance(exception, ServiceError) else None


def bad_request(request: HttpRequest, exception: Exception) -> JsonResponse:
    """``handler400``."""
    return JsonResponse({"error": "Bad Request"}, status=400)


def not_found(request: HttpRequest, exception: Exception) -> JsonResponse:
    """``handler404``: unknown URLs."""
    return JsonResponse({"error": "Not Found"}, status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    """``handler500``: also what a failed commit becomes."""
    return JsonResponse({"error": "Internal Server Error"}, status=500)
