"""The views, the error middleware and the meta of each request.

Every path of ``api.ROUTES`` gets one view that picks the endpoint by
method, reads the request into a ``Call`` and answers the endpoint's reply.
A ``ServiceError`` raised there reaches ``DatumMiddleware`` (the request's
transaction rolls back) and then ``ServiceErrorMiddleware`` (the answer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin
from django_datum import get_dal
from polydatum import ServiceError, lazy

from example_apps.conduit import Call, Route, body_too_large, error_response
from example_apps.conduit.errors import error_body
from example_apps.conduit.models import User
from example_apps.conduit.services import ConduitDal

__all__ = [
    "ServiceErrorMiddleware",
    "bad_request",
    "json_error",
    "not_found",
    "request_meta",
    "server_error",
    "view",
]


def request_meta(request: HttpRequest) -> dict[str, lazy]:
    """``DATUM["META"]``: the user, loaded from the token when a service reads it.

    Loaded in the request's context (on its connection, in its transaction),
    through the request's DAL; a request whose services never read
    ``meta.user`` never decodes its token.
    """
    authorization = request.headers.get("Authorization")

    def load() -> User | None:
        return get_dal(request, ConduitDal).users.authenticate(authorization)

    return {"user": lazy(load)}


def _body(request: HttpRequest) -> bytes:
    try:
        return request.body  # refused over DATA_UPLOAD_MAX_MEMORY_SIZE
    except RequestDataTooBig:
        raise body_too_large() from None


def view(routes: Iterable[Route]) -> Callable[..., HttpResponse]:
    """Return the view of one path, answering each method of ``routes``."""
    by_method = {route.method: route for route in routes}

    def path_view(request: HttpRequest, **params: str) -> HttpResponse:
        route = by_method.get(request.method or "")
        if route is None:
            allowed = ", ".join(by_method)
            return JsonResponse(
                error_body("Method Not Allowed"), status=405, headers={"Allow": allowed}
            )
        body = _body(request) if route.body else b""
        status, reply = route.answer(get_dal(request, ConduitDal), Call(params, request.GET, body))
        return HttpResponse(status=status) if reply is None else JsonResponse(reply, status=status)

    return path_view


def json_error(exc: ServiceError) -> JsonResponse:
    """Return the response for a service error, in the spec's shape."""
    status, body, headers = error_response(exc)
    return JsonResponse(body, status=status, headers=headers)


class ServiceErrorMiddleware(MiddlewareMixin):
    """Answer a ``ServiceError`` raised by a view with its status, in the spec's shape.

    Listed above ``DatumMiddleware``: Django calls ``process_exception`` bottom
    up, so ``DatumMiddleware`` has recorded the error (rollback) by then.
    """

    def process_exception(self, request: HttpRequest, exception: Exception) -> JsonResponse | None:
        return json_error(exception) if isinstance(exception, ServiceError) else None


def bad_request(request: HttpRequest, exception: Exception) -> JsonResponse:
    """``handler400``."""
    return JsonResponse(error_body("Bad Request"), status=400)


def not_found(request: HttpRequest, exception: Exception) -> JsonResponse:
    """``handler404``: unknown URLs."""
    return JsonResponse(error_body("Not Found"), status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    """``handler500``: also what a failed commit becomes."""
    return JsonResponse(error_body("Internal Server Error"), status=500)
