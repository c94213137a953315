"""Machine instructions per Starlette request, counted with valgrind's callgrind (no timing noise).

Serves each variant of ``bench_starlette.py`` under callgrind twice, with 1
and with 2001 requests after a warm-up, and prints the difference divided by
2000: the cost of one request without start-up, imports and warm-up. Needs
``valgrind`` on the PATH and the ``bench`` extra.

Run: ``.venv/bin/python bench/count_starlette.py [variant ...]``
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

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


def count(name: str, requests: int) -> int:
    """Instructions executed by a whole run serving ``requests`` requests."""
    driver = _DRIVER.format(here=str(HERE), name=name)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        result = subprocess.run(
            [*command, sys.executable, "-c", driver, str(requests)],
            capture_output=True,
            text=True,
            # The same hash seed in both runs: dict layouts, hence counts, match.
            env={**os.environ, "PYTHONHASHSEED": "0"},
            check=True,
        )
    found = re.search(r"Collected : (\d+)", result.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{result.stderr[-2000:]}")
    return int(found.group(1))


def main(names: list[str] | None = None) -> list[dict[str, object]]:
    """Count each (or each named) variant; return one row per variant."""
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind); nothing counted.")
        return []
    sys.path.insert(0, str(HERE))
    variants = importlib.import_module("bench_starlette").VARIANTS
    rows: list[dict[str, object]] = []
    bare: int | None = None
    for name in variants:
        if names and not any(wanted in name for wanted in names):
            continue
        per_request = (count(name, 2001) - count(name, 1)) // 2000
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
