"""What each part of a request costs, in machine instructions (callgrind; see count_all.py).

Each step adds one part to the one before, so the difference between two
lines is that part's cost:

- core: a context cycle built up from an empty loop: the context made (and
  dropped), entered and exited, one middleware, one lazily set-up generator
  resource, the DAL's service lookup and a service call, a meta read (the
  last line is ``bench_core``'s cycle).
- starlette: a request built up from bare Starlette: a pass-through pure ASGI
  middleware, ``DatumMiddleware`` with an endpoint that does not use it, the
  DAL reached with ``get_dal``, a service call setting up a resource, and the
  DAL reached with ``request.state.dal`` instead.
- fastapi: bare FastAPI, an async dependency that does nothing (FastAPI's own
  cost of a dependency), ``DatumMiddleware``, then the ``DAL`` dependency in
  its place with a service call setting up a resource.

- django: bare Django (WSGI), a pass-through middleware, a context opened
  around the view by a minimal middleware (and ``request.dal`` read), then
  ``DatumMiddleware`` in its place, a service call, the service setting up a
  resource and reading ``meta.request`` (``bench_django``'s plugin view).

Run: ``.venv/bin/python bench/count_ablation.py [--baseline DIR] [core|starlette|fastapi|django]``
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _callgrind import have_valgrind, per_iteration
from count_all import _tree_env

HERE = Path(__file__).resolve().parent

_CORE = """
import sys
from polydatum import DataManager, Service

class Conn:
    pass

def conn_gen(ctx):
    yield Conn()

def middleware(ctx):
    yield

class Users(Service):
    def nothing(self):
        return self._ctx

    def conn(self):
        return self._ctx.db

    def whoami(self):
        ctx = self._ctx
        return ctx.meta.user, ctx.db

def make(middleware_too, resource_too):
    dm = DataManager()
    dm.register_services(users=Users())
    if resource_too:
        dm.register_resources(db=conn_gen)
    if middleware_too:
        dm.register_context_middleware(middleware)
    return dm

n = int(sys.argv[1])
step = {step}
dm = make(step >= 2, step >= 3)
dal = dm.get_dal()
context = dm.context
for _ in range(n):
    meta = {{"user": "bob"}}
    if step == -1:
        continue
    ctx = context(meta)
    if step == 0:
        continue
    with ctx:
        if step == 3:
            ctx.db
        elif step == 4:
            dal.users.conn()
        elif step == 5:
            dal.users.whoami()
"""

CORE = {
    "loop and a meta dict": -1,
    "+ dm.context(meta): made and dropped": 0,
    "+ entered and exited (no middleware, no resource)": 1,
    "+ one middleware": 2,
    "+ one resource set up and torn down (ctx.db)": 3,
    "+ reached through dal.users.conn() (DAL lookup, service, _ctx)": 4,
    "+ a meta read (ctx.meta.user): bench_core's cycle": 5,
}

_STARLETTE = """
import asyncio, sys, warnings
sys.path.insert(0, {here!r})
warnings.simplefilter("ignore")
import bench_starlette as b
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette_datum import DatumMiddleware, get_dal

step = {step}

dm = b.things_data_manager()

class PassThrough:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)

async def endpoint(request):
    if step == 2:
        pass
    elif step == 3:
        get_dal(request)
    elif step == 4:
        get_dal(request).things.ping()
    elif step == 5:
        request.state.dal.things.ping()
    if step < 4:
        gen = b.connect()
        next(gen).ping()
        gen.close()
    return PlainTextResponse("ok")

middleware = []
if step == 1:
    middleware = [Middleware(PassThrough)]
elif step >= 2:
    middleware = [Middleware(DatumMiddleware, data_manager=dm)]
app = Starlette(routes=[Route("/", endpoint)], middleware=middleware)

async def main():
    await b._run(app, {{}}, 50)
    await b._run(app, {{}}, int(sys.argv[1]))

asyncio.run(main())
"""

STARLETTE = {
    "bare Starlette (the connection by hand)": 0,
    "+ a pass-through pure ASGI middleware": 1,
    "DatumMiddleware instead, the endpoint not using it": 2,
    "+ get_dal(request)": 3,
    "+ .things.ping(): a service sets the resource up (by hand no more)": 4,
    "request.state.dal instead of get_dal(request)": 5,
}


_FASTAPI = """
import asyncio, sys, warnings
sys.path.insert(0, {here!r})
warnings.simplefilter("ignore")
from typing import Annotated
import bench_starlette as b
from fastapi import Depends, FastAPI
from fastapi.responses import PlainTextResponse
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection
from starlette_datum import DatumMiddleware
from starlette_datum.fastapi import DAL

step = {step}

dm = b.things_data_manager()

async def nothing(conn: HTTPConnection):
    return None

Nothing = Annotated[None, Depends(nothing)]
middleware = [Middleware(DatumMiddleware, data_manager=dm)] if step >= 2 else []
app = FastAPI(middleware=middleware)

def by_hand():
    gen = b.connect()
    next(gen).ping()
    gen.close()

if step == 0:
    @app.get("/", response_class=PlainTextResponse)
    async def endpoint():
        by_hand()
        return "ok"
elif step in (1, 2):
    @app.get("/", response_class=PlainTextResponse)
    async def endpoint(nothing: Nothing):
        by_hand()
        return "ok"
elif step == 3:
    @app.get("/", response_class=PlainTextResponse)
    async def endpoint(dal: DAL):
        dal.things.ping()
        return "ok"
else:
    from starlette.requests import Request
    from starlette_datum import get_dal

    @app.get("/", response_class=PlainTextResponse)
    async def endpoint(request: Request):
        get_dal(request).things.ping()
        return "ok"

async def main():
    await b._run(app, {{}}, 50)
    await b._run(app, {{}}, int(sys.argv[1]))

asyncio.run(main())
"""

FASTAPI = {
    "bare FastAPI (the connection by hand)": 0,
    "+ an async dependency taking the connection and doing nothing": 1,
    "+ DatumMiddleware (the endpoint not using it)": 2,
    "the DAL dependency instead, a service sets the resource up": 3,
    "request: Request and get_dal(request) instead of the DAL dependency": 4,
}


_DJANGO = """
import sys, warnings
sys.path.insert(0, {here!r})
warnings.simplefilter("ignore")
import bench_django as b
from django.http import HttpResponse
from django.urls import path
from polydatum import Service

step = {step}

class Steps(Service):
    def nothing(self):
        return "ok"

    def conn(self):
        self._ctx.connection
        return "ok"

b.dm.register_services(steps=Steps())
LOADERS = {{"request": lambda request: request}}

class PassThrough:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

class ByHand:
    # The least a middleware can do with polydatum: a context around the view.

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with b.dm.context(None, loaders=LOADERS, source=request) as ctx:
            request.dal = ctx.dal
            return self.get_response(request)

def view(request):
    if step == 3 or step == 4:
        request.dal
    elif step == 5:
        return HttpResponse(request.dal.steps.nothing())
    elif step == 6:
        return HttpResponse(request.dal.steps.conn())
    elif step == 7:
        return HttpResponse(request.dal.work.run())
    return b.no_polydatum(request)

b.urlpatterns.append(path("steps", view))
by_hand = [f"{{__name__}}.ByHand"]
pass_through = [f"{{__name__}}.PassThrough"]
middleware = {{0: [], 1: pass_through, 2: by_hand, 3: by_hand}}.get(step, b._PLUGIN)
run = b._wsgi_runner("/steps", middleware)
run(50)
run(int(sys.argv[1]))
"""

DJANGO = {
    "bare Django (WSGI; the view's work by hand)": 0,
    "+ a pass-through middleware": 1,
    "+ a context around the view, by hand (`with dm.context(...)`)": 2,
    "+ the view reads request.dal (not using it)": 3,
    "DatumMiddleware instead of the middleware by hand": 4,
    "+ a service call (request.dal.steps.nothing())": 5,
    "+ the service sets the resource up (by hand no more)": 6,
    "+ and reads meta.request: bench_django's plugin view": 7,
}


def main(argv: list[str] | None = None) -> None:
    """Count and print each step of the named parts (default: both)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("parts", nargs="*", default=["core", "starlette", "fastapi", "django"])
    parser.add_argument("--baseline", type=Path, help="another source tree to count too")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    if not have_valgrind():
        return
    work = []
    for part in args.parts:
        steps, driver, n = {
            "core": (CORE, _CORE, 4000),
            "starlette": (STARLETTE, _STARLETTE, 1000),
            "fastapi": (FASTAPI, _FASTAPI, 1000),
            "django": (DJANGO, _DJANGO, 500),
        }[part]
        for name, step in steps.items():
            code = driver.format(step=step, here=str(HERE))
            work.append((part, name, code, n, None))
            if args.baseline is not None:
                work.append((part, name + " @baseline", code, n, _tree_env(args.baseline)))

    def one(item: tuple[str, str, str, int, dict[str, str] | None]) -> int:
        return per_iteration(item[2], 1, 1 + item[3], env=item[4])

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        counts = list(pool.map(one, work))
    previous: dict[str, int] = {}
    for (part, name, *_), value in zip(work, counts, strict=True):
        key = part + (" @baseline" if name.endswith("@baseline") else "")
        before = previous.get(key)
        delta = f"{value - before:+,}" if before is not None else ""
        previous[key] = value
        print(f"  {part:9} {name:70} {value:>9,} {delta:>9}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
