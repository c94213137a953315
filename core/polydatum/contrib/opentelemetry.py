"""OpenTelemetry for polydatum: a span per data context, and spans for resources and services.

Install the extra (``pip install 'polydatum[opentelemetry]'``: the OpenTelemetry
API only; your app brings the SDK and an exporter), then register the
middleware **first**, so its span ends after the commit::

    dm.register_context_middleware(TracingMiddleware(), TransactionMiddleware("db"))
    instrument(dm)  # optional: spans for resource set-up/teardown and service calls

Each context (a request, a Celery task) gets a span named after it (the
task's name, the request's method and route), a child of the span current
when the context opens (the web framework's or Celery's own instrumentation).
The context's exception is recorded on it and, unless it is a 4xx client
error, makes it an error span; so does a commit that fails. Without the
middleware and ``instrument()``, nothing of this runs: tracing that is not
switched on costs nothing per request.
"""

from __future__ import annotations

from ._otel_instrument import RESOURCE_ATTRIBUTE, SERVICE_ATTRIBUTE, instrument, uninstrument
from ._otel_middleware import META_ATTRIBUTE_PREFIX, TracingMiddleware
from ._otel_spans import (
    CONTEXT_SPAN_NAME,
    client_error,
    context_span,
    default_is_error,
    request_span_name,
    span_name,
)

__all__ = [
    "CONTEXT_SPAN_NAME",
    "META_ATTRIBUTE_PREFIX",
    "RESOURCE_ATTRIBUTE",
    "SERVICE_ATTRIBUTE",
    "TracingMiddleware",
    "client_error",
    "context_span",
    "default_is_error",
    "instrument",
    "request_span_name",
    "span_name",
    "uninstrument",
]
