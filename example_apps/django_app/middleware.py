"""The two middleware around ``DatumMiddleware``, and the meta it adds to each request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.utils.deprecation import MiddlewareMixin
from django_datum import get_data_manager
from polydatum import ServiceError

from example_apps.notes import user_meta

from .errors import json_error

__all__ = ["ServiceErrorMiddleware", "SyncRequestMiddleware", "request_meta"]


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


class SyncRequestMiddleware:
    """Under ASGI, run ``DatumMiddleware`` and the views in one worker thread per request.

    Listed below ``DatumMiddleware``. Being sync-only, it makes Django run
    the middleware above it that can be either (``DatumMiddleware``) in sync
    mode too, so the request's context opens, runs the sync views and
    commits in the request's worker thread instead of committing on the
    event loop, where a blocking COMMIT would hold up every other request.
    Under WSGI it changes nothing.
    """

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)
