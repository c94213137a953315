"""Per-request cost of Flask with polydatum, svcs and dishka, driven into the WSGI callable.

Every variant does the same handler work: one lazily created,
generator-managed connection (set up on first use, closed after the request)
and the user read from the ``X-User`` header; the view returns both.

Run: ``python bench/bench_flask.py``. ``main()`` returns the table's rows.
Besides wall-clock time (median of interleaved repeats), each row counts the
Python bytecode instructions one request executes: on a busy machine that
count is the steadier measure of the added work.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any

from dishka import Provider, Scope, make_container, provide
from dishka.integrations.flask import FlaskProvider, FromDishka, setup_dishka
from flask import Flask, g, request
from flask_datum import Datum
from polydatum import DataAccessContext, DataManager
from werkzeug.test import EnvironBuilder

with warnings.catch_warnings():
    # svcs imports its FastAPI module, whose starlette TestClient import warns about httpx.
    warnings.simplefilter("ignore")
    import svcs

REPEATS = 9
ITERATIONS = 3000  # per variant and repeat
CHUNK = 100  # variants take turns every CHUNK requests, so load from elsewhere hits all alike
WARMUP = 500

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Conn:
    """Stands in for a database connection."""

    __slots__ = ("open",)

    def __init__(self) -> None:
        self.open = True


def connect() -> Generator[Conn, None, None]:
    conn = Conn()
    try:
        yield conn
    finally:
        conn.open = False


def bare_app() -> Flask:
    """Flask only: the connection managed by hand in ``g`` and a teardown hook."""
    app = Flask("bare")

    def get_conn() -> Conn:
        if "conn_gen" not in g:
            g.conn_gen = gen = connect()
            g.conn = next(gen)
        return g.conn  # type: ignore[no-any-return]

    @app.teardown_appcontext
    def close_conn(exc: BaseException | None) -> None:
        gen = g.pop("conn_gen", None)
        if gen is not None:
            gen.close()

    @app.get("/")
    def view() -> str:
        return f"{get_conn().open} {request.headers.get('X-User')}"

    return app


def polydatum_app() -> Flask:
    """Flask + flask_datum: the connection is a resource, the user is meta."""

    def conn(ctx: DataAccessContext) -> Generator[Conn, None, None]:
        conn = Conn()  # the body of connect(), so no variant pays for a nested generator
        try:
            yield conn
        finally:
            conn.open = False

    dm = DataManager()
    dm.register_resources(conn=conn)
    app = Flask("polydatum")
    Datum(app, dm, meta=lambda req: {"user": req.headers.get("X-User")})

    @app.get("/")
    def view() -> str:
        ctx = request.datum_context  # type: ignore[attr-defined]
        return f"{ctx.conn.open} {ctx.meta.user}"

    return app


def svcs_app() -> Flask:
    """Flask + svcs.flask: the connection is a generator factory."""
    app = svcs.flask.init_app(Flask("svcs"))
    svcs.flask.register_factory(app, Conn, connect)

    @app.get("/")
    def view() -> str:
        return f"{svcs.flask.get(Conn).open} {request.headers.get('X-User')}"

    return app


def dishka_app() -> Flask:
    """Flask + dishka.integrations.flask: the connection is a REQUEST-scoped provider."""

    class Connections(Provider):
        @provide(scope=Scope.REQUEST)
        def conn(self) -> Iterator[Conn]:
            conn = Conn()
            try:
                yield conn
            finally:
                conn.open = False

    app = Flask("dishka")

    @app.get("/")
    def view(conn: FromDishka[Conn]) -> str:
        return f"{conn.open} {request.headers.get('X-User')}"

    setup_dishka(make_container(Connections(), FlaskProvider()), app, auto_inject=True)
    return app


VARIANTS: dict[str, Callable[[], Flask]] = {
    "bare Flask (by hand)": bare_app,
    "Flask + polydatum": polydatum_app,
    "Flask + svcs": svcs_app,
    "Flask + dishka": dishka_app,
}


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
    assert status == "200 OK", status


def _run(app: WSGIApp, environ: dict[str, Any], n: int) -> int:
    """Send ``n`` requests; return the elapsed nanoseconds."""
    start = time.perf_counter_ns()
    for _ in range(n):
        body = app(environ.copy(), _start_response)
        for _chunk in body:
            pass
        body.close()  # type: ignore[attr-defined]
    return time.perf_counter_ns() - start


def _opcodes(app: WSGIApp, environ: dict[str, Any]) -> int:
    """Count the Python bytecode instructions one request executes (a noise-free cost proxy).

    Work done in C (dict copies, generator set-up) is not counted.
    """
    count = 0

    def trace(frame: Any, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        return local

    def local(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "opcode":
            count += 1
        return local

    sys.settrace(trace)
    try:
        _run(app, environ, 1)
    finally:
        sys.settrace(None)
    return count


def main(repeats: int = REPEATS, iterations: int = ITERATIONS) -> list[dict[str, Any]]:
    """Measure every variant ``repeats`` times (interleaved); return one row per variant.

    Each row: ``us_per_request`` (median over repeats), ``overhead_us`` and
    ``overhead_pct`` over bare Flask, ``ratio`` to bare Flask.
    """
    environ = EnvironBuilder(path="/", headers={"X-User": "alice"}).get_environ()
    apps = {name: make().wsgi_app for name, make in VARIANTS.items()}
    samples: dict[str, list[float]] = {name: [] for name in apps}
    for wsgi in apps.values():
        _run(wsgi, environ, WARMUP)
    # The collector is off while timing (as timeit does); a young-generation pass between chunks
    # frees each chunk's cyclic garbage, so no variant pays for another's.
    gc.disable()
    try:
        for _ in range(repeats):
            elapsed = dict.fromkeys(apps, 0)
            for _ in range(iterations // CHUNK):
                for name, wsgi in apps.items():
                    gc.collect(0)
                    elapsed[name] += _run(wsgi, environ, CHUNK)
            for name, ns in elapsed.items():
                samples[name].append(ns / (iterations // CHUNK * CHUNK) / 1000)
    finally:
        gc.enable()
    bare = statistics.median(samples["bare Flask (by hand)"])
    opcodes = {name: _opcodes(wsgi, environ) for name, wsgi in apps.items()}
    bare_ops = opcodes["bare Flask (by hand)"]
    rows = []
    for name, values in samples.items():
        us = statistics.median(values)
        rows.append(
            {
                "variant": name,
                "us_per_request": us,
                "overhead_us": us - bare,
                "overhead_pct": (us - bare) / bare * 100,
                "ratio": us / bare,
                "opcodes": opcodes[name],
                "opcodes_pct": (opcodes[name] - bare_ops) / bare_ops * 100,
            }
        )
    return rows


def _print(rows: list[dict[str, Any]]) -> None:
    print(f"Flask per request, median of {REPEATS} x {ITERATIONS} requests")
    print(
        f"{'variant':<24}{'us/request':>12}{'overhead us':>13}{'overhead %':>12}{'ratio':>8}"
        f"{'opcodes':>9}{'opcodes +%':>12}"
    )
    for row in rows:
        print(
            f"{row['variant']:<24}{row['us_per_request']:>12.2f}{row['overhead_us']:>13.2f}"
            f"{row['overhead_pct']:>11.1f}%{row['ratio']:>8.3f}"
            f"{row['opcodes']:>9}{row['opcodes_pct']:>11.1f}%"
        )


if __name__ == "__main__":
    _print(main())
