"""Per-request cost of a FastAPI app: bare, + polydatum (the ``DAL`` dependency), + svcs, + dishka.

Each variant's ASGI callable is driven directly (no server, no client), as in
``bench_starlette.py``: the path operation gets one lazily created,
generator-managed connection through its framework's dependency, uses it and
returns "ok". Run: ``python bench/bench_fastapi.py``.

No ``from __future__ import annotations`` here: FastAPI resolves the path
operations' annotations (``dal: DAL``, defined inside the factories) at run time.
"""

import asyncio
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from bench_starlette import ASGI, Connection, _measure, connect, things_data_manager
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

ITERATIONS = 10_000
REPEATS = 9


def bare_app() -> tuple[ASGI, dict[str, Any]]:
    """FastAPI with the same work done by hand in the path operation."""
    app = FastAPI()

    @app.get("/", response_class=PlainTextResponse)
    async def endpoint() -> str:
        gen = connect()
        conn = next(gen)
        try:
            conn.ping()
        finally:
            gen.close()
        return "ok"

    return app, {}


def polydatum_app(use_get_dal: bool = False) -> tuple[ASGI, dict[str, Any]]:
    """FastAPI + DatumMiddleware; the path operation takes ``dal: DAL``.

    With ``use_get_dal`` it takes ``request: Request`` and calls ``get_dal(request)``,
    which skips FastAPI's dependency machinery.
    """
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette_datum import DatumMiddleware, get_dal
    from starlette_datum.fastapi import DAL

    dm = things_data_manager()
    app = FastAPI(middleware=[Middleware(DatumMiddleware, data_manager=dm)])

    if use_get_dal:

        @app.get("/", response_class=PlainTextResponse)
        async def get_dal_endpoint(request: Request) -> str:
            get_dal(request).things.ping()
            return "ok"

    else:

        @app.get("/", response_class=PlainTextResponse)
        async def endpoint(dal: DAL) -> str:
            dal.things.ping()
            return "ok"

    return app, {}


def polydatum_get_dal_app() -> tuple[ASGI, dict[str, Any]]:
    """As ``polydatum_app``, the path operation taking ``request: Request`` and ``get_dal``."""
    return polydatum_app(use_get_dal=True)


def svcs_app() -> tuple[ASGI, dict[str, Any]]:
    """FastAPI + svcs.fastapi (``DepContainer``, the registry in the lifespan state)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import svcs

    registry = svcs.Registry()
    registry.register_factory(Connection, connect)
    app = FastAPI()

    @app.get("/", response_class=PlainTextResponse)
    async def endpoint(services: svcs.fastapi.DepContainer) -> str:
        services.get(Connection).ping()
        return "ok"

    # What svcs.fastapi.lifespan puts into the lifespan state.
    return app, {svcs._core._KEY_REGISTRY: registry}


def dishka_app() -> tuple[ASGI, dict[str, Any]]:
    """FastAPI + dishka.integrations.fastapi (``DishkaRoute``, a REQUEST-scoped provider)."""
    from dishka import Provider, Scope, make_async_container, provide
    from dishka.integrations.fastapi import DishkaRoute, FastapiProvider, FromDishka, setup_dishka
    from fastapi import APIRouter

    class Connections(Provider):
        @provide(scope=Scope.REQUEST)
        def connection(self) -> Iterator[Connection]:
            yield from connect()

    router = APIRouter(route_class=DishkaRoute)

    @router.get("/", response_class=PlainTextResponse)
    async def endpoint(conn: FromDishka[Connection]) -> str:
        conn.ping()
        return "ok"

    app = FastAPI()
    app.include_router(router)
    setup_dishka(make_async_container(Connections(), FastapiProvider()), app)
    return app, {}


VARIANTS: dict[str, Callable[[], tuple[ASGI, dict[str, Any]]]] = {
    "bare FastAPI": bare_app,
    "+ polydatum (DAL)": polydatum_app,
    "+ polydatum (get_dal)": polydatum_get_dal_app,
    "+ svcs": svcs_app,
    "+ dishka": dishka_app,
}


def main(iterations: int = ITERATIONS, repeats: int = REPEATS) -> list[dict[str, Any]]:
    """Measure every variant in one run; return one row per variant (us per request)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        medians = asyncio.run(_measure(iterations, repeats, VARIANTS))
    bare = medians["bare FastAPI"]
    return [
        {
            "bench": "fastapi",
            "variant": name,
            "us_per_request": round(us, 2),
            "overhead_pct": round((us - bare) / bare * 100, 1),
        }
        for name, us in medians.items()
    ]


if __name__ == "__main__":
    for row in main():
        print(row)
