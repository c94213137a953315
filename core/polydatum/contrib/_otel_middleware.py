"""``TracingMiddleware``: one OpenTelemetry span per data context."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from contextvars import Token
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from polydatum.errors import MiddlewareSetupException
from polydatum.util import describe

from ._otel_spans import (
    CONTEXT_SPAN_NAME,
    CURRENT,
    OpenSpan,
    attribute_value,
    default_is_error,
    end_with,
    get_tracer,
    repair_stale,
    span_name,
)

if TYPE_CHECKING:
    from opentelemetry.util.types import AttributeValue

    from polydatum.context import Context as DataContext
    from polydatum.dal import DataManager

__all__ = ["META_ATTRIBUTE_PREFIX", "TracingMiddleware", "first_tracing_error"]

#: Meta keys named in ``meta_attributes=`` become span attributes under this prefix.
META_ATTRIBUTE_PREFIX = "polydatum.meta."


class TracingMiddleware:
    """Context middleware: one span per data context, ended after the commit.

    Register it **first**, before the transaction middleware::

        dm.register_context_middleware(TracingMiddleware(), TransactionMiddleware("db"))

    Middleware is torn down in reverse order of registration, so the first
    one ends last: its span then covers every other middleware's teardown,
    the commit included, and a failed commit shows as an error span. A
    context whose middleware list does not start with it fails to open,
    saying so (``instrument(dm)`` checks at start-up).

    The span is a child of the span current when the context opens (the web
    framework's server span, Celery's task span) and, if it records (an SDK
    is set up and sampled it), is current while the context runs, so spans of
    services, resources and libraries nest in it.
    The context's exception is recorded on it, and makes it an error when
    ``is_error(exc)`` says so.

    Args:
        tracer_provider: where spans go (default: the global provider, looked up
            when the first span starts, so this may be built before it is set).
        name: called with the context when the span ends, returns its name
            (default :func:`span_name`: the task's name, the request's method and
            route).
        meta_attributes: meta keys whose values become attributes
            ``polydatum.meta.<key>`` (read when the span starts, if it records:
            a lazy value is loaded then; None is left out, values other than
            str, bool, int and float are set as their ``str()``).
        attributes: called with the context when the span starts (if it
            records), returns more attributes.
        is_error: called with the context's exception; True makes the span an
            error (default: any ``Exception`` except a 4xx client error).

    Raises:
        TypeError: an argument is of the wrong kind.
    """

    __slots__ = ("_attributes", "_is_error", "_meta_attributes", "_name", "_tracer")

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        name: Callable[[Any], str] | None = None,
        meta_attributes: Iterable[str] = (),
        attributes: Callable[[Any], Mapping[str, Any]] | None = None,
        is_error: Callable[[BaseException], bool] | None = None,
    ) -> None:
        for label, value in (("name", name), ("attributes", attributes), ("is_error", is_error)):
            if value is not None and not callable(value):
                raise TypeError(
                    f"TracingMiddleware({label}=...) takes a callable or None; got {value!r}."
                )
        keys = () if isinstance(meta_attributes, str) else tuple(meta_attributes)
        if (not keys and meta_attributes) or not all(isinstance(key, str) for key in keys):
            raise TypeError(
                "TracingMiddleware(meta_attributes=...) takes meta keys, e.g. "
                f'meta_attributes=("task_id", "tenant"); got {meta_attributes!r}.'
            )
        self._tracer = get_tracer(tracer_provider)
        self._name = name or span_name
        self._meta_attributes = tuple((key, META_ATTRIBUTE_PREFIX + key) for key in keys)
        self._attributes = attributes
        self._is_error = is_error or default_is_error

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __call__(self, context: DataContext[Any, Any]) -> Generator[None, None, None]:
        """Open the context's span, current until the context's other middleware closed."""
        chain = context.data_manager.get_middleware(context)
        if not chain or chain[0] is not self:
            raise order_error(chain, self)
        repair_stale()
        previous = otel_context.get_current()
        span = self._tracer.start_span(CONTEXT_SPAN_NAME, previous)
        if not span.is_recording():
            # No SDK, or not sampled: nothing to record, nothing to make current (the
            # span current now stays the parent of whatever starts in the context).
            yield
            return
        if self._meta_attributes or self._attributes is not None:
            span.set_attributes(self._start_attributes(context))
        otel_ctx = trace.set_span_in_context(span, previous)
        token = otel_context.attach(otel_ctx)
        record = OpenSpan(span, otel_ctx, previous)
        here = CURRENT.set(record)
        try:
            yield
        except BaseException as exc:
            end_with(span, exc, self._is_error)
            raise
        finally:
            try:
                span.update_name(self._name(context))
            finally:
                record.ended = True
                _leave(record, token, here)
                span.end()

    def _start_attributes(self, context: DataContext[Any, Any]) -> dict[str, AttributeValue]:
        found: dict[str, AttributeValue] = {}
        meta = context.meta
        for key, attribute in self._meta_attributes:
            value = attribute_value(meta.get(key))
            if value is not None:
                found[attribute] = value
        if self._attributes is not None:
            for attribute, raw in self._attributes(context).items():
                value = attribute_value(raw)
                if value is not None:
                    found[attribute] = value
        return found


def _leave(record: OpenSpan, token: Token[Any], here: Token[OpenSpan | None]) -> None:
    """Make current again what was current before the context's span started."""
    try:
        CURRENT.reset(here)
    except ValueError:
        # Closed from another contextvars.Context (a thread, an event loop of its
        # own): restore by value here; the Context the span opened in is restored
        # when its next context opens (repair_stale).
        if otel_context.get_current() is record.otel_context:
            otel_context.attach(record.previous)
            old = here.old_value
            CURRENT.set(None if old is Token.MISSING else old)
        return
    # Only when still current: a framework's own instrumentation may have ended
    # its span first (a streamed body outlives the view), restoring its own state.
    if otel_context.get_current() is record.otel_context:
        otel_context.detach(token)


def order_error(chain: Sequence[Any], tracing: TracingMiddleware) -> MiddlewareSetupException:
    """The error for ``tracing`` not being the first middleware of ``chain``."""
    position = next((i for i, m in enumerate(chain) if m is tracing), len(chain))
    before = ", ".join(describe_middleware(m) for m in chain[:position]) or "nothing"
    return MiddlewareSetupException(
        "TracingMiddleware must be the first context middleware, so its span ends after the "
        f"others' teardown (a commit that fails then shows as an error); it comes after "
        f"{before}. Register it first: dm.register_context_middleware(TracingMiddleware(), "
        'TransactionMiddleware("db"), ...).'
    )


def first_tracing_error(dm: DataManager[Any, Any]) -> MiddlewareSetupException | None:
    """The error for ``dm``'s registered TracingMiddleware not coming first, or None.

    Asks ``dm.get_middleware`` with a context that is never entered.
    """
    chain = list(dm.get_middleware(dm.context()))
    tracing = next((m for m in chain if isinstance(m, TracingMiddleware)), None)
    if tracing is None or chain[0] is tracing:
        return None
    return order_error(chain, tracing)


def describe_middleware(middleware: Any) -> str:
    """A middleware as an error message names it: an object by its repr, a function by name."""
    own_repr: Any = type(middleware).__repr__
    if not hasattr(middleware, "__qualname__") and own_repr is not object.__repr__:
        return repr(middleware)
    return describe(middleware)
