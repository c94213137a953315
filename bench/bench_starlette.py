"""Per-request cost of a Starlette app: bare, + polydatum, + svcs, + dishka (and a yardstick).

Each variant's ASGI callable is driven directly (no server, no client): the
handler gets one lazily created, generator-managed connection, uses it and
returns "ok". Variants are timed in turns within one run; the figure is the
median over the repeats. "+ floor" is a yardstick, not a peer: the least a
plugin closing the request's resources before the response starts can do.
Run: ``python bench/bench_starlette.py``.
"""

from __future__ import annotations

import asyncio
import contextvars
import statistics
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from polydatum import DataManager

ASGI = Callable[[dict[str, Any], Any, Any], Awaitable[None]]

ITERATIONS = 20_000
REPEATS = 9


class Connection:
    """Stands in for a database connection: cheap to open, must be closed."""

    __slots__ = ("closed",)

    def __init__(self) -> None:
        self.closed = False

    def ping(self) -> int:
        return 1

    def close(self) -> None:
        self.closed = True


def connect() -> Iterator[Connection]:
    conn = Connection()
    try:
        yield conn
    finally:
        conn.close()


def ok() -> PlainTextResponse:
    return PlainTextResponse("ok")


def bare_app() -> tuple[ASGI, dict[str, Any]]:
    """Starlette with the same work done by hand in the handler."""

    async def endpoint(request: Request) -> PlainTextResponse:
        gen = connect()
        conn = next(gen)
        try:
            conn.ping()
        finally:
            gen.close()
        return ok()

    return Starlette(routes=[Route("/", endpoint)]), {}


def floor_app() -> tuple[ASGI, dict[str, Any]]:
    """The least such a plugin can do, as a yardstick: no polydatum, no meta, no error policy.

    A pure ASGI middleware sets a ContextVar around the app and wraps ``send``
    to hold ``http.response.start`` until the body, closing the request's one
    generator-managed connection there; the handler finds its state in the
    ContextVar.
    """
    current: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
        "floor", default=None
    )

    class Floor:
        def __init__(self, app: ASGI) -> None:
            self.app = app

        async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await self.app(scope, receive, send)
                return
            state: dict[str, Any] = {"gen": None, "held": None}
            token = current.set(state)

            async def held_send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    state["held"] = message
                    return
                gen = state["gen"]
                if gen is not None:
                    for _ in gen:
                        pass
                await send(state["held"])
                await send(message)

            try:
                await self.app(scope, receive, held_send)
            finally:
                current.reset(token)

    async def endpoint(request: Request) -> PlainTextResponse:
        state = current.get()
        assert state is not None
        gen = connect()
        conn = next(gen)
        state["gen"] = gen
        conn.ping()
        return ok()

    return Starlette(routes=[Route("/", endpoint)], middleware=[Middleware(Floor)]), {}


def things_data_manager() -> DataManager:
    """The DataManager of every polydatum variant: ``things.ping()`` reads ``ctx.db``."""
    from polydatum import DataAccessContext, DataManager, Service

    class Things(Service):
        def ping(self) -> int:
            return self._ctx.db.ping()  # type: ignore[no-any-return]

    def db(context: DataAccessContext) -> Iterator[Connection]:
        conn = Connection()
        try:
            yield conn
        finally:
            conn.close()

    dm = DataManager()
    dm.register_resources(db=db)
    dm.register_services(things=Things())
    return dm


def polydatum_app(use_get_dal: bool = False) -> tuple[ASGI, dict[str, Any]]:
    """Starlette + DatumMiddleware; a service reads the lazily set-up resource.

    The endpoint reaches the DAL with ``request.state.dal``, or with
    ``get_dal(request)`` when ``use_get_dal`` is true.
    """
    from starlette_datum import DatumMiddleware, get_dal

    dm = things_data_manager()

    async def endpoint(request: Request) -> PlainTextResponse:
        request.state.dal.things.ping()
        return ok()

    async def get_dal_endpoint(request: Request) -> PlainTextResponse:
        get_dal(request).things.ping()
        return ok()

    route = Route("/", get_dal_endpoint if use_get_dal else endpoint)
    middleware = [Middleware(DatumMiddleware, data_manager=dm)]
    return Starlette(routes=[route], middleware=middleware), {}


def polydatum_get_dal_app() -> tuple[ASGI, dict[str, Any]]:
    """As ``polydatum_app``, reaching the DAL with ``get_dal(request)`` (no ``request.state``)."""
    return polydatum_app(use_get_dal=True)


def svcs_app() -> tuple[ASGI, dict[str, Any]]:
    """Starlette + svcs.starlette (lifespan registry, container per request)."""
    import svcs

    registry = svcs.Registry()
    registry.register_factory(Connection, connect)

    async def endpoint(request: Request) -> PlainTextResponse:
        svcs.starlette.svcs_from(request).get(Connection).ping()
        return ok()

    app = Starlette(
        routes=[Route("/", endpoint)], middleware=[Middleware(svcs.starlette.SVCSMiddleware)]
    )
    # What svcs.starlette.lifespan puts into the lifespan state.
    return app, {svcs._core._KEY_REGISTRY: registry}


def dishka_app() -> tuple[ASGI, dict[str, Any]]:
    """Starlette + dishka.integrations.starlette (REQUEST-scoped container)."""
    from dishka import Provider, Scope, make_async_container, provide
    from dishka.integrations.starlette import ContainerMiddleware, StarletteProvider

    class Connections(Provider):
        @provide(scope=Scope.REQUEST)
        def connection(self) -> Iterator[Connection]:
            yield from connect()

    async def endpoint(request: Request) -> PlainTextResponse:
        (await request.state.dishka_container.get(Connection)).ping()
        return ok()

    app = Starlette(routes=[Route("/", endpoint)], middleware=[Middleware(ContainerMiddleware)])
    # What dishka.integrations.starlette.setup_dishka does, without its deprecation warning.
    app.state.dishka_container = make_async_container(Connections(), StarletteProvider())
    return app, {}


VARIANTS: dict[str, Callable[[], tuple[ASGI, dict[str, Any]]]] = {
    "bare Starlette": bare_app,
    "+ floor (yardstick)": floor_app,
    "+ polydatum": polydatum_app,
    "+ polydatum (get_dal)": polydatum_get_dal_app,
    "+ svcs": svcs_app,
    "+ dishka": dishka_app,
}

SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.4"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/",
    "raw_path": b"/",
    "root_path": "",
    "query_string": b"",
    "headers": [(b"host", b"bench")],
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 8000),
}

_REQUEST = {"type": "http.request", "body": b"", "more_body": False}


async def _receive() -> dict[str, Any]:
    return _REQUEST


async def _run(app: ASGI, state: dict[str, Any], n: int) -> int:
    """Serve ``n`` requests; return the elapsed nanoseconds."""
    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    template = SCOPE
    start = time.perf_counter_ns()
    for _ in range(n):
        scope = dict(template)
        scope["state"] = state.copy()
        await app(scope, _receive, send)
    elapsed = time.perf_counter_ns() - start
    if statuses.count(200) != n:
        raise RuntimeError(f"{app!r} did not answer 200 to every request: {set(statuses)}")
    return elapsed


async def _measure(
    iterations: int,
    repeats: int,
    variants: dict[str, Callable[[], tuple[ASGI, dict[str, Any]]]] = VARIANTS,
) -> dict[str, float]:
    """The median us per request of each variant, the variants interleaved in every repeat."""
    apps = {name: factory() for name, factory in variants.items()}
    for app, state in apps.values():
        await _run(app, state, 500)  # build middleware stacks, warm caches
    samples: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(repeats):
        for name, (app, state) in apps.items():
            samples[name].append(await _run(app, state, iterations) / iterations / 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def main(iterations: int = ITERATIONS, repeats: int = REPEATS) -> list[dict[str, Any]]:
    """Measure every variant in one run; return one row per variant (us per request)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        medians = asyncio.run(_measure(iterations, repeats))
    bare = medians["bare Starlette"]
    return [
        {
            "bench": "starlette",
            "variant": name,
            "us_per_request": round(us, 2),
            "overhead_us": round(us - bare, 2),
            "overhead_pct": round((us - bare) / bare * 100, 1),
        }
        for name, us in medians.items()
    ]


def _print(rows: list[dict[str, Any]]) -> None:
    print(f"Starlette, per request, median of {REPEATS} x {ITERATIONS:,} requests")
    print(f"{'variant':<22} {'us/request':>10} {'overhead us':>12} {'overhead %':>11}")
    for row in rows:
        print(
            f"{row['variant']:<22} {row['us_per_request']:>10.2f} "
            f"{row['overhead_us']:>+12.2f} {row['overhead_pct']:>+10.1f}%"
        )


if __name__ == "__main__":
    _print(main())
