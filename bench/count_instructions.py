"""Machine instructions per context cycle, counted with valgrind's callgrind (no timing noise).

Runs each variant of ``bench_core.py`` under callgrind twice, with 1 and with
2001 cycles, and prints the difference divided by 2000: the cost of one cycle
without the start-up of the interpreter. Needs ``valgrind`` on the PATH (the
Debian package of that name) and the ``bench`` extra.

Run: ``.venv/bin/python bench/count_instructions.py [variant ...]``
"""

from __future__ import annotations

import sys
from pathlib import Path

from _callgrind import have_valgrind, per_iteration

HERE = Path(__file__).resolve().parent

#: variant -> expression (in bench_core) giving a function of the number of cycles.
VARIANTS = {
    "floor (ContextVar + 2 generators)": "b.floor",
    "polydatum 2 sync": "b.ours",
    "svcs sync": "b.make_svcs()[0]",
    "dishka sync": "b.make_dishka()[0]",
    "polydatum 2 async": "b.ours_async",
    "polydatum 2 async, sync middleware": "b.ours_mixed",
    "svcs async": "b.make_svcs()[1]",
    "dishka async": "b.make_dishka()[1]",
}

_DRIVER = """
import sys
sys.path.insert(0, {here!r})
import bench_core as b
b._dm, b._adm, b._mdm = b.make_dm(), b.make_async_dm(), b.make_mixed_dm()
fn = {expression}
fn(int(sys.argv[1]))
"""


#: polydatum 0.9.1 (installed into bench/.peers by bench_core), its cycle run argv[1] times.
_OLD_DRIVER = """
import sys
n = sys.argv[1]
sys.argv[1:] = [{old!r}]
sys.path.insert(0, {here!r})
import bench_core as b
sys.path.remove({here!r})
for name in [m for m in sys.modules if m == "polydatum" or m.startswith("polydatum.")]:
    del sys.modules[name]
exec(b._OLD_CYCLE)
run(int(n))
"""


def main(names: list[str] | None = None) -> list[dict[str, object]]:
    """Count each (or each named) variant; return one row per variant."""
    if not have_valgrind():
        return []
    drivers = {
        name: _DRIVER.format(here=str(HERE), expression=expression)
        for name, expression in VARIANTS.items()
    }
    sys.path.insert(0, str(HERE))
    import bench_core

    if bench_core.install_old():
        drivers["polydatum 0.9.1 sync"] = _OLD_DRIVER.format(
            here=str(HERE), old=str(bench_core.OLD)
        )
    rows: list[dict[str, object]] = []
    for name, driver in drivers.items():
        if names and not any(wanted in name for wanted in names):
            continue
        per_cycle = per_iteration(driver)
        rows.append({"variant": name, "instructions per cycle": per_cycle})
        print(f"  {name:40} {per_cycle:>8,}", flush=True)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
