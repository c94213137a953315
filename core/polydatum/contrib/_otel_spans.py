"""What the OpenTelemetry spans say (see ``polydatum.contrib.opentelemetry``): names, status.

Also the record a context's span leaves in the ``contextvars.Context``, which
resource spans read to find their parent.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from polydatum import __version__
from polydatum.lifecycle import status_for

if TYPE_CHECKING:
    from collections.abc import Callable

    from opentelemetry.context import Context
    from opentelemetry.util.types import AttributeValue

    from polydatum.context import Context as DataContext

__all__ = [
    "CONTEXT_SPAN_NAME",
    "OpenSpan",
    "attribute_value",
    "client_error",
    "context_span",
    "default_is_error",
    "end_with",
    "get_tracer",
    "parent_context",
    "request_span_name",
    "span_name",
]

#: The name of a context's span while it runs, and when nothing better is known at its end.
CONTEXT_SPAN_NAME = "polydatum.context"
_SCOPE = "polydatum"


def get_tracer(tracer_provider: trace.TracerProvider | None) -> trace.Tracer:
    """polydatum's tracer from ``tracer_provider`` (default: the global one, looked up late)."""
    return trace.get_tracer(_SCOPE, __version__, tracer_provider)


class OpenSpan:
    """A context's span, as its middleware left it in the ``contextvars.Context``.

    Shared by every copy of that ``contextvars.Context`` (a thread pool's,
    an event loop's), so ``ended`` set in one is seen in all.
    """

    __slots__ = ("ended", "otel_context", "previous", "span")

    def __init__(self, span: trace.Span, otel_ctx: Context, previous: Context) -> None:
        self.span = span
        #: The OpenTelemetry context with ``span`` current (the parent of the context's spans).
        self.otel_context = otel_ctx
        #: The OpenTelemetry context current before: restored when the span ends.
        self.previous = previous
        self.ended = False


#: The span of the innermost traced data context running here.
CURRENT: ContextVar[OpenSpan | None] = ContextVar("polydatum_otel_span", default=None)


def context_span() -> trace.Span | None:
    """Return the span of the innermost traced data context that is running, or None."""
    open_span = CURRENT.get()
    if open_span is None or open_span.ended:
        return None
    return open_span.span


def parent_context() -> Context | None:
    """The OpenTelemetry context a service or resource span starts in (None: the current one).

    The open data context's, when the current span is the one its span is a
    child of: code of the data context running where its span is not current,
    as a streamed body that a WSGI instrumentation sends with its server span
    current again.
    """
    open_span = CURRENT.get()
    if open_span is None or open_span.ended:
        return None
    current = otel_context.get_current()
    if current is open_span.otel_context:
        return None
    if trace.get_current_span(current) is trace.get_current_span(open_span.previous):
        return open_span.otel_context
    return None


def repair_stale() -> None:
    """Restore the OpenTelemetry context a context's span left current here.

    A context closed from another ``contextvars.Context`` (an event loop of
    its own, as when sync code opened it and async parts closed it) could
    only restore the OpenTelemetry context there; the next context that opens
    here restores it before starting its span.
    """
    stale = CURRENT.get()
    if stale is not None and stale.ended:
        if otel_context.get_current() is stale.otel_context:
            otel_context.attach(stale.previous)
        CURRENT.set(None)


# -- status ---------------------------------------------------------------------


#: Django's exceptions that Django answers with a 4xx (they carry no status code).
_DJANGO_CLIENT_ERRORS = frozenset(
    {
        ("django.http.response", "Http404"),
        ("django.core.exceptions", "PermissionDenied"),
        ("django.core.exceptions", "BadRequest"),
        ("django.core.exceptions", "SuspiciousOperation"),
    }
)


def client_error(exc: BaseException) -> bool:
    """True for an exception that stands for a 4xx answer (the client's mistake).

    A ``ServiceError`` whose ``code`` is 4xx; any exception with an int
    ``code`` or ``status_code`` attribute from 400 to 499 (werkzeug's and
    Starlette's ``HTTPException``); Django's ``Http404``, ``PermissionDenied``,
    ``BadRequest`` and ``SuspiciousOperation`` (and their subclasses).
    """
    status = status_for(exc)
    if status is None:
        status = getattr(exc, "code", None)
        if not isinstance(status, int):
            status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return 400 <= status <= 499
    return any((c.__module__, c.__name__) in _DJANGO_CLIENT_ERRORS for c in type(exc).__mro__)


def default_is_error(exc: BaseException) -> bool:
    """The default ``is_error``: an ``Exception`` that is not a client error (see client_error).

    A cancellation, a closed stream (``GeneratorExit``) or ``KeyboardInterrupt``
    is recorded on the span but does not make it an error.
    """
    return isinstance(exc, Exception) and not client_error(exc)


def end_with(
    span: trace.Span, exc: BaseException, is_error: Callable[[BaseException], bool]
) -> None:
    """Record ``exc`` on ``span``; set the error status when ``is_error(exc)``."""
    if not span.is_recording():
        return
    span.record_exception(exc, escaped=True)
    if is_error(exc):
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


# -- names and attributes -------------------------------------------------------------


def span_name(context: DataContext[Any, Any]) -> str:
    """The default name of a context's span, read when the span ends.

    A Celery task's name (meta ``task_name``); for a request (meta
    ``request``), see :func:`request_span_name`; else ``polydatum.context``.
    """
    meta = context.meta
    task = meta.get("task_name")
    if task:
        return str(task)
    request = meta.get("request")
    if request is not None:
        return request_span_name(request)
    return CONTEXT_SPAN_NAME


def request_span_name(request: Any) -> str:
    """``"{method} {route}"`` for a Flask, Django, Starlette or FastAPI request.

    The route is the pattern that matched (``/notes/<int:id>``), never the
    path, which would give each note its own span name. When no route
    matched (a 404), just the method; for a WebSocket, just the route.
    """
    method = getattr(request, "method", None)
    route = _route(request)
    if method and route:
        return f"{method} {route}"
    # A WebSocket has a route but no method.
    return str(method or route or CONTEXT_SPAN_NAME)


def _route(request: Any) -> str | None:
    rule = getattr(request, "url_rule", None)  # Flask
    if rule is not None:
        return str(rule.rule)
    match = getattr(request, "resolver_match", None)  # Django
    if match is not None:
        return "/" + str(match.route).lstrip("/")
    scope = getattr(request, "scope", None)  # Starlette, FastAPI
    if not isinstance(scope, Mapping):
        return None
    route = scope.get("route")  # FastAPI puts the matched route here
    if route is None:
        endpoint = scope.get("endpoint")
        router = scope.get("router")
        if endpoint is None or router is None:
            return None
        route = next(
            (r for r in getattr(router, "routes", ()) if getattr(r, "endpoint", None) is endpoint),
            None,
        )
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None


def attribute_value(value: Any) -> AttributeValue | None:
    """``value`` as a span attribute: str, bool, int and float as they are, others as str."""
    if value is None:
        return None
    if isinstance(value, str | bool | int | float):
        return value
    return str(value)
