"""Soak: tens of thousands of requests against real servers over PostgreSQL.

gunicorn (threaded worker) serves the Flask app, uvicorn the Starlette app;
both use ``polydatum.contrib.sqlalchemy`` (a pooled connection and one
transaction per request). Every tenth request writes and then fails, so its
write must be rolled back. For each server the test asserts:

- every request got its expected answer (200 with its row, or 404 rolled back);
- the rows in the table are exactly the committed ones;
- every context and every connection resource the app opened was closed;
- worker memory is flat: RSS grows by less than ``RSS_BOUND_KB`` between the
  sample taken after 20% of the requests and the one at the end;
- PostgreSQL connections of the app (found by ``application_name``) are all
  idle, no more than the pool holds, after the load, and none once it stopped.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import pytest

from .servers import children, free_port, python, rss_kb, running

pytestmark = pytest.mark.soak

REQUESTS = 10_000  # per server
CLIENTS = 4  # concurrent keep-alive connections
SAMPLES = 10  # RSS samples, one after each tenth of the requests
FAIL_EVERY = 10
RSS_BOUND_KB = 5 * 1024
POOL_SIZE = 5  # the apps' pool_size (max_overflow=0)

POSTGRES_URL = os.environ.get("POLYDATUM_TEST_POSTGRES_URL")
REQUIRE_POSTGRES = os.environ.get("POLYDATUM_REQUIRE_POSTGRES") == "1"


@pytest.fixture
def postgres_url() -> str:
    """The PostgreSQL URL; skips without one unless PostgreSQL is required."""
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail("POLYDATUM_REQUIRE_POSTGRES=1 but POLYDATUM_TEST_POSTGRES_URL is unset.")
        pytest.skip("POLYDATUM_TEST_POSTGRES_URL is not set.")
    return POSTGRES_URL


def _psycopg_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql"))


def _query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(_psycopg_url(url), autocommit=True) as conn:
        cursor = conn.execute(sql, args or None)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description is not None else []


@dataclass
class Soak:
    """One server's run: its name (table, application_name) and what was measured."""

    name: str
    url: str
    rss: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def app_url(self) -> str:
        """SQLAlchemy URL for the app, tagged with an application_name to find its connections."""
        parts = urlsplit(self.url)
        query = urlencode({"application_name": self.name})
        return urlunsplit(parts._replace(scheme="postgresql+psycopg", query=query))

    def connections(self) -> list[tuple[Any, ...]]:
        """(state, count) of the app's PostgreSQL connections."""
        return _query(
            self.url,
            "SELECT state, count(*) FROM pg_stat_activity WHERE application_name = %s "
            "GROUP BY state",
            self.name,
        )


@pytest.fixture
def soak(request: pytest.FixtureRequest, postgres_url: str) -> Iterator[Soak]:
    """A run against a fresh table named after the server and this process."""
    name = f"soak_{request.param}_{os.getpid()}"
    _query(postgres_url, f"DROP TABLE IF EXISTS {name}")
    _query(postgres_url, f"CREATE TABLE {name} (id serial PRIMARY KEY, who text NOT NULL)")
    try:
        yield Soak(name, postgres_url)
    finally:
        _query(postgres_url, f"DROP TABLE IF EXISTS {name}")


def _get(conn: http.client.HTTPConnection, path: str) -> tuple[int, str]:
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.read().decode()


def _client(port: int, indexes: range, failures: list[str]) -> None:
    """Send the requests ``indexes`` over one keep-alive connection; note every wrong answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for i in indexes:
            who = f"u{i}"
            fail = i % FAIL_EVERY == 0
            query = f"who={who}" + ("&fail=1" if fail else "")
            try:
                status, body = _get(conn, f"/hit?{query}")
            except (OSError, http.client.HTTPException) as exc:
                failures.append(f"{i}: {exc!r}")
                conn.close()
                continue
            expected = 404 if fail else 200
            if status != expected or (not fail and not body.startswith(f"{who}:")):
                failures.append(f"{i}: {status} {body[:80]}")
    finally:
        conn.close()


def _load(soak: Soak, port: int, worker: int) -> None:
    """All requests, in SAMPLES batches of CLIENTS parallel connections; RSS after each batch."""
    batch = REQUESTS // SAMPLES
    started = time.perf_counter()
    for b in range(SAMPLES):
        threads = [
            threading.Thread(
                target=_client,
                args=(port, range(b * batch + c, (b + 1) * batch, CLIENTS), soak.failures),
            )
            for c in range(CLIENTS)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        soak.rss.append(rss_kb(worker))
    soak.seconds = time.perf_counter() - started


def _check(soak: Soak, port: int) -> None:
    assert soak.failures == [], soak.failures[:10]
    committed = REQUESTS - len(range(0, REQUESTS, FAIL_EVERY))
    assert _query(soak.url, f"SELECT count(*) FROM {soak.name}") == [(committed,)]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        stats = json.loads(_get(conn, "/stats")[1])
    finally:
        conn.close()
    # The /stats request is the one context still open.
    assert stats["opened"] - stats["closed"] == 1, stats
    assert stats["set_up"] == stats["torn_down"] == {"db": REQUESTS}, stats
    growth = soak.rss[-1] - soak.rss[1]
    assert growth < RSS_BOUND_KB, soak.rss
    states = dict(soak.connections())
    assert set(states) <= {"idle"}, states
    assert 0 < states.get("idle", 0) <= POOL_SIZE, states
    print(f"\n{soak.name}: {REQUESTS} requests in {soak.seconds:.1f} s, RSS kB {soak.rss}, "
          f"growth {growth} kB, PostgreSQL connections after load {states}")  # fmt: skip


def _gone(soak: Soak) -> None:
    """Wait (bounded) until the app's PostgreSQL connections are gone after it stopped."""
    for _ in range(100):
        if not soak.connections():
            return
        time.sleep(0.1)
    raise AssertionError(f"connections left after the server stopped: {soak.connections()}")


@pytest.mark.parametrize("soak", ["gunicorn"], indirect=True)
def test_gunicorn_flask_soak(soak: Soak) -> None:
    """gunicorn + Flask over PostgreSQL: every request answered, memory flat, connections back."""
    port = free_port()
    argv = [python(), "-m", "gunicorn", "-w", "1", "-k", "gthread", "--threads", str(CLIENTS),
            "--no-control-socket", "-b", f"127.0.0.1:{port}",
            "tests.reliability.soak_flask_app:app"]  # fmt: skip
    env = {"SOAK_DB_URL": soak.app_url, "SOAK_TABLE": soak.name}
    with running(argv, port, env) as proc:
        (worker,) = children(proc.pid)
        _load(soak, port, worker)
        _check(soak, port)
    _gone(soak)


@pytest.mark.parametrize("soak", ["uvicorn"], indirect=True)
def test_uvicorn_starlette_soak(soak: Soak) -> None:
    """uvicorn + Starlette over PostgreSQL: all requests answered, memory flat, connections back."""
    port = free_port()
    argv = [python(), "-m", "uvicorn", "--port", str(port), "--log-level", "warning",
            "--no-access-log", "tests.reliability.soak_starlette_app:app"]  # fmt: skip
    env = {"SOAK_DB_URL": soak.app_url, "SOAK_TABLE": soak.name}
    with running(argv, port, env) as proc:
        _load(soak, port, proc.pid)
        _check(soak, port)
    _gone(soak)
