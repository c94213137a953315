"""Machine instructions per Starlette request, counted with valgrind's callgrind (no timing noise).

Serves each variant of ``bench_starlette.py`` under callgrind twice, with 1
and with 2001 requests after a warm-up, and prints the difference divided by
2000: the cost of one request without start-up, imports and warm-up. Needs
``valgrind`` on the PATH and the ``bench`` extra.

Run: ``.venv/bin/python bench/count_starlette.py [variant ...]``
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from _callgrind import have_valgrind, per_iteration

HERE = Path(__file__).resolve().parent

_DRIVER = """
import asyncio, sys, warnings
sys.path.insert(0, {here!r})
import bench_starlette as b
warnings.simplefilter("ignore", DeprecationWarning)
app, state = b.VARIANTS[{name!r}]()

async def main() -> None:
    await b._run(app, state, 50)  # build the middleware stack, warm caches
    await b._run(app, state, int(sys.argv[1]))

asyncio.run(main())
"""


def main(names: list[str] | None = None) -> list[dict[str, object]]:
    """Count each (or each named) variant; return one row per variant."""
    if not have_valgrind():
        return []
    sys.path.insert(0, str(HERE))
    variants = importlib.import_module("bench_starlette").VARIANTS
    rows: list[dict[str, object]] = []
    bare: int | None = None
    for name in variants:
        if names and not any(wanted in name for wanted in names):
            continue
        per_request = per_iteration(_DRIVER.format(here=str(HERE), name=name))
        if name == "bare Starlette":
            bare = per_request
        row: dict[str, object] = {"variant": name, "instructions per request": per_request}
        if bare:
            row["overhead %"] = round((per_request - bare) / bare * 100, 1)
        rows.append(row)
        print(f"  {name:24} {per_request:>8,} {row.get('overhead %', '')}", flush=True)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
