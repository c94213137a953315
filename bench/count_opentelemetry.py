"""What tracing costs: instructions per context cycle and per Starlette request, with callgrind.

The core cycle is ``bench_core``'s (a context with a user in meta, one
middleware, one lazily set-up generator resource, one service call); the
Starlette request is ``bench_starlette``'s ``+ polydatum`` variant. Each is
counted without tracing, with ``TracingMiddleware`` and the OpenTelemetry API
alone (no SDK: what a library user who never set tracing up pays), and with
the SDK, without and with ``instrument(dm)`` (4 spans per cycle then: the
context, the service call, the resource's set-up and teardown). The SDK's spans
go through a ``SimpleSpanProcessor`` to an exporter that drops them, so the
figures are the spans' own cost; a real exporter adds its encoding, usually
off the request path in a ``BatchSpanProcessor``'s thread. Needs valgrind, the
``bench`` and ``dev`` dependency groups (``dev`` brings ``opentelemetry-sdk``).

Run: ``.venv/bin/python bench/count_opentelemetry.py [variant ...]``
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from _callgrind import have_valgrind, per_iteration

HERE = Path(__file__).resolve().parent

#: Tracing set-ups: None (no tracing), "api" (the API alone), "sdk", "sdk+instrument".
TRACINGS = (None, "api", "sdk", "sdk+instrument")


def _provider(tracing: str | None) -> Any:
    """The tracer provider of a set-up: None for the API alone, else an SDK one dropping spans."""
    if tracing in (None, "api"):
        return None
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Drop()))
    return provider


def _trace(dm: Any, tracing: str | None, *middleware: Any) -> None:
    """Register ``middleware`` on ``dm``, after a TracingMiddleware unless ``tracing`` is None."""
    if tracing is None:
        dm.register_context_middleware(*middleware)
        return
    from polydatum.contrib.opentelemetry import TracingMiddleware, instrument

    provider = _provider(tracing)
    dm.register_context_middleware(TracingMiddleware(tracer_provider=provider), *middleware)
    if tracing == "sdk+instrument":
        instrument(dm, tracer_provider=provider)


def yardstick() -> Callable[[int], None]:
    """The sync core cycle whose middleware starts and ends one SDK span by hand (not current).

    The least any tracing of a context costs with the SDK: what ``TracingMiddleware``
    adds beyond it is its own work.
    """
    import bench_core as b
    from polydatum import DataManager, Service

    tracer = _provider("sdk").get_tracer("yardstick")

    class Users(Service):
        def whoami(self) -> tuple[Any, Any]:
            ctx = self._ctx
            return ctx.meta.user, ctx.db

    def middleware(ctx: Any) -> Iterator[None]:
        span = tracer.start_span("context")
        yield
        span.end()

    dm = DataManager()
    dm.register_services(users=Users())
    dm.register_resources(db=b.conn_gen)
    dm.register_context_middleware(middleware)
    dal = dm.get_dal()

    def run(n: int) -> None:
        for _ in range(n):
            with dm.context({"user": "bob"}):
                user, conn = dal.users.whoami()
                assert user == "bob"
                assert conn is not None

    return run


def core(tracing: str | None, is_async: bool = False) -> Callable[[int], None]:
    """bench_core's sync (or async) cycle, on a DataManager traced as ``tracing`` says."""
    import bench_core as b
    from polydatum import DataManager, Service

    class Users(Service):
        def whoami(self) -> tuple[Any, Any]:
            ctx = self._ctx
            return ctx.meta.user, ctx.db

        async def awhoami(self) -> tuple[Any, Any]:
            ctx = self._ctx
            return ctx.meta.user, await ctx.aget("db")

    def middleware(ctx: Any) -> Iterator[None]:
        yield

    async def adb(ctx: Any) -> Any:
        yield b.Conn()

    dm = DataManager()
    dm.register_services(users=Users())
    dm.register_resources(db=adb if is_async else b.conn_gen)
    _trace(dm, tracing, middleware)
    dal = dm.get_dal()

    def run(n: int) -> None:
        for _ in range(n):
            with dm.context({"user": "bob"}):
                user, conn = dal.users.whoami()
                assert user == "bob"
                assert conn is not None

    def arun(n: int) -> None:
        async def go() -> None:
            for _ in range(n):
                async with dm.context({"user": "bob"}):
                    user, conn = await dal.users.awhoami()
                    assert user == "bob"
                    assert conn is not None

        asyncio.run(go())

    return arun if is_async else run


def starlette(tracing: str | None) -> Callable[[int], None]:
    """bench_starlette's ``+ polydatum`` request, on a DataManager traced as ``tracing`` says."""
    import bench_starlette as b
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette_datum import DatumMiddleware

    dm = b.things_data_manager()
    if tracing is not None:
        _trace(dm, tracing)

    async def endpoint(request: Request) -> PlainTextResponse:
        request.state.dal.things.ping()
        return b.ok()

    middleware = [Middleware(DatumMiddleware, data_manager=dm)]
    app = Starlette(routes=[Route("/", endpoint)], middleware=middleware)

    def run(n: int) -> None:
        async def go() -> None:
            await b._run(app, {}, 50)  # build the middleware stack, warm caches
            await b._run(app, {}, n)

        asyncio.run(go())

    return run


_LABELS = {
    None: "no tracing",
    "api": "TracingMiddleware, API only",
    "sdk": "TracingMiddleware, SDK",
    "sdk+instrument": "+ instrument(dm), SDK",
}

#: variant -> expression (in this module) giving a function of the number of iterations.
VARIANTS = {
    **{f"core sync: {_LABELS[t]}": f"m.core({t!r})" for t in TRACINGS},
    "core sync: one SDK span by hand (yardstick)": "m.yardstick()",
    **{f"core async: {_LABELS[t]}": f"m.core({t!r}, is_async=True)" for t in TRACINGS},
    **{f"Starlette: {_LABELS[t]}": f"m.starlette({t!r})" for t in TRACINGS},
}

_DRIVER = """
import sys, warnings
sys.path.insert(0, {here!r})
warnings.simplefilter("ignore", DeprecationWarning)
import count_opentelemetry as m
fn = {expression}
fn(int(sys.argv[1]))
"""


def main(names: list[str] | None = None) -> list[dict[str, object]]:
    """Count each (or each named) variant; return one row per variant."""
    if not have_valgrind():
        return []
    rows: list[dict[str, object]] = []
    base: int | None = None
    for name, expression in VARIANTS.items():
        if names and not any(wanted in name for wanted in names):
            continue
        count = per_iteration(_DRIVER.format(here=str(HERE), expression=expression))
        if name.endswith(_LABELS[None]):
            base = count
        row: dict[str, object] = {"variant": name, "instructions": count}
        extra = f"{count - base:>+9,}" if base is not None else ""
        if base is not None:
            row["added"] = count - base
        rows.append(row)
        print(f"  {name:50} {count:>9,} {extra}", flush=True)
    return rows


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main(sys.argv[1:])
