"""``instrument(dm)``: spans for resource set-up and teardown and for service method calls.

It wraps what is registered (resource factories, service methods); nothing
changes in a context's own steps, so a DataManager left alone pays nothing.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from collections.abc import AsyncGenerator, Callable, Generator, Iterator
from contextvars import Token
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context

from polydatum.services import Service
from polydatum.util import is_async_generator

from ._otel_middleware import first_tracing_error
from ._otel_spans import CURRENT, default_is_error, end_with, get_tracer, parent_context

if TYPE_CHECKING:
    from polydatum.context import DataAccessContext
    from polydatum.dal import DataManager
    from polydatum.resources import ResourceFactory

__all__ = ["instrument", "uninstrument"]

#: Attribute of resource spans: the resource's registered name.
RESOURCE_ATTRIBUTE = "polydatum.resource"
#: Attribute of service spans: the service's path on the DAL (``notes``, ``notes.tags``).
SERVICE_ATTRIBUTE = "polydatum.service"
_MISSING: Any = object()


class _Traced:
    """What ``instrument`` changed on one DataManager, to undo it."""

    __slots__ = ("methods", "resources")

    def __init__(self) -> None:
        self.resources: dict[str, _TracedResource | _AsyncTracedResource] = {}
        self.methods: list[tuple[Service, str]] = []


_TRACED: weakref.WeakKeyDictionary[DataManager[Any, Any], _Traced] = weakref.WeakKeyDictionary()


def instrument(
    dm: DataManager[Any, Any],
    *,
    resources: bool = True,
    services: bool = True,
    tracer_provider: trace.TracerProvider | None = None,
) -> None:
    """Trace ``dm``'s resources and service methods; call it once all are registered.

    - ``resources``: a span for each resource's set-up (``resource db setup``:
      the time to check a connection out) and one for its teardown
      (``resource db teardown``: handing it back), children of the context's
      span.
    - ``services``: a span for each call of a public service method
      (``dal.notes.create``), sync or async; generator methods are left out.

    Resources and services registered (or replaced) later are not traced. A
    second call undoes the first one before it applies. It also checks that a
    registered :class:`TracingMiddleware` comes first, so a wrong order fails
    at start-up.

    Raises:
        MiddlewareSetupException: a TracingMiddleware is registered, not first.
    """
    error = first_tracing_error(dm)
    if error is not None:
        raise error
    uninstrument(dm)
    tracer = get_tracer(tracer_provider)
    traced = _TRACED[dm] = _Traced()
    if resources:
        for name in dm.resource_names():
            factory = dm.get_resource(name)
            assert factory is not None
            wrapper = (
                _AsyncTracedResource(name, factory, tracer)
                if is_async_generator(factory)
                else _TracedResource(name, factory, tracer)
            )
            dm.replace_resource(name, wrapper)
            traced.resources[name] = wrapper
    if services:
        top = [(name, dm.get_service(name)) for name in dm.service_names()]
        for path, service in _services([(n, s) for n, s in top if s is not None]):
            for method in _public_methods(service):
                call = _traced_method(tracer, path, method, getattr(service, method))
                setattr(service, method, call)
                traced.methods.append((service, method))


def uninstrument(dm: DataManager[Any, Any]) -> None:
    """Undo :func:`instrument` on ``dm`` (a resource replaced since is left as it is)."""
    traced = _TRACED.pop(dm, None)
    if traced is None:
        return
    for name, wrapper in traced.resources.items():
        factory = wrapper.factory
        if dm.get_resource(name) is wrapper:
            dm.replace_resource(name, factory)
    for service, method in traced.methods:
        service.__dict__.pop(method, None)


def _services(top: list[tuple[str, Service]]) -> Iterator[tuple[str, Service]]:
    """Each service once, with its path on the DAL, top-level ones first, then sub-services."""
    seen: set[int] = set()
    queue = top
    while queue:
        path, service = queue.pop(0)
        if id(service) in seen:
            continue
        seen.add(id(service))
        yield path, service
        for key, value in list(vars(service).items()):
            if isinstance(value, Service) and not key.startswith("_"):
                queue.append((f"{path}.{key}", value))


def _public_methods(service: Service) -> list[str]:
    """Names of the plain (sync or async) public methods of ``service``'s own classes."""
    names = []
    for name in dir(type(service)):
        if name.startswith("_") or name in vars(service) or hasattr(Service, name):
            continue
        attr = inspect.getattr_static(service, name)
        if not inspect.isfunction(attr):
            continue  # properties, class and static methods, plain values
        if inspect.isgeneratorfunction(attr) or inspect.isasyncgenfunction(attr):
            continue  # a span would end before the work is done
        names.append(name)
    return names


def _traced_method(
    tracer: trace.Tracer, path: str, name: str, method: Callable[..., Any]
) -> Callable[..., Any]:
    """``method`` (service ``path``'s method ``name``), each call a span ``dal.<path>.<name>``."""
    span = f"dal.{path}.{name}"
    attributes = {SERVICE_ATTRIBUTE: path}
    if inspect.iscoroutinefunction(method):

        async def traced_async(*args: Any, **kwargs: Any) -> Any:
            parent = parent_context()
            current = tracer.start_span(span, parent, attributes=attributes)
            if not current.is_recording():
                return await method(*args, **kwargs)
            token = otel_context.attach(trace.set_span_in_context(current, parent))
            try:
                return await method(*args, **kwargs)
            except BaseException as exc:
                end_with(current, exc, default_is_error)
                raise
            finally:
                otel_context.detach(token)
                current.end()

        return functools.update_wrapper(traced_async, method)

    def traced(*args: Any, **kwargs: Any) -> Any:
        parent = parent_context()
        current = tracer.start_span(span, parent, attributes=attributes)
        if not current.is_recording():
            return method(*args, **kwargs)
        token = otel_context.attach(trace.set_span_in_context(current, parent))
        try:
            return method(*args, **kwargs)
        except BaseException as exc:
            end_with(current, exc, default_is_error)
            raise
        finally:
            otel_context.detach(token)
            current.end()

    return functools.update_wrapper(traced, method)


# -- resources ------------------------------------------------------------------------


def _end(span: trace.Span, token: Token[Context] | None) -> None:
    if token is not None:
        otel_context.detach(token)
    span.end()


class _TracedResource:
    """A sync resource factory whose set-up and teardown are spans."""

    __slots__ = ("_attributes", "_setup", "_teardown", "_tracer", "factory", "name")

    def __init__(self, name: str, factory: ResourceFactory, tracer: trace.Tracer) -> None:
        self.name = name
        self.factory = factory
        self._tracer = tracer
        self._setup = f"resource {name} setup"
        self._teardown = f"resource {name} teardown"
        self._attributes = {RESOURCE_ATTRIBUTE: name}

    def __getattr__(self, name: str) -> Any:
        # The wrapped factory's public attributes (a ConnectionResource's engine...);
        # not ``setup``, which replace_resource would call on the factory again.
        if name.startswith("_") or name in ("factory", "setup"):
            raise AttributeError(name)
        return getattr(self.factory, name)

    def __repr__(self) -> str:
        return f"<traced {self.factory!r}>"

    def _span(self, name: str, parent: Context | None) -> tuple[trace.Span, Token[Context] | None]:
        """Start span ``name``; make it current if it records (else the token is None)."""
        span = self._tracer.start_span(name, parent, attributes=self._attributes)
        if not span.is_recording():
            return span, None
        return span, otel_context.attach(trace.set_span_in_context(span, parent))

    def __call__(self, context: DataAccessContext) -> Generator[Any, None, None]:
        span, token = self._span(self._setup, parent_context())
        if token is None:
            # Nothing records (no SDK, or not sampled): the factory's own generator.
            yield from self.factory(context)  # type: ignore[misc]
            return
        try:
            gen: Any = self.factory(context)
            value = next(gen, _MISSING)
        except BaseException as exc:
            end_with(span, exc, default_is_error)
            raise
        finally:
            _end(span, token)
        if value is _MISSING:
            return  # the context reports that it did not yield
        # The teardown runs after the context's middleware: its parent is the context's span.
        record = CURRENT.get()
        parent = record.otel_context if record is not None else None
        try:
            yield value
        except GeneratorExit:
            gen.close()
            raise
        except BaseException as exc:
            span, token = self._span(self._teardown, parent)
            try:
                extra = gen.throw(exc)
            except StopIteration:
                return
            except BaseException as err:
                if err is not exc:
                    end_with(span, err, default_is_error)
                raise
            finally:
                _end(span, token)
            yield extra  # the context reports that it did not stop
            return
        span, token = self._span(self._teardown, parent)
        try:
            extra = next(gen, _MISSING)
        except BaseException as err:
            end_with(span, err, default_is_error)
            raise
        finally:
            _end(span, token)
        if extra is not _MISSING:
            try:
                yield extra  # a second value: the context reports it
            finally:
                gen.close()


class _AsyncTracedResource(_TracedResource):
    """Async twin of :class:`_TracedResource`, for async generator factories."""

    __slots__ = ()

    async def __call__(self, context: DataAccessContext) -> AsyncGenerator[Any, None]:  # type: ignore[override]
        span, token = self._span(self._setup, parent_context())
        try:
            gen: Any = self.factory(context)
            value = await anext(gen, _MISSING)
        except BaseException as exc:
            end_with(span, exc, default_is_error)
            raise
        finally:
            _end(span, token)
        if value is _MISSING:
            return
        record = CURRENT.get()
        parent = record.otel_context if record is not None else None
        try:
            yield value
        except GeneratorExit:
            # Closed by the event loop it ran in, as that loop shut down (an async
            # view's own loop), before its context closes.
            span, token = self._span(self._teardown, parent)
            try:
                await gen.aclose()
            finally:
                _end(span, token)
            raise
        except BaseException as exc:
            span, token = self._span(self._teardown, parent)
            try:
                extra = await gen.athrow(exc)
            except StopAsyncIteration:
                return
            except BaseException as err:
                if err is not exc:
                    end_with(span, err, default_is_error)
                raise
            finally:
                _end(span, token)
            yield extra
            return
        span, token = self._span(self._teardown, parent)
        try:
            extra = await anext(gen, _MISSING)
        except BaseException as err:
            end_with(span, err, default_is_error)
            raise
        finally:
            _end(span, token)
        if extra is not _MISSING:
            try:
                yield extra
            finally:
                await gen.aclose()
