"""What ``pool_pre_ping`` costs a request: one pool checkout and check-in, with and without it.

The example apps' engines check each pooled PostgreSQL connection on checkout
(``pool_pre_ping=True``, a ``SELECT 1`` round trip), so that a connection that
died while idle (the server restarted) is replaced instead of failing the
request. Every request that touches the database checks out one connection,
so the difference below is the per-request cost.

Two measures, on the PostgreSQL of ``$POLYDATUM_TEST_POSTGRES_URL`` (default
``postgresql://root@127.0.0.1:5432/test``):

* time per checkout: ``ROUNDS`` rounds, each timing ``N`` checkouts with and
  then without the check (in alternating order), median and interquartile
  range of the rounds (a shared machine moves single runs);
* instructions per checkout in this process (callgrind, difference of two
  runs, so start-up cancels): the client's CPU cost, which load elsewhere does
  not move. The server's work for ``SELECT 1`` is not in it.

Run: ``.venv/bin/python bench/bench_pre_ping.py``.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from _callgrind import have_valgrind, per_iteration  # noqa: E402

URL = os.environ.get("POLYDATUM_TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
N = 2000

# argv[1]: checkouts; argv[2]: "1" with pool_pre_ping. Warmed up first (connect, import).
DRIVER = f"""
import sys
from sqlalchemy import create_engine
engine = create_engine({URL.replace("postgresql://", "postgresql+psycopg://")!r},
                       pool_pre_ping=sys.argv[2] == "1")
with engine.connect():
    pass
for _ in range(int(sys.argv[1])):
    with engine.connect():
        pass
"""


def timed(engine: object, n: int) -> float:
    """Microseconds per checkout and check-in, over ``n`` of them."""
    connect = engine.connect  # type: ignore[attr-defined]
    start = time.perf_counter()
    for _ in range(n):
        with connect():
            pass
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    from sqlalchemy import create_engine

    url = URL.replace("postgresql://", "postgresql+psycopg://")
    engines = {ping: create_engine(url, pool_pre_ping=ping) for ping in (False, True)}
    for engine in engines.values():
        timed(engine, 200)  # connect and warm up
    samples: dict[bool, list[float]] = {False: [], True: []}
    for round_ in range(ROUNDS):
        order = (False, True) if round_ % 2 == 0 else (True, False)
        for ping in order:
            samples[ping].append(timed(engines[ping], N))
    print(f"checkout + check-in of a pooled PostgreSQL connection, {ROUNDS} rounds of {N}:")
    for ping, label in ((False, "without pre-ping"), (True, "pool_pre_ping=True")):
        q1, median, q3 = statistics.quantiles(samples[ping], n=4)
        print(f"  {label:20} {median:7.1f} us  (IQR {q1:.1f}-{q3:.1f})")
    diffs = [b - a for a, b in zip(samples[False], samples[True], strict=True)]
    q1, median, q3 = statistics.quantiles(diffs, n=4)
    print(f"  pre-ping adds        {median:7.1f} us  (IQR {q1:.1f}-{q3:.1f}), paired by round")
    if have_valgrind():
        counts = {
            ping: per_iteration(DRIVER.replace("sys.argv[2]", repr("1" if ping else "0")))
            for ping in (False, True)
        }
        print(
            f"  instructions: {counts[False]:,} without, {counts[True]:,} with "
            f"(+{counts[True] - counts[False]:,} per checkout, this process only)"
        )


if __name__ == "__main__":
    main()
