"""One context cycle: this core against a hand-inlined floor, polydatum 0.9.1, svcs and dishka.

A cycle opens a context with a user in meta, sets up one middleware, lazily
sets up one generator resource, calls one service method reading both, and
closes. svcs and dishka do their nearest equivalent (a container that lazily
creates one generator-managed value; they have no meta and no middleware).
polydatum 0.9.1 has the same import name, so it is installed into
``bench/.peers/polydatum091`` and measured in a subprocess.

Run: ``python bench/bench_core.py`` (needs the ``bench`` extra).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

# svcs imports its FastAPI module, which warns about the test client it re-exports.
warnings.filterwarnings("ignore", message=".*httpx2.*")

REPEATS = 7
N = 20_000
PEERS = Path(__file__).parent / ".peers"
OLD = PEERS / "polydatum091"


class Conn:
    """The value the resource yields."""


def conn_gen(*_: Any) -> Iterator[Conn]:
    yield Conn()


def measure(variants: dict[str, Callable[[int], None]], n: int = N) -> dict[str, float]:
    """Median microseconds per cycle of each variant, interleaving the variants per repeat."""
    for fn in variants.values():
        fn(n // 10)  # warm up
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(REPEATS):
        for name, fn in variants.items():
            t0 = time.perf_counter_ns()
            fn(n)
            samples[name].append((time.perf_counter_ns() - t0) / n / 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


# -- the hand-inlined floor ---------------------------------------------------

_floor_var: contextvars.ContextVar[Any] = contextvars.ContextVar("floor")


def floor(n: int) -> None:
    var = _floor_var
    for _ in range(n):
        meta = {"user": "bob"}
        token = var.set(meta)
        mw = conn_gen()
        next(mw)
        res = conn_gen()
        conn = next(res)
        assert var.get()["user"] == "bob"
        assert conn is not None
        for _ in mw:
            pass
        for _ in res:
            pass
        var.reset(token)


def floor_plain(n: int) -> None:
    """The floor of the peers' work: a ContextVar set and reset, one generator."""
    var = _floor_var
    for _ in range(n):
        token = var.set(None)
        res = conn_gen()
        conn = next(res)
        assert conn is not None
        for _ in res:
            pass
        var.reset(token)


# -- this core ----------------------------------------------------------------


def make_dm() -> Any:
    from polydatum import DataManager, Service

    class Users(Service):
        def whoami(self) -> tuple[Any, Any]:
            ctx = self._ctx
            return ctx.meta.user, ctx.db

    def middleware(ctx: Any) -> Iterator[None]:
        yield

    dm = DataManager()
    dm.register_services(users=Users())
    dm.register_resources(db=conn_gen)
    dm.register_context_middleware(middleware)
    return dm


def ours(n: int) -> None:
    dm = _dm
    dal = dm.get_dal()
    for _ in range(n):
        with dm.context({"user": "bob"}):
            user, conn = dal.users.whoami()
            assert user == "bob"
            assert conn is not None


def ours_plain(n: int) -> None:
    """The peers' work with this core: no meta, no middleware, one resource through a service."""
    from polydatum import DataManager, Service

    class Users(Service):
        def conn(self) -> Any:
            return self._ctx.db

    dm = DataManager()
    dm.register_services(users=Users())
    dm.register_resources(db=conn_gen)
    dal = dm.get_dal()
    for _ in range(n):
        with dm.context():
            assert dal.users.conn() is not None


def make_async_dm(async_middleware: bool = True) -> Any:
    """The async cycle: an async resource, and an async (or a sync) middleware."""
    from polydatum import DataManager, Service

    class Users(Service):
        async def whoami(self) -> tuple[Any, Any]:
            ctx = self._ctx
            return ctx.meta.user, await ctx.aget("db")

    async def amiddleware(ctx: Any) -> Any:
        yield

    def middleware(ctx: Any) -> Iterator[None]:
        yield  # usable in both kinds of context

    async def db(ctx: Any) -> Any:
        yield Conn()

    dm = DataManager()
    dm.register_services(users=Users())
    dm.register_resources(db=db)
    dm.register_context_middleware(amiddleware if async_middleware else middleware)
    return dm


def make_mixed_dm() -> Any:
    """The async cycle with a sync middleware."""
    return make_async_dm(async_middleware=False)


def _async_cycles(dm: Any, n: int) -> None:
    dal = dm.get_dal()

    async def run() -> None:
        for _ in range(n):
            async with dm.context({"user": "bob"}):
                user, conn = await dal.users.whoami()
                assert user == "bob"
                assert conn is not None

    asyncio.run(run())


def ours_async(n: int) -> None:
    _async_cycles(_adm, n)


def ours_mixed(n: int) -> None:
    _async_cycles(_mdm, n)


# -- peers --------------------------------------------------------------------


def make_svcs() -> tuple[Callable[[int], None], Callable[[int], None]]:
    import svcs

    registry = svcs.Registry()
    registry.register_factory(Conn, conn_gen)

    async def aconn() -> Any:
        yield Conn()

    aregistry = svcs.Registry()
    aregistry.register_factory(Conn, aconn)

    def run(n: int) -> None:
        for _ in range(n):
            with svcs.Container(registry) as c:
                assert c.get(Conn) is not None

    def arun(n: int) -> None:
        async def go() -> None:
            for _ in range(n):
                async with svcs.Container(aregistry) as c:
                    assert await c.aget(Conn) is not None

        asyncio.run(go())

    return run, arun


def make_dishka() -> tuple[Callable[[int], None], Callable[[int], None]]:
    from dishka import Provider, Scope, make_async_container, make_container, provide

    class P(Provider):
        @provide(scope=Scope.REQUEST)
        def conn(self) -> Iterator[Conn]:
            yield Conn()

    class AP(Provider):
        @provide(scope=Scope.REQUEST)
        async def conn(self) -> AsyncIterator[Conn]:
            yield Conn()

    container = make_container(P())
    acontainer = make_async_container(AP())

    def run(n: int) -> None:
        for _ in range(n):
            with container() as req:
                assert req.get(Conn) is not None

    def arun(n: int) -> None:
        async def go() -> None:
            for _ in range(n):
                async with acontainer() as req:
                    assert await req.get(Conn) is not None

        asyncio.run(go())

    return run, arun


#: polydatum 0.9.1's cycle: defines ``run(n)``; the folder it is installed in is ``sys.argv[1]``.
_OLD_CYCLE = """
import sys
sys.path.insert(0, sys.argv[1])
from polydatum import DataManager, Service
class Conn: pass
def conn_gen(ctx):
    yield Conn()
def middleware(ctx):
    yield
class Users(Service):
    def whoami(self):
        ctx = self._ctx
        return ctx.meta.user, ctx.db
dm = DataManager()
dm.register_services(users=Users())
dm.register_resources(db=conn_gen)
dm.register_context_middleware(middleware)
dal = dm.get_dal()
def run(n):
    for _ in range(n):
        with dm.context(meta={"user": "bob"}):
            user, conn = dal.users.whoami()
            assert user == "bob" and conn is not None
"""

_OLD_SCRIPT = (
    _OLD_CYCLE
    + """
import json, statistics, time
n, repeats = int(sys.argv[2]), int(sys.argv[3])
run(n // 10)
samples = []
for _ in range(repeats):
    t0 = time.perf_counter_ns(); run(n); samples.append((time.perf_counter_ns() - t0) / n / 1000)
print(json.dumps(statistics.median(samples)))
"""
)


def install_old() -> bool:
    """Install polydatum 0.9.1 into ``OLD`` unless it is there; False if that failed."""
    if not (OLD / "polydatum").is_dir():
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--target",
                str(OLD),
                "polydatum==0.9.1",
                "six",
                "werkzeug",
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            print("could not install polydatum 0.9.1:", result.stderr[-500:], file=sys.stderr)
            return False
    return True


def old_polydatum() -> float | None:
    """Measure polydatum 0.9.1 in a subprocess, installing it on first use."""
    if not install_old():
        return None
    out = subprocess.run(
        [sys.executable, "-c", _OLD_SCRIPT, str(OLD), str(N // 4), str(REPEATS)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": ""},
        check=True,
    )
    return float(json.loads(out.stdout))


_dm: Any = None
_adm: Any = None
_mdm: Any = None


def main() -> list[dict[str, Any]]:
    """Run every variant in one process and return one row per variant."""
    global _dm, _adm, _mdm
    _dm, _adm, _mdm = make_dm(), make_async_dm(), make_mixed_dm()
    svcs_run, svcs_arun = make_svcs()
    dishka_run, dishka_arun = make_dishka()
    sync = {
        "floor (ContextVar + 2 generators)": floor,
        "polydatum 2 (this)": ours,
        "svcs (no meta, no middleware)": svcs_run,
        "dishka (no meta, no middleware)": dishka_run,
    }
    rows = [{"suite": "core sync", "variant": k, "us": us} for k, us in measure(sync).items()]
    old = old_polydatum()
    if old is not None:
        rows.append({"suite": "core sync", "variant": "polydatum 0.9.1", "us": old})
    asyncs = {
        "polydatum 2 (this)": ours_async,
        "polydatum 2, sync middleware": ours_mixed,
        "svcs (no meta, no middleware)": svcs_arun,
        "dishka (no meta, no middleware)": dishka_arun,
    }
    rows += [{"suite": "core async", "variant": k, "us": us} for k, us in measure(asyncs).items()]
    this = {row["suite"]: row["us"] for row in rows if row["variant"] == "polydatum 2 (this)"}
    for row in rows:
        row["x_this"] = row["us"] / this[row["suite"]]
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    by_suite: dict[str, dict[str, float]] = {}
    for row in rows:
        by_suite.setdefault(row["suite"], {})[row["variant"]] = row["us"]
    for suite, variants in by_suite.items():
        ours_us = variants["polydatum 2 (this)"]
        print(f"\n{suite}: us per context cycle (median of {REPEATS})")
        print(f"  {'variant':36} {'us':>8} {'vs this':>9}")
        for name, us in variants.items():
            print(f"  {name:36} {us:8.2f} {us / ours_us:8.2f}x")


if __name__ == "__main__":
    print_table(main())
