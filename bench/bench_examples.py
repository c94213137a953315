"""Throughput and p99 latency of the example apps' ``GET /notes/{id}``, plugin vs by hand.

Each app runs under its real server on PostgreSQL, twice: the example app
(polydatum: the plugin opens a context per request, ``ConnectionResource`` and
``TransactionMiddleware`` handle the connection and the transaction) and the
same endpoint written by hand (``bench/handmade_notes.py``: ``engine.begin()``
in the view). Both use the same statements, validation and engine settings,
the pool sized to the number of connections (``$DATABASE_POOL_SIZE``): with
SQLAlchemy's default of 5, a uvicorn server serving 8 requests at once opens
and closes a PostgreSQL connection for many of them, which costs more than
the request and swamps the comparison.

The load generator is a small keep-alive HTTP/1.1 client on asyncio (cheap
per request, so it leaves the server most of the CPU), ``CONNECTIONS`` at
once, each run lasting ``RUN_SECONDS``. The two variants of a server run back
to back in each round, in alternating order. Two ratios, polydatum over by
hand, are the medians of the rounds' paired ratios, each given with its
interquartile range so that the machine's noise shows: throughput, and CPU
time per request of the server's processes, which other load on the machine
disturbs less than throughput. The table also gives the CPU time per request
over all rounds, of the server and of the PostgreSQL sessions serving it (when
PostgreSQL runs on this machine; each variant's sessions are told apart by
their ``application_name``), and how many PostgreSQL sessions the variant
opened while measured (0 unless its pool was too small).

CPU time is read from ``/proc``. Its usual counters (``stat``) tick every
10 ms: a 0.5 s run of about 0.5 s of CPU would be known to 2% only, too coarse
for a per-round ratio held to 1.03. So each run reads every thread's
nanosecond counter (``schedstat``) before and after; a run during which one
of the server's threads ended (its time is then lost to those counters)
falls back on the ticks.

Settings: ``BENCH_CONNECTIONS`` (default 8), ``BENCH_POOL_SIZE`` (default: as many as
connections), ``BENCH_ROUNDS`` (default 30), ``BENCH_RUN_SECONDS`` (default 0.5).

Run: ``.venv/bin/python bench/bench_examples.py [name filter]`` (PostgreSQL from
``$POLYDATUM_TEST_POSTGRES_URL``, default ``postgresql://root@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT)]

from sqlalchemy import text  # noqa: E402

from example_apps.__main__ import no_control_socket_option  # noqa: E402
from example_apps.notes import issue_token, prepare_database  # noqa: E402
from example_apps.notes.wiring import make_engine  # noqa: E402

SCHEMA = "polydatum_examples_bench"
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "8"))
POOL_SIZE = int(os.environ.get("BENCH_POOL_SIZE", str(CONNECTIONS)))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "30"))
RUN_SECONDS = float(os.environ.get("BENCH_RUN_SECONDS", "0.5"))
WARMUP_SECONDS = 2.0
VARIANTS = ("by hand", "polydatum")

# server -> (how to serve, polydatum target, hand-written target); uvicorn targets are factories.
SERVERS = {
    "flask / gunicorn": ("gunicorn", "example_apps.flask_app:create_app()", "flask_app()"),
    "django / gunicorn": (
        "gunicorn",
        "example_apps.django_app.wsgi:application",
        "django_wsgi()",
    ),
    "django / uvicorn": ("uvicorn", "example_apps.django_app.asgi:application", "django_asgi"),
    "django / uvicorn, CLOSE_IN_THREAD": (
        "uvicorn",
        "example_apps.django_app.asgi:application",
        "django_asgi",
    ),
    "starlette / uvicorn": ("uvicorn", "example_apps.starlette_app:create_app", "starlette_app"),
}
#: Django settings of a server, when not the example app's own (bench/ is on the servers' path).
SETTINGS = {"django / uvicorn, CLOSE_IN_THREAD": "django_close_in_thread_settings"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _command(server: str, target: str, port: int) -> list[str]:
    if server == "gunicorn":
        options = ["--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4"]
        return [sys.executable, "-m", "gunicorn", target, *options, *no_control_socket_option()]
    factory = [] if target.endswith(":application") else ["--factory"]
    options = ["--port", str(port), "--lifespan", "off", "--no-access-log"]
    return [sys.executable, "-m", "uvicorn", *factory, target, *options, "--log-level", "warning"]


_TICKS = os.sysconf("SC_CLK_TCK")


class _Cpu(NamedTuple):
    """CPU time of a process tree at one moment (Linux ``/proc``)."""

    threads: dict[int, int]  # living thread id -> nanoseconds on a CPU (schedstat), or {}
    ticks: float  # seconds, user + system, living processes (threads that exited included)


def _cpu(pid: int) -> _Cpu:
    """CPU time of process ``pid`` and its living descendants, per thread and in ticks."""
    threads: dict[int, int] = {}
    ticks = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        proc = Path(f"/proc/{current}")
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            ticks += (int(fields[11]) + int(fields[12])) / _TICKS
            for task in (proc / "task").iterdir():
                try:
                    threads[int(task.name)] = int((task / "schedstat").read_text().split()[0])
                except FileNotFoundError:  # a kernel without schedstat, or the thread ended
                    pass
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return _Cpu(threads, ticks)


def _cpu_between(before: _Cpu, after: _Cpu) -> float:
    """CPU seconds used between two readings of the same process tree.

    From the threads' nanosecond counters when every thread of ``before`` still
    lives (a thread started since counts whole); else, or without schedstat,
    from the 10 ms ticks, which keep the time of threads that ended.
    """
    if before.threads and before.threads.keys() <= after.threads.keys():
        used = sum(ns - before.threads.get(tid, 0) for tid, ns in after.threads.items())
        return used / 1e9
    return after.ticks - before.ticks


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) so far of process ``pid`` and its living descendants."""
    reading = _cpu(pid)
    return sum(reading.threads.values()) / 1e9 if reading.threads else reading.ticks


@contextmanager
def _serve(
    server: str, target: str, database_url: str, settings: str = "example_apps.django_app.settings"
) -> Iterator[subprocess.Popen[bytes]]:
    port = _free_port()
    # No broker: the example apps would register OnCommitMiddleware, which the handmade one lacks.
    unfair = {"CELERY_BROKER_URL", "NOTES_TEST_HOOKS"}
    env = {key: value for key, value in os.environ.items() if key not in unfair}
    env |= {"DATABASE_URL": database_url, "DATABASE_POOL_SIZE": str(POOL_SIZE)}
    env["DJANGO_SETTINGS_MODULE"] = settings  # the handmade app ignores it
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE)])
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            _command(server, target, port), cwd=ROOT, env=env, stdout=log, stderr=log
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"{target} did not start:\n{log.read().decode()}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)  # polling interval
            process.port = port  # type: ignore[attr-defined]
            yield process
        finally:
            process.send_signal(signal.SIGINT if server == "uvicorn" else signal.SIGTERM)
            process.wait(timeout=30)


async def _read_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    lower = head.lower()
    if b"content-length:" in lower:
        length = int(lower.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        await reader.readexactly(length)
        return head
    while True:  # chunked
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        await reader.readexactly(size + 2)
        if size == 0:
            return head


#: A request's bytes, or a function making each one (a new article per request, say).
Request = bytes | Callable[[], bytes]


async def _client(port: int, request: Request, deadline: int, latencies: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    clock = time.perf_counter_ns
    try:
        while (start := clock()) < deadline:
            writer.write(request if isinstance(request, bytes) else request())
            head = await _read_response(reader)
            latencies.append(clock() - start)
            if not head.startswith((b"HTTP/1.1 200", b"HTTP/1.1 201")):
                raise RuntimeError(f"unexpected answer: {head!r}")
    finally:
        writer.close()


def _load(server: Any, request: Request, seconds: float) -> tuple[float, list[int], float]:
    """Send requests over ``CONNECTIONS`` connections for ``seconds``.

    Returns requests per second, the latencies (ns) and the server's CPU
    time in seconds (less sensitive than throughput to other load on the
    machine).
    """
    port = server.port
    latencies: list[int] = []

    async def run() -> None:
        deadline = time.perf_counter_ns() + int(seconds * 1e9)
        clients = (_client(port, request, deadline, latencies) for _ in range(CONNECTIONS))
        await asyncio.gather(*clients)

    before = _cpu(server.pid)
    start = time.perf_counter_ns()
    asyncio.run(run())
    elapsed = time.perf_counter_ns() - start
    cpu = _cpu_between(before, _cpu(server.pid))
    return len(latencies) / (elapsed / 1e9), latencies, cpu


class _Sessions:
    """The PostgreSQL sessions of each variant (by ``application_name``) and their CPU time.

    CPU time is read from ``/proc``, so only when PostgreSQL runs on this machine.
    """

    def __init__(self, url: str) -> None:
        self._engine = make_engine(url)

    def close(self) -> None:
        self._engine.dispose()

    def cpu(self, application_name: str) -> dict[int, float | None]:
        """Return ``{pid: CPU seconds, or None when not on this machine}`` of the sessions."""
        with self._engine.connect() as conn:
            pids = conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                {"name": application_name},
            ).scalars()
            return {pid: self._local_cpu(pid) for pid in pids}

    @staticmethod
    def _local_cpu(pid: int) -> float | None:
        try:
            if not Path(f"/proc/{pid}/comm").read_text().startswith("postgres"):
                return None
        except OSError:
            return None
        return _cpu_seconds(pid)


class _Run(NamedTuple):
    rps: float
    latencies: list[int]
    cpu: float  # the server's, seconds
    db_cpu: float | None  # its PostgreSQL sessions', seconds; None when not measurable
    opened: int  # PostgreSQL sessions that appeared during the run


def _measured(server: Any, sessions: _Sessions, name: str, request: Request) -> _Run:
    before = sessions.cpu(name)
    rps, latencies, cpu = _load(server, request, RUN_SECONDS)
    after = sessions.cpu(name)
    db_cpu: float | None = 0.0
    for pid, seconds in after.items():
        if seconds is None or db_cpu is None:
            db_cpu = None
            continue
        # A session opened during the run counts whole (opening it was part of the run);
        # one closed during the run is lost, and shows in ``opened`` as the one replacing it.
        db_cpu += seconds - (before.get(pid) or 0.0)
    return _Run(rps, latencies, cpu, db_cpu, len(after.keys() - before.keys()))


def _database(schema: str = SCHEMA) -> tuple[str, str, int]:
    """Prepare the bench schema; return (database URL, token, note id)."""
    base = os.environ.get("POLYDATUM_TEST_POSTGRES_URL") or "postgresql://root@127.0.0.1:5432/test"
    engine = make_engine(base)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    finally:
        engine.dispose()
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    prepare_database(url)
    token = issue_token(url, "bench")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            note_id = conn.execute(
                text(
                    "INSERT INTO notes (owner_id, title, body) SELECT id, 'bench', 'read me' "
                    "FROM users WHERE name = 'bench' RETURNING id"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    return url, token, note_id


def _drop_schema(url: str, schema: str = SCHEMA) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    finally:
        engine.dispose()


def main(only: str = "") -> list[dict[str, Any]]:
    """Measure every server (whose name contains ``only``) with both variants; one row each."""
    servers = {name: spec for name, spec in SERVERS.items() if only in name}
    url, token, note_id = _database()
    sessions = _Sessions(url)
    try:
        return _measure(servers, url, token, note_id, sessions)
    finally:
        sessions.close()
        _drop_schema(url)


def _measure(
    servers: dict[str, tuple[str, str, str]],
    url: str,
    token: str,
    note_id: int,
    sessions: _Sessions,
) -> list[dict[str, Any]]:
    request = (
        f"GET /notes/{note_id} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()
    results: dict[tuple[str, str], list[_Run]] = {}
    names: dict[tuple[str, str], str] = {}
    with ExitStack() as stack:
        servers_up = {}
        for number, (name, (server, our_target, their_target)) in enumerate(servers.items()):
            targets = {"polydatum": our_target, "by hand": f"handmade_notes:{their_target}"}
            for variant in VARIANTS:
                # Each variant's PostgreSQL sessions carry a name of their own.
                names[name, variant] = f"bench_examples_{number}_{variant.replace(' ', '_')}"
                variant_url = f"{url}&application_name={names[name, variant]}"
                settings = SETTINGS.get(name, "example_apps.django_app.settings")
                servers_up[name, variant] = stack.enter_context(
                    _serve(server, targets[variant], variant_url, settings)
                )
        for up in servers_up.values():
            _load(up, request, WARMUP_SECONDS)  # fills the pool, prepares the statements
        for round_ in range(ROUNDS):
            for name in servers:
                # Alternate which variant goes first, so drift hits both alike.
                order = VARIANTS if round_ % 2 else VARIANTS[::-1]
                for variant in order:
                    results.setdefault((name, variant), []).append(
                        _measured(
                            servers_up[name, variant], sessions, names[name, variant], request
                        )
                    )
    rows = []
    for name in servers:
        ours = results[name, "polydatum"]
        theirs = results[name, "by hand"]
        # Each round runs both variants back to back: their ratios are paired (they
        # share the machine's load of the moment), then the median and quartiles.
        pairs = list(zip(ours, theirs, strict=True))
        ratios = _paired([o.rps / t.rps for o, t in pairs])
        cpu_ratios = _paired([_cpu_per_request([o]) / _cpu_per_request([t]) for o, t in pairs])
        rows.append(
            {
                "server": name,
                "by hand req/s": round(statistics.median(r.rps for r in theirs)),
                "polydatum req/s": round(statistics.median(r.rps for r in ours)),
                "req/s ratio": ratios[0],
                "req/s ratio q1-q3": ratios[1],
                "by hand p99 ms": _p99(theirs),
                "polydatum p99 ms": _p99(ours),
                "by hand CPU us/req": round(_cpu_per_request(theirs)),
                "polydatum CPU us/req": round(_cpu_per_request(ours)),
                "CPU ratio": cpu_ratios[0],
                "CPU ratio q1-q3": cpu_ratios[1],
                "by hand DB CPU us/req": _db_cpu_per_request(theirs),
                "polydatum DB CPU us/req": _db_cpu_per_request(ours),
                "DB sessions opened (hand/polydatum)": (
                    f"{sum(r.opened for r in theirs)}/{sum(r.opened for r in ours)}"
                ),
            }
        )
    return rows


def _paired(ratios: list[float]) -> tuple[float, str]:
    """The median of a round's paired ratios, and their q1-q3 (polydatum over by hand)."""
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    return statistics.median(ratios), f"{q1:.3f}-{q3:.3f}"


def _cpu_per_request(runs: list[_Run]) -> float:
    # Summed over the runs (a run that fell back on 10 ms ticks weighs by its length).
    return sum(run.cpu for run in runs) / sum(len(run.latencies) for run in runs) * 1e6


def _db_cpu_per_request(runs: list[_Run]) -> int | str:
    if any(run.db_cpu is None for run in runs):
        return "-"  # PostgreSQL does not run on this machine
    return round(sum(run.db_cpu or 0.0 for run in runs) / sum(len(r.latencies) for r in runs) * 1e6)


def _p99(runs: list[_Run]) -> float:
    latencies = [latency for run in runs for latency in run.latencies]
    return statistics.quantiles(latencies, n=100)[98] / 1e6


def _cell(header: str, value: Any) -> str:
    """A table cell: ratios to 3 decimals (their limit is 1.03), other figures to 2."""
    if isinstance(value, float):
        return f"{value:.3f}" if "ratio" in header else f"{value:.2f}"
    return str(value)


def _print_table(rows: list[dict[str, Any]]) -> None:
    headers = list(rows[0])
    cells = [[_cell(h, v) for h, v in row.items()] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def _print(rows: list[dict[str, Any]]) -> None:
    _print_table(rows)
    print(
        f"\nGET /notes/{{id}} on PostgreSQL, {CONNECTIONS} keep-alive connections, pools of "
        f"{POOL_SIZE}, medians of {ROUNDS} runs of {RUN_SECONDS:g} s (p99 and CPU over all of "
        "them); one server process each (gunicorn: 4 threads)."
    )


if __name__ == "__main__":
    _print(main(" ".join(sys.argv[1:])))
