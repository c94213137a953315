"""``DatumMiddleware``: one data context per request, ``request.dal`` in every view.

Add it to ``MIDDLEWARE`` after ``AuthenticationMiddleware`` (last is best)
and name the DataManager in ``DATUM = {"DATA_MANAGER": "myproject.dal.dm"}``.
It is sync- and async-capable: under ASGI with async middleware around it,
it runs in the event loop without thread hops.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
from collections.abc import Awaitable, Callable
from functools import partial
from http import HTTPStatus
from typing import Any, TypeVar, overload

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.core.exceptions import BadRequest, PermissionDenied
from django.core.handlers.exception import response_for_exception
from django.core.signals import got_request_exception
from django.db import connections
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.utils.functional import LazyObject, empty
from polydatum import DataAccessLayer, Layer, lazy
from polydatum.lifecycle import SOURCE, RequestScope, status_for

from .checks import middleware_order_error
from .conf import DatumConfig, get_config
from .streaming import aread_whole_body, read_whole_body, stream_in_context, whole_body_needed

__all__ = [
    "CONTEXT_ATTR",
    "DAL_ATTR",
    "SCOPE_ATTR",
    "DatumMiddleware",
    "build_meta",
    "get_dal",
    "service_error_response",
]

#: ``request.dal``: the DAL of the request's context.
DAL_ATTR = "dal"
#: ``request.datum_context``: the request's DataAccessContext.
CONTEXT_ATTR = "datum_context"
#: The request's RequestScope (private to the plugin).
SCOPE_ATTR = "_datum_scope"

_DJANGO_ERRORS: dict[int, type[Exception]] = {
    400: BadRequest,
    403: PermissionDenied,
    404: Http404,
}

GetResponse = Callable[[HttpRequest], Any]


def build_meta(request: HttpRequest, config: DatumConfig) -> dict[str, Any]:
    """Return the meta of ``request``'s context: ``request``, a lazy ``user`` and ``META``'s."""

    meta: dict[str, Any] = {
        "request": request,
        "user": lazy(partial(_load_user, request), partial(_aload_user, request)),
    }
    if config.meta is not None:
        meta.update(config.meta(request))
    return meta


def _in_event_loop() -> bool:
    """True in a thread that runs an event loop (an async view's, under ASGI or WSGI)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _in_worker_thread(load: Callable[[], Any]) -> Any:
    """Run ``load`` in a thread of its own and return its result (or raise its error).

    The thread's database connections are closed when it ends: Django opens
    them per thread.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = load()
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=contextvars.copy_context().run, args=(run,))
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _load_user(request: HttpRequest) -> Any:
    """``meta.user``: ``request.user`` (AuthenticationMiddleware's lazy user)."""
    user = getattr(request, "user", None)
    if isinstance(user, LazyObject) and user._wrapped is empty and _in_event_loop():
        # A sync service called from an async view: Django refuses database queries
        # in the event loop's thread, so the user (session, then user row) loads in
        # a worker thread, as sync_to_async would run it.
        _in_worker_thread(partial(getattr, user, "is_authenticated"))
    return user


async def _aload_user(request: HttpRequest) -> Any:
    """``await meta.aget("user")``: ``await request.auser()``."""
    auser = getattr(request, "auser", None)
    return await auser() if auser is not None else None


#: The meta of a request when ``META`` is not set, the same as ``build_meta``'s: one
#: mapping shared by every request, the request itself and the user loaded on first read.
_LOADERS = {"request": SOURCE, "user": lazy(_load_user, _aload_user)}


def _request_scope(request: HttpRequest) -> RequestScope:
    """The request's scope, its context made with the ``DATUM`` setting's DataManager."""
    config = get_config()
    if config.meta is None:
        # Positional: RequestScope(dm, meta, lazy_meta, loaders, source).
        return RequestScope(config.data_manager, None, None, _LOADERS, request)
    return RequestScope(config.data_manager, build_meta(request, config))


#: The app's declared DAL class.
D = TypeVar("D", bound=Layer)


@overload
def get_dal(request: HttpRequest) -> DataAccessLayer: ...
@overload
def get_dal(request: HttpRequest, dal_class: type[D]) -> D: ...
def get_dal(request: HttpRequest, dal_class: type[Any] | None = None) -> Any:
    """Return ``request.dal``.

    ``get_dal(request, Dal)`` gives the app's declared DAL class
    (``DataManager(dal_class=Dal)``), so ``get_dal(request, Dal).notes`` is a
    ``Notes`` for type checkers (as is ``request.dal`` of a view annotated
    ``request: DatumHttpRequest[Dal]``).

    Raises:
        RuntimeError: ``DatumMiddleware`` did not run for this request.
        TypeError: the DAL is not a ``dal_class``.
    """
    try:
        dal: DataAccessLayer = request.__dict__[DAL_ATTR]
    except KeyError:
        raise RuntimeError(
            "request.dal is not set: add 'django_datum.middleware.DatumMiddleware' to "
            "MIDDLEWARE (after AuthenticationMiddleware)."
        ) from None
    if dal_class is not None and not isinstance(dal, dal_class):
        name = dal_class.__qualname__
        raise TypeError(
            f"The DAL of this request is a {type(dal).__qualname__}, not a {name}: build the "
            f"app's DataManager with DataManager(dal_class={name}), or ask for its own class."
        )
    return dal


def service_error_response(request: HttpRequest, exc: BaseException) -> HttpResponseBase | None:
    """Return the response for an unhandled 4xx ``ServiceError``, or None to let Django decide.

    400, 403 and 404 go through Django's own handlers (``handler404``...);
    other 4xx codes get a plain response with the status's reason phrase;
    5xx codes stay unhandled so Django logs them and renders its 500 page.
    """
    status = status_for(exc)
    if status is None or status >= 500:
        return None
    django_error = _DJANGO_ERRORS.get(status)
    if django_error is not None:
        response: HttpResponseBase = response_for_exception(request, django_error(str(exc)))
        return response
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    return HttpResponse(reason, status=status, content_type="text/plain; charset=utf-8")


class DatumMiddleware:
    """Opens one data context per request and closes it before the response leaves.

    - ``request.dal`` / ``request.datum_context`` are set for the view.
    - The view's exception (Http404 and friends included) is thrown into the
      context, so context middleware rolls back; the response stays Django's.
    - A failing close (a commit) becomes Django's normal 500 response.
    - A streamed body keeps the context until the response is closed.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        """Check the settings now, so misconfiguration fails at start-up.

        Raises:
            ImproperlyConfigured: ``DATUM`` is missing or wrong, or the middleware
                is listed before ``AuthenticationMiddleware``.
        """
        if get_response is None:
            raise ValueError("get_response must be provided.")
        get_config()
        order_error = middleware_order_error()
        if order_error is not None:
            raise order_error
        self.get_response = get_response
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)

    # One lifecycle, driven two ways: ``__call__`` under WSGI (or sync middleware),
    # ``__acall__`` in the event loop. Each opens the scope, binds it to the request,
    # runs the view, unbinds, and then streams the body in the context or closes;
    # they differ only where the async one awaits.

    def __call__(self, request: HttpRequest) -> Any:
        if self._is_async:
            return self.__acall__(request)
        scope = _request_scope(request)
        attrs = _bind(request, scope, scope.open())
        try:
            response = self.get_response(request)
        except BaseException as exc:
            # Only what Django does not turn into a response (KeyboardInterrupt...).
            scope.close_quietly(exc)
            raise
        finally:
            attrs.pop(CONTEXT_ATTR, None)
            attrs.pop(SCOPE_ATTR, None)
        if response.streaming and not scope.closed:
            if _streams(request, response, scope, False):
                return response
            try:
                read_whole_body(response, b"".join(response))
            except BaseException as exc:
                scope.close_quietly(exc)
                raise
        scope.close()
        return response

    async def __acall__(self, request: HttpRequest) -> Any:
        """``__call__``, awaiting; a cancelled request (disconnect) still closes."""
        scope = _request_scope(request)
        attrs = _bind(request, scope, await scope.aopen())
        get_response: Callable[[HttpRequest], Awaitable[Any]] = self.get_response
        try:
            response = await get_response(request)
        except BaseException as exc:
            # Cancellation (client disconnect) lands here, never in process_exception.
            await scope.aclose_quietly(exc)
            raise
        finally:
            attrs.pop(CONTEXT_ATTR, None)
            attrs.pop(SCOPE_ATTR, None)
        if response.streaming and not scope.closed:
            if _streams(request, response, scope, True):
                return response
            try:
                await aread_whole_body(response)
            except BaseException as exc:
                await scope.aclose_quietly(exc)
                raise
        if not scope.awaits and get_config().close_in_thread:
            # Nothing async was set up: close (commit) in the request's sync thread,
            # off the event loop, as Django runs sync code under ASGI.
            await sync_to_async(scope.close, thread_sensitive=True)()
        else:
            await scope.aclose()
        return response

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> HttpResponseBase | None:
        """Record the view's exception for the context; map 4xx ``ServiceError``s."""
        scope: RequestScope | None = request.__dict__.get(SCOPE_ATTR)
        if scope is None:
            return None
        scope.record(exception)
        if get_config().map_service_errors:
            return service_error_response(request, exception)
        return None


def _bind(request: HttpRequest, scope: RequestScope, context: Any) -> dict[str, Any]:
    """Set ``request.dal`` and the request's links to its context; return its ``__dict__``.

    The links (``datum_context`` and the scope) are dropped once the view is
    done: the context's meta holds the request, so without that every request
    would be a reference cycle left to the garbage collector. ``request.dal`` stays.
    """
    attrs = request.__dict__
    attrs[DAL_ATTR] = context.dal
    attrs[CONTEXT_ATTR] = context
    attrs[SCOPE_ATTR] = scope
    return attrs


def _streams(
    request: HttpRequest, response: StreamingHttpResponse, scope: RequestScope, is_async: bool
) -> bool:
    """True when ``response``'s body now streams in the context, which closes when it ends.

    False when the whole body must be read before the context closes
    (see ``whole_body_needed``).
    """
    if whole_body_needed(request, response):
        return False
    scope.detach()
    stream_in_context(response, scope, is_async=is_async)
    return True


def _record_uncaught(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    """Record exceptions Django turns into 500s outside the view (inner middleware)."""
    if request is None:
        return
    scope: RequestScope | None = request.__dict__.get(SCOPE_ATTR)
    exc = sys.exc_info()[1]
    if scope is not None and exc is not None:
        scope.record(exc)


got_request_exception.connect(_record_uncaught, dispatch_uid="django_datum.record_uncaught")
