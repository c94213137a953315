"""The middleware that answers service errors in JSON, and the meta of each request."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils.deprecation import MiddlewareMixin
from django_datum import get_data_manager
from polydatum import ServiceError

from example_apps.notes import user_meta

from .errors import json_error

__all__ = ["ServiceErrorMiddleware", "request_meta"]


def request_meta(request: HttpRequest) -> dict[str, Any]:
    """``DATUM["META"]``: the user, loaded from the Bearer token when a service reads it."""
    return user_meta(get_data_manager().get_dal(), request.headers.get("Authorization"))


class ServiceErrorMiddleware(MiddlewareMixin):
    """Answer a ``ServiceError`` raised by a view with its status and a JSON body.

    Listed above ``DatumMiddleware``: Django calls ``process_exception`` bottom
    up, so ``DatumMiddleware`` has recorded the error (rollback) by then.
    """

    def process_exception(self, request: HttpRequest, exception: Exception) -> JsonResponse | None:
        return json_error(exception) if isinstance(exception, ServiceError) else None
