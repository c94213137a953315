"""Machine instructions per request (and per core cycle), polydatum against svcs and dishka.

Counts every variant with valgrind's callgrind, in one run: each is run
twice, with N1 and N2 requests after a warm-up, and the difference is
divided by N2 - N1, so start-up, imports and warm-up cancel out. The same
hash seed in every run makes the counts repeat to within a few instructions.

Rows (bare: the framework with the same handler work done by hand):

- core cycle: ``bench_core``'s cycle (a context with a user in meta, one
  middleware, one lazily set-up generator resource, one service call); its
  "bare" is the floor, the same work inlined by hand (a ContextVar set and
  reset, two generators). The peers create one generator-managed value in a
  container (no meta, no middleware).
- core cycle, the peers' work: what svcs and dishka do in theirs (one
  generator resource, here reached through a service call), without meta or
  middleware; its floor is one ContextVar set and reset and one generator.
- Flask, Django (WSGI), Starlette (``request.state.dal`` and ``get_dal``),
  FastAPI (the ``DAL`` dependency, and ``get_dal(request)`` of a ``request:
  Request`` parameter): ``bench_flask``, ``bench_django``,
  ``bench_starlette`` and ``bench_fastapi``'s apps, driven straight into
  their WSGI/ASGI callables. Django's peers have no integration: each gets a
  minimal per-request middleware (``bench_django``).

``--baseline DIR`` also counts the polydatum variants with the polydatum of
another source tree (``git worktree add /tmp/main main``, say), in the same
run, and prints its figures beside this tree's.

Needs ``valgrind`` on the PATH and the ``bench`` dependency group.
Run: ``.venv/bin/python bench/count_all.py [--baseline DIR] [--requests N] [--jobs J] [row ...]``
(rows by name: ``core``, ``flask``, ``django``, ``starlette``, ``fastapi``).
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _callgrind import have_valgrind, per_iteration

HERE = Path(__file__).resolve().parent

_PRELUDE = """
import sys, warnings
sys.path.insert(0, {here!r})
warnings.simplefilter("ignore")
"""

_CORE = (
    _PRELUDE
    + """
import bench_core as b
b._dm = b.make_dm()
fn = {expression}
fn(int(sys.argv[1]))
"""
)

_FLASK = (
    _PRELUDE
    + """
import bench_flask as b
from werkzeug.test import EnvironBuilder
environ = EnvironBuilder(path="/", headers={{"X-User": "alice"}}).get_environ()
app = b.VARIANTS[{name!r}]().wsgi_app
b._run(app, environ, 50)
b._run(app, environ, int(sys.argv[1]))
"""
)

_DJANGO = (
    _PRELUDE
    + """
import bench_django as b
run = b._wsgi_runner({route!r}, {middleware})
run(50)
run(int(sys.argv[1]))
"""
)

_ASGI = (
    _PRELUDE
    + """
import asyncio
import bench_{module} as b
from bench_starlette import _run
app, state = b.VARIANTS[{name!r}]()

async def main() -> None:
    await _run(app, state, 50)  # build the middleware stack, warm caches
    await _run(app, state, int(sys.argv[1]))

asyncio.run(main())
"""
)


def _core(expression: str) -> str:
    return _CORE.format(here=str(HERE), expression=expression)


def _flask(name: str) -> str:
    return _FLASK.format(here=str(HERE), name=name)


def _django(route: str, middleware: str) -> str:
    return _DJANGO.format(here=str(HERE), route=route, middleware=middleware)


def _asgi(module: str, name: str) -> str:
    return _ASGI.format(here=str(HERE), module=module, name=name)


#: row -> what "bare" means there, and its variants: (column, driver, cycles N2 - N1).
#: A column named "polydatum..." is also counted against ``--baseline``.
ROWS: dict[str, dict[str, str]] = {
    "core cycle": {
        "bare": _core("b.floor"),
        "svcs": _core("b.make_svcs()[0]"),
        "dishka": _core("b.make_dishka()[0]"),
        "polydatum": _core("b.ours"),
    },
    "core cycle, the peers' work": {
        "bare": _core("b.floor_plain"),
        "svcs": _core("b.make_svcs()[0]"),
        "dishka": _core("b.make_dishka()[0]"),
        "polydatum": _core("b.ours_plain"),
    },
    "Flask": {
        "bare": _flask("bare Flask (by hand)"),
        "svcs": _flask("Flask + svcs"),
        "dishka": _flask("Flask + dishka"),
        "polydatum": _flask("Flask + polydatum"),
    },
    "Django": {
        "bare": _django("/raw", "[]"),
        "svcs": _django("/svcs", "b._SVCS"),
        "dishka": _django("/dishka", "b._DISHKA"),
        "polydatum": _django("/plugin", "b._PLUGIN"),
    },
    "Starlette": {
        "bare": _asgi("starlette", "bare Starlette"),
        "svcs": _asgi("starlette", "+ svcs"),
        "dishka": _asgi("starlette", "+ dishka"),
        "polydatum": _asgi("starlette", "+ polydatum"),
        "polydatum get_dal": _asgi("starlette", "+ polydatum (get_dal)"),
    },
    "FastAPI": {
        "bare": _asgi("fastapi", "bare FastAPI"),
        "svcs": _asgi("fastapi", "+ svcs"),
        "dishka": _asgi("fastapi", "+ dishka"),
        "polydatum": _asgi("fastapi", "+ polydatum (DAL)"),
        "polydatum get_dal": _asgi("fastapi", "+ polydatum (get_dal)"),
    },
}

#: How each row's bare column is labelled in the table.
BARE = {"core cycle": "floor", "core cycle, the peers' work": "floor"}


def _tree_env(tree: Path) -> dict[str, str]:
    """The environment that makes a driver import polydatum (and its plugins) from ``tree``."""
    return {"PYTHONPATH": f"{tree / 'core'}:{tree / 'integrations'}"}


def count(
    rows: list[str], requests: int, cycles: int, baseline: Path | None, jobs: int
) -> dict[tuple[str, str], int]:
    """Count each variant of ``rows``; keys ``(row, column)`` (a baseline's column ends "@base")."""
    work: list[tuple[tuple[str, str], str, int, dict[str, str] | None]] = []
    for row in rows:
        n = cycles if row.startswith("core cycle") else requests
        for column, driver in ROWS[row].items():
            work.append(((row, column), driver, n, None))
            if baseline is not None and column.startswith("polydatum"):
                work.append(((row, f"{column}@base"), driver, n, _tree_env(baseline)))

    def one(item: tuple[tuple[str, str], str, int, dict[str, str] | None]) -> int:
        key, driver, n, env = item
        result = per_iteration(driver, 1, 1 + n, env=env)
        print(f"  {key[0]:11} {key[1]:24} {result:>9,}", file=sys.stderr, flush=True)
        return result

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(one, work))
    return {item[0]: result for item, result in zip(work, results, strict=True)}


def _cell(value: int, bare: int) -> str:
    return f"{value:,} ({value / bare:.3f}x)"


def print_table(counts: dict[tuple[str, str], int], rows: list[str], baseline: bool) -> None:
    """Print instructions of bare, and each peer's and polydatum's as a ratio over bare."""
    header = ["", "bare", "svcs", "dishka", "polydatum"]
    if baseline:
        header.append("polydatum (baseline)")
    lines = [header]
    for row in rows:
        bare = counts[(row, "bare")]
        label = f"{row} ({BARE[row]})" if row in BARE else row
        polys = [c for c in ROWS[row] if c.startswith("polydatum")]

        cells = {column: _cell(value, bare) for (r, column), value in counts.items() if r == row}
        line = [
            label,
            f"{bare:,}",
            cells["svcs"],
            cells["dishka"],
            " / ".join(cells[c] for c in polys),
        ]
        if baseline:
            line.append(" / ".join(cells[f"{c}@base"] for c in polys))
        lines.append(line)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print("instructions per request (core: per cycle), and the ratio over bare")
    print("polydatum: Starlette request.state.dal / get_dal(request); FastAPI dal: DAL / get_dal")
    for i, line in enumerate(lines):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if i == 0:
            print("  ".join("-" * width for width in widths))


def main(argv: list[str] | None = None) -> dict[tuple[str, str], int]:
    """Count and print the table; return the counts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("rows", nargs="*", help="core, flask, django, starlette, fastapi")
    parser.add_argument("--baseline", type=Path, help="another source tree to count too")
    parser.add_argument("--requests", type=int, default=1000, help="N2 - N1 for a request")
    parser.add_argument("--cycles", type=int, default=4000, help="N2 - N1 for a core cycle")
    parser.add_argument("--jobs", type=int, default=2, help="callgrind runs at once")
    args = parser.parse_args(argv)
    if not have_valgrind():
        return {}
    rows = [
        row
        for row in ROWS
        if not args.rows or any(name.lower() in row.lower() for name in args.rows)
    ]
    counts = count(rows, args.requests, args.cycles, args.baseline, args.jobs)
    print_table(counts, rows, args.baseline is not None)
    return counts


if __name__ == "__main__":
    main()
