"""Per-request cost of django_datum, driven straight into Django's WSGI and ASGI handlers.

Every variant does the same work per request: open a data context with the
request and a lazy user in meta, call one service that sets up one
generator-managed connection and reads the request, close, answer "ok".

- ``by hand``: no middleware; the view opens ``with dm.dal(meta=...)`` itself.
- ``django_datum``: ``DatumMiddleware`` opens the context; the view uses ``request.dal``.
- ``no polydatum``: the view builds the connection with a bare generator (bare Django).
- ``svcs`` / ``dishka``: the peers have no Django integration; each gets the minimal
  per-request middleware (a container per request, closed after the view) and the
  view gets the connection from the container.

Run: ``.venv/bin/python bench/bench_django.py`` (one table, median of the repeats).
"""

from __future__ import annotations

import asyncio
import io
import statistics
import sys
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for sub in ("core", "integrations"):
    if str(ROOT / sub) not in sys.path:
        sys.path.insert(0, str(ROOT / sub))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    DATABASES={},
    USE_TZ=True,
    DATUM={"DATA_MANAGER": f"{__name__}.dm"},
    LOGGING_CONFIG=None,
)
django.setup()

from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.urls import path  # noqa: E402
from polydatum import DataAccessContext, DataManager, Service, lazy  # noqa: E402

ROUNDS = 31
WSGI_ITERATIONS = 400
# Django's ASGI handler starts a thread per request, which makes it slow and noisy:
# more, longer rounds.
ASGI_ROUNDS = 41
ASGI_ITERATIONS = 120


def connection(context: DataAccessContext) -> Generator[object, None, None]:
    """A generator-managed connection, set up lazily."""
    conn = object()
    yield conn


class Work(Service):
    """The per-request work: one resource and one meta read."""

    def run(self) -> str:
        ctx = self._ctx
        ctx.connection  # noqa: B018 - sets the resource up
        return "ok" if ctx.meta.request is not None else "no"


dm = DataManager()
dm.register_resources(connection=connection)
dm.register_services(work=Work())


def _meta(request: HttpRequest) -> dict[str, Any]:
    return {"request": request, "user": lazy(lambda: getattr(request, "user", None))}


def by_hand(request: HttpRequest) -> HttpResponse:
    with dm.dal(_meta(request)) as dal:
        return HttpResponse(dal.work.run())


def with_plugin(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.dal.work.run())  # type: ignore[attr-defined]


def no_polydatum(request: HttpRequest) -> HttpResponse:
    def conn() -> Generator[object, None, None]:
        yield object()

    gen = conn()
    next(gen)
    body = "ok" if request is not None else "no"
    for _ in gen:
        pass
    return HttpResponse(body)


class Conn:
    """What the peers' containers create (one per request)."""


def conn_factory() -> Generator[Conn, None, None]:
    yield Conn()


def _svcs_registry() -> Any:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # svcs imports its FastAPI module, which may warn
        import svcs

    registry = svcs.Registry()
    registry.register_factory(Conn, conn_factory)
    return svcs, registry


def _dishka_container() -> Any:
    from dishka import Provider, Scope, make_container, provide

    class Connections(Provider):
        @provide(scope=Scope.REQUEST)
        def conn(self) -> Generator[Conn, None, None]:
            yield from conn_factory()

    return make_container(Connections())


class SvcsMiddleware:
    """svcs's nearest equivalent: a container per request, closed after the view."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.svcs, self.registry = _svcs_registry()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with self.svcs.Container(self.registry) as container:
            request.svcs = container  # type: ignore[attr-defined]
            return self.get_response(request)


class DishkaMiddleware:
    """dishka's nearest equivalent: a REQUEST-scoped container per request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.container = _dishka_container()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with self.container() as container:
            request.dishka = container  # type: ignore[attr-defined]
            return self.get_response(request)


def with_svcs(request: HttpRequest) -> HttpResponse:
    request.svcs.get(Conn)  # type: ignore[attr-defined]
    return HttpResponse("ok" if request is not None else "no")


def with_dishka(request: HttpRequest) -> HttpResponse:
    request.dishka.get(Conn)  # type: ignore[attr-defined]
    return HttpResponse("ok" if request is not None else "no")


async def aby_hand(request: HttpRequest) -> HttpResponse:
    async with dm.dal(_meta(request)) as dal:
        return HttpResponse(dal.work.run())


async def awith_plugin(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.dal.work.run())  # type: ignore[attr-defined]


async def ano_polydatum(request: HttpRequest) -> HttpResponse:
    return no_polydatum(request)


urlpatterns = [
    path("hand", by_hand),
    path("plugin", with_plugin),
    path("raw", no_polydatum),
    path("svcs", with_svcs),
    path("dishka", with_dishka),
    path("ahand", aby_hand),
    path("aplugin", awith_plugin),
    path("araw", ano_polydatum),
]

_PLUGIN = ["django_datum.middleware.DatumMiddleware"]
_SVCS = [f"{__name__}.SvcsMiddleware"]
_DISHKA = [f"{__name__}.DishkaMiddleware"]


def _environ(route: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": route,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
    }


def _urlconf(route: str) -> type:
    """A URLconf of ``route``'s pattern alone.

    Django tries the patterns in order, each a regex match: in one shared
    URLconf, a route further down would pay a few thousand instructions per
    pattern before it. Each variant's runner serves its route from a URLconf
    of its own, so every variant pays for one pattern.
    """
    (pattern,) = (p for p in urlpatterns if f"/{p.pattern}" == route)
    return type(f"URLconf{route.replace('/', '_')}", (), {"urlpatterns": [pattern]})


def _wsgi_runner(route: str, middleware: list[str]) -> Callable[[int], int]:
    with override_settings(MIDDLEWARE=middleware):
        handler = WSGIHandler()
    template = _environ(route)
    urlconf = _urlconf(route)

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        if status[:3] != "200":
            raise RuntimeError(status)

    def run(n: int) -> int:
        settings.ROOT_URLCONF = urlconf  # read by the handler on every request
        t0 = time.perf_counter_ns()
        for _ in range(n):
            environ = template.copy()
            environ["wsgi.input"] = io.BytesIO()
            response = handler(environ, start_response)
            b"".join(response)
            response.close()
        return time.perf_counter_ns() - t0

    return run


def _asgi_runner(route: str, middleware: list[str]) -> Callable[[int], int]:
    with override_settings(MIDDLEWARE=middleware):
        handler = ASGIHandler()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": route,
        "raw_path": route.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
    }
    urlconf = _urlconf(route)

    async def once() -> None:
        done = asyncio.Event()
        sent_request = False

        async def receive() -> dict[str, Any]:
            nonlocal sent_request
            if not sent_request:
                sent_request = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] != 200:
                raise RuntimeError(message["status"])
            if message["type"] == "http.response.body" and not message.get("more_body"):
                done.set()

        await handler(dict(scope), receive, send)

    async def loop(n: int) -> int:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            await once()
        return time.perf_counter_ns() - t0

    def run(n: int) -> int:
        settings.ROOT_URLCONF = urlconf  # read by the handler on every request
        return asyncio.run(loop(n))

    return run


def _measure(
    runners: dict[str, Callable[[int], int]], iterations: int, rounds: int
) -> dict[str, float]:
    """Median microseconds per request of each variant.

    Many short rounds, the variants interleaved inside each round, so load
    from elsewhere on the machine hits every variant alike.
    """
    samples: dict[str, list[float]] = {name: [] for name in runners}
    for run in runners.values():
        run(iterations)  # warm-up
    for _ in range(rounds):
        for name, run in runners.items():
            samples[name].append(run(iterations) / iterations / 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> list[dict[str, Any]]:
    """Measure every variant; return one row per (server, variant)."""
    rows: list[dict[str, Any]] = []
    plans = [
        ("WSGI", _wsgi_runner, "", WSGI_ITERATIONS, ROUNDS),
        ("ASGI", _asgi_runner, "a", ASGI_ITERATIONS, ASGI_ROUNDS),
    ]
    for server, make, prefix, iterations, rounds in plans:
        runners = {
            "no polydatum": make(f"/{prefix}raw", []),
            "by hand": make(f"/{prefix}hand", []),
            "django_datum": make(f"/{prefix}plugin", _PLUGIN),
        }
        medians = _measure(runners, iterations, rounds)
        base = medians["by hand"]
        for variant, us in medians.items():
            rows.append(
                {
                    "bench": "django",
                    "server": server,
                    "variant": variant,
                    "us_per_request": round(us, 2),
                    "overhead_us": round(us - base, 2),
                    "overhead_pct": round((us - base) / base * 100, 1),
                }
            )
    return rows


def _print(rows: list[dict[str, Any]]) -> None:
    print(
        f"Django {django.get_version()}, Python {sys.version.split()[0]}; median of "
        f"{ROUNDS} (WSGI) / {ASGI_ROUNDS} (ASGI) interleaved rounds"
    )
    print("overhead is against 'by hand' (the same work done in the view)")
    print(f"{'server':<7}{'variant':<15}{'us/request':>12}{'overhead us':>13}{'overhead %':>12}")
    for row in rows:
        print(
            f"{row['server']:<7}{row['variant']:<15}{row['us_per_request']:>12.2f}"
            f"{row['overhead_us']:>+13.2f}{row['overhead_pct']:>+11.1f}%"
        )


if __name__ == "__main__":
    _print(main())
