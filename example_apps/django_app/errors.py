"""Errors answered in JSON: service errors, and Django's own 400, 404 and 500."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from polydatum import ServiceError

from example_apps.notes import error_response

__all__ = ["bad_request", "json_error", "not_found", "server_error"]


def json_error(exc: ServiceError) -> JsonResponse:
    """Return the JSON response for a service error."""
    status, body, headers = error_response(exc)
    return JsonResponse(body, status=status, headers=headers)


def bad_request(request: HttpRequest, exception: Exception) -> JsonResponse:
    """``handler400``."""
    return JsonResponse({"error": "Bad Request"}, status=400)


def not_found(request: HttpRequest, exception: Exception) -> JsonResponse:
    """``handler404``: unknown URLs."""
    return JsonResponse({"error": "Not Found"}, status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    """``handler500``: also what a failed commit becomes."""
    return JsonResponse({"error": "Internal Server Error"}, status=500)
