"""The middleware that answers service errors in JSON, and the meta of each request."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.utils.deprecation import MiddlewareMixin
from django_datum import get_dal
from polydatum import ServiceError, lazy

from example_apps.notes.services import NotesDal
from example_apps.notes.statements import User

from .errors import json_error

__all__ = ["ServiceErrorMiddleware", "request_meta"]


def request_meta(request: HttpRequest) -> dict[str, lazy]:
    """``DATUM["META"]``: the user, loaded from the Bearer token when a service reads it.

    Loaded in the request's context (on its connection, in its transaction),
    through the request's DAL; a request that never reads ``meta.user`` never
    looks it up.
    """
    authorization = request.headers.get("Authorization")

    def load() -> User:
        return get_dal(request, NotesDal).users.authenticate(authorization)

    return {"user": lazy(load)}


class ServiceErrorMiddleware(MiddlewareMixin):
    """Answer a ``ServiceError`` raised by a view with its status and a JSON body.

    Listed above ``DatumMiddleware``: Django calls ``process_exception`` bottom
    up, so ``DatumMiddleware`` has recorded the error (rollback) by then.
    """

    def process_exception(self, request: HttpRequest, exception: Exception) -> JsonResponse | None:
        return json_error(exception) if isinstance(exception, ServiceError) else None
