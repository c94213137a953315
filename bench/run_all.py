"""Run every benchmark of the project in one go and print one table.

Each ``bench/bench_*.py`` module exposes ``main()`` returning rows (dicts);
this runs them in turn, in this process, and prints every row under its
benchmark's name, the peers' figures included (they are measured in the same
run by each benchmark).

Run: ``.venv/bin/pip install -e . --group dev --group bench && .venv/bin/python bench/run_all.py``
(add benchmark names to run only those: ``bench/run_all.py core flask``).
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    "core",
    "flask",
    "django",
    "starlette",
    "fastapi",
    "examples",
    "celery_examples",
    "conduit",
]


def run(names: list[str]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Run the named benchmarks; return ``(name, rows)`` for each one that exists."""
    sys.path.insert(0, str(HERE))
    results = []
    for name in names:
        if not (HERE / f"bench_{name}.py").exists():
            print(f"[{name}] no bench/bench_{name}.py here, skipped", file=sys.stderr)
            continue
        module = importlib.import_module(f"bench_{name}")
        started = time.perf_counter()
        rows = module.main()
        print(f"[{name}] done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        results.append((name, rows))
    return results


def _cell(column: str, value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if "ratio" in column else f"{value:.2f}"
    return str(value)


def print_table(results: list[tuple[str, list[dict[str, Any]]]]) -> None:
    """Print each benchmark's rows as one aligned table."""
    for name, rows in results:
        if not rows:
            continue
        columns: list[str] = []
        for row in rows:
            columns += [key for key in row if key not in columns]
        table = [columns] + [[_cell(col, row.get(col, "")) for col in columns] for row in rows]
        widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
        print(f"\n== {name}")
        for i, line in enumerate(table):
            cells = (cell.ljust(width) for cell, width in zip(line, widths, strict=True))
            print("  " + "  ".join(cells))
            if i == 0:
                print("  " + "  ".join("-" * width for width in widths))


if __name__ == "__main__":
    print_table(run(sys.argv[1:] or BENCHMARKS))
