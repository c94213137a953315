"""Machine instructions per request of the example notes API against its hand-written twin.

``GET /notes/{id}`` of the Flask and Django (WSGI) example apps and of the
same endpoint written by hand (``bench/handmade_notes.py``), driven straight
into their WSGI callables, on PostgreSQL, under valgrind's callgrind: each is
run with N1 and N2 requests after a warm-up, only the requests are counted
(they run inside ``functools.reduce``, where callgrind collects), and the
difference is divided by N2 - N1 (``_callgrind``). Only the app's process is
counted, not PostgreSQL's; both variants send the same statements, so
PostgreSQL's share is the same. Runs of one invocation repeat to the
instruction; from one invocation to the next (a new schema, a new random
token) a variant's count moves by up to about 1%, as where objects land in
memory changes which attribute lookups collide in CPython's type cache: compare
variants counted in the same invocation, or repeat it.

This is what ``bench_examples.py`` measures as server CPU time per request,
without the server (gunicorn) and without the machine's noise: the two
variants' difference here is the difference of the example app's code and
wiring from the hand-written endpoint's.

``--profile DIR`` keeps each run's callgrind profile in ``DIR`` (for
``callgrind_annotate --inclusive=yes DIR/<row>.<variant>.<n>.out``); ``--bytecodes``
prints instead, without valgrind, the Python bytecodes one request runs (a
trace; they repeat exactly), in all and in each function where the two
variants differ.

Needs ``valgrind`` on the PATH, PostgreSQL at ``$POLYDATUM_TEST_POSTGRES_URL``
(default ``postgresql://root@127.0.0.1:5432/test``) and the ``bench`` group.
Run: ``.venv/bin/python bench/count_examples.py [--requests N] [--profile DIR] [--bytecodes]
[--schema S] [row ...]`` (rows: ``flask``, ``django``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _callgrind import have_valgrind, per_iteration
from bench_examples import ROOT, _database, _drop_schema

HERE = Path(__file__).resolve().parent
SCHEMA = "polydatum_examples_count"

_DRIVER = """
import io, os, sys, warnings
sys.path[:0] = [{root!r}, {here!r}]
warnings.simplefilter("ignore")
from werkzeug.test import EnvironBuilder

app = {make_app}
environ = EnvironBuilder(
    path="/notes/{note_id}",
    base_url="http://127.0.0.1/",
    headers={{"Authorization": "Bearer {token}"}},
).get_environ()

def start_response(status, headers, exc_info=None):
    if not status.startswith("200"):
        raise RuntimeError(status)

def run(n):
    for _ in range(n):
        request = environ.copy()
        request["wsgi.input"] = io.BytesIO()
        body = app(request, start_response)
        b"".join(body)
        body.close()

run(50)  # fills the pool, prepares the statements
{measure}
"""

#: The C function the counted requests run in: only they are counted (``_callgrind``).
ONLY_IN = "functools_reduce"
#: How the requests after the warm-up run: counted (argv[1] of them), or profiled.
_COUNT = """
import functools
functools.reduce(lambda _, __: run(1), range(int(sys.argv[1])), None)
"""
#: Bytecodes each Python function runs in argv[1] requests (a trace; they repeat exactly).
_TRACE = """
import collections
counts = collections.Counter()

def opcode(frame, event, arg):
    if event == "opcode":
        code = frame.f_code
        counts[code.co_filename, code.co_firstlineno, code.co_name] += 1
    return opcode

def call(frame, event, arg):
    frame.f_trace_opcodes = True
    return opcode

sys.settrace(call)
run(int(sys.argv[1]))
sys.settrace(None)
for (file, line, function), number in counts.items():
    print(f"{number}\\t{file}:{line}({function})")
"""

#: row -> variant -> the expression making its WSGI app (the environment names the database).
APPS = {
    "flask": {
        "by hand": "__import__('handmade_notes').flask_app()",
        "polydatum": "__import__('example_apps.flask_app').flask_app.create_app()",
    },
    "django": {
        "by hand": "__import__('handmade_notes').django_wsgi()",
        "polydatum": "__import__('example_apps.django_app.wsgi').django_app.wsgi.application",
    },
}


def _driver(make_app: str, token: str, note_id: int, measure: str) -> str:
    return _DRIVER.format(
        root=str(ROOT),
        here=str(HERE),
        make_app=make_app,
        token=token,
        note_id=note_id,
        measure=measure,
    )


def _env(url: str) -> dict[str, str]:
    # What bench_examples gives its servers: no broker, no test hooks, a pool of one.
    env = {"DATABASE_URL": url, "DATABASE_POOL_SIZE": "1", "CELERY_BROKER_URL": ""}
    env["DJANGO_SETTINGS_MODULE"] = "example_apps.django_app.settings"  # by hand ignores it
    env["NOTES_TEST_HOOKS"] = ""
    return env


def count(
    rows: list[str],
    requests: int,
    url: str,
    token: str,
    note_id: int,
    profile: Path | None,
    jobs: int,
) -> dict[tuple[str, str], int]:
    """Instructions per request of each variant of ``rows``; keys ``(row, variant)``."""
    work = [(row, variant) for row in rows for variant in APPS[row]]

    def one(key: tuple[str, str]) -> int:
        row, variant = key
        driver = _driver(APPS[row][variant], token, note_id, _COUNT)
        keep = None if profile is None else profile / f"{row}.{variant.replace(' ', '_')}"
        result = per_iteration(driver, 1, 1 + requests, env=_env(url), keep=keep, only_in=ONLY_IN)
        print(f"  {row:7} {variant:10} {result:>11,}", file=sys.stderr, flush=True)
        return result

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return dict(zip(work, pool.map(one, work), strict=True))


def bytecodes(row: str, variant: str, url: str, token: str, note_id: int, n: int) -> dict[str, int]:
    """Bytecodes each Python function (``file:line(name)``) runs in ``n`` requests of a variant."""
    driver = _driver(APPS[row][variant], token, note_id, _TRACE)
    result = subprocess.run(
        [sys.executable, "-c", driver, str(n)],
        env={**os.environ, **_env(url), "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        check=True,
    )
    counted: dict[str, int] = {}
    for line in result.stdout.splitlines():
        number, _, where = line.partition("\t")
        counted[where.replace(str(ROOT) + "/", "").replace(sys.prefix + "/", "")] = int(number)
    return counted


def _print_bytecodes(row: str, url: str, token: str, note_id: int, n: int = 50) -> None:
    hand = bytecodes(row, "by hand", url, token, note_id, n)
    ours = bytecodes(row, "polydatum", url, token, note_id, n)
    total_hand, total_ours = sum(hand.values()) / n, sum(ours.values()) / n
    print(f"\n{row}: bytecodes per request, by hand {total_hand:,.0f}, polydatum {total_ours:,.0f}")
    print("  by hand  polydatum  in the functions that differ")
    differ = [
        (ours.get(where, 0) - hand.get(where, 0), where)
        for where in hand.keys() | ours.keys()
        if ours.get(where, 0) != hand.get(where, 0)
    ]
    for _, where in sorted(differ, reverse=True):
        print(f"  {hand.get(where, 0) / n:7.1f} {ours.get(where, 0) / n:10.1f}  {where}")


def main(argv: list[str] | None = None) -> dict[tuple[str, str], int]:
    """Count and print instructions per request of each variant; return the counts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("rows", nargs="*", help="flask, django")
    parser.add_argument("--requests", type=int, default=500, help="N2 - N1")
    parser.add_argument("--profile", type=Path, help="keep the callgrind profiles here")
    parser.add_argument("--bytecodes", action="store_true", help="trace bytecodes instead")
    parser.add_argument("--jobs", type=int, default=2, help="callgrind runs at once")
    parser.add_argument("--schema", default=SCHEMA, help="PostgreSQL schema (made, then dropped)")
    args = parser.parse_args(argv)
    if not args.bytecodes and not have_valgrind():
        return {}
    rows = [row for row in APPS if not args.rows or row in args.rows]
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    url, token, note_id = _database(args.schema)
    try:
        if args.bytecodes:
            for row in rows:
                _print_bytecodes(row, url, token, note_id)
            return {}
        counts = count(rows, args.requests, url, token, note_id, args.profile, args.jobs)
    finally:
        _drop_schema(url, args.schema)
    print("\ninstructions per request of GET /notes/{id} (WSGI, PostgreSQL)")
    for row in rows:
        hand, ours = counts[row, "by hand"], counts[row, "polydatum"]
        print(f"  {row:7} by hand {hand:>11,}  polydatum {ours:>11,}  ratio {ours / hand:.3f}")
    return counts


if __name__ == "__main__":
    main()
