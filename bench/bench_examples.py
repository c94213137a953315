"""Throughput and p99 latency of the example apps' ``GET /notes/{id}``, plugin vs by hand.

Each app runs under its real server on PostgreSQL, twice: the example app
(polydatum: the plugin opens a context per request, ``ConnectionResource`` and
``TransactionMiddleware`` handle the connection and the transaction) and the
same endpoint written by hand (``bench/handmade_notes.py``: ``engine.begin()``
in the view). Both use the same statements, validation and engine settings.

The load generator is a small keep-alive HTTP/1.1 client on asyncio (cheap
per request, so it leaves the server most of the CPU), ``CONNECTIONS`` at
once, a bounded number of requests per run. Variants alternate within each
round; the table gives medians over the rounds. Next to throughput it gives
the server processes' CPU time per request (from ``/proc``), which other load
on the machine disturbs less than throughput; ``BENCH_CONNECTIONS`` sets the
number of connections (default 8).

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
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT)]

from sqlalchemy import text  # noqa: E402

from example_apps.__main__ import no_control_socket_option  # noqa: E402
from example_apps.notes import issue_token, prepare_database  # noqa: E402
from example_apps.notes.wiring import make_engine  # noqa: E402

SCHEMA = "polydatum_examples_bench"
ROUNDS = 15
WARMUP = 100
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "8"))

# server -> (how to serve, polydatum target, hand-written target, requests per run);
# uvicorn targets are factories. Django's ASGI handler is slower: fewer requests.
SERVERS = {
    "flask / gunicorn": ("gunicorn", "example_apps.flask_app:create_app()", "flask_app()", 250),
    "django / gunicorn": (
        "gunicorn",
        "example_apps.django_app.wsgi:application",
        "django_wsgi()",
        250,
    ),
    "django / uvicorn": (
        "uvicorn",
        "example_apps.django_app.asgi:application",
        "django_asgi",
        100,
    ),
    "starlette / uvicorn": (
        "uvicorn",
        "example_apps.starlette_app:create_app",
        "starlette_app",
        200,
    ),
}


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


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of process ``pid`` and its living descendants (Linux)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        proc = Path(f"/proc/{current}")
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICKS
            for task in (proc / "task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


@contextmanager
def _serve(server: str, target: str, database_url: str) -> Iterator[subprocess.Popen[bytes]]:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url}
    env["DJANGO_SETTINGS_MODULE"] = (
        "example_apps.django_app.settings"  # the handmade app ignores it
    )
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


async def _client(port: int, request: bytes, count: int, latencies: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    clock = time.perf_counter_ns
    try:
        for _ in range(count):
            start = clock()
            writer.write(request)
            head = await _read_response(reader)
            latencies.append(clock() - start)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"unexpected answer: {head!r}")
    finally:
        writer.close()


def _load(server: Any, request: bytes, total: int) -> tuple[float, list[int], float]:
    """Send ``total`` requests over ``CONNECTIONS`` connections.

    Returns requests per second, the latencies (ns) and the server's CPU
    time in seconds (less sensitive than throughput to other load on the
    machine).
    """
    port = server.port
    latencies: list[int] = []

    async def run() -> None:
        each = total // CONNECTIONS
        await asyncio.gather(*(_client(port, request, each, latencies) for _ in range(CONNECTIONS)))

    cpu = _cpu_seconds(server.pid)
    start = time.perf_counter_ns()
    asyncio.run(run())
    elapsed = time.perf_counter_ns() - start
    cpu = _cpu_seconds(server.pid) - cpu
    return len(latencies) / (elapsed / 1e9), latencies, cpu


def _database() -> tuple[str, str, int]:
    """Prepare the bench schema; return (database URL, token, note id)."""
    base = os.environ.get("POLYDATUM_TEST_POSTGRES_URL") or "postgresql://root@127.0.0.1:5432/test"
    engine = make_engine(base)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    finally:
        engine.dispose()
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{SCHEMA}"
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


def main(only: str = "") -> list[dict[str, Any]]:
    """Measure every server (whose name contains ``only``) with both variants; one row each."""
    servers = {name: spec for name, spec in SERVERS.items() if only in name}
    url, token, note_id = _database()
    try:
        return _measure(servers, url, token, note_id)
    finally:
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {SCHEMA} CASCADE"))
        finally:
            engine.dispose()


def _measure(
    servers: dict[str, tuple[str, str, str, int]], url: str, token: str, note_id: int
) -> list[dict[str, Any]]:
    request = (
        f"GET /notes/{note_id} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()
    results: dict[tuple[str, str], list[tuple[float, list[int], float]]] = {}
    with ExitStack() as stack:
        servers_up = {}
        for name, (server, ours, theirs, _) in servers.items():
            servers_up[name, "polydatum"] = stack.enter_context(_serve(server, ours, url))
            servers_up[name, "by hand"] = stack.enter_context(
                _serve(server, f"handmade_notes:{theirs}", url)
            )
        for up in servers_up.values():
            _load(up, request, WARMUP)
        for round_ in range(ROUNDS):
            for name, (*_, requests) in servers.items():
                # Alternate which variant goes first, so drift hits both alike.
                order = ["polydatum", "by hand"] if round_ % 2 else ["by hand", "polydatum"]
                for variant in order:
                    results.setdefault((name, variant), []).append(
                        _load(servers_up[name, variant], request, requests)
                    )
    rows = []
    for name in servers:
        ours = results[name, "polydatum"]
        theirs = results[name, "by hand"]
        rps_ours = statistics.median(r[0] for r in ours)
        rps_theirs = statistics.median(r[0] for r in theirs)
        cpu_ours = _cpu_per_request(ours)
        cpu_theirs = _cpu_per_request(theirs)
        rows.append(
            {
                "server": name,
                "by hand req/s": round(rps_theirs),
                "polydatum req/s": round(rps_ours),
                # Each round runs both variants back to back: their ratio is paired
                # (it shares the machine's load of the moment), then the median.
                "ratio": statistics.median(o[0] / t[0] for o, t in zip(ours, theirs, strict=True)),
                "by hand p99 ms": _p99(theirs),
                "polydatum p99 ms": _p99(ours),
                "by hand CPU us/req": round(cpu_theirs),
                "polydatum CPU us/req": round(cpu_ours),
                "CPU ratio": cpu_theirs / cpu_ours,
            }
        )
    return rows


def _cpu_per_request(runs: list[tuple[float, list[int], float]]) -> float:
    # Summed over the runs: /proc counts CPU time in 10 ms ticks.
    return sum(run[2] for run in runs) / sum(len(run[1]) for run in runs) * 1e6


def _p99(runs: list[tuple[float, list[int], float]]) -> float:
    latencies = [latency for run in runs for latency in run[1]]
    return statistics.quantiles(latencies, n=100)[98] / 1e6


def _print(rows: list[dict[str, Any]]) -> None:
    headers = list(rows[0])
    cells = [[f"{v:.2f}" if isinstance(v, float) else str(v) for v in row.values()] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    print(
        f"\nGET /notes/{{id}} on PostgreSQL, {CONNECTIONS} keep-alive connections, "
        f"medians of {ROUNDS} runs (p99 over all of them); one server process each "
        "(gunicorn: 4 threads)."
    )


if __name__ == "__main__":
    _print(main(" ".join(sys.argv[1:])))
