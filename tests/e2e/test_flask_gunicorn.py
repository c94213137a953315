"""flask_datum under gunicorn's threaded worker: concurrent requests never share meta."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("flask")
pytest.importorskip("gunicorn")
httpx = pytest.importorskip("httpx")

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """gunicorn serving the test app with one worker and 8 threads; yields its base URL."""
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--chdir",
            str(ROOT),
            "--bind",
            f"127.0.0.1:{port}",
            "--worker-class",
            "gthread",
            "--workers",
            "1",
            "--threads",
            "8",
            "--log-level",
            "warning",
            "tests.e2e.flask_gunicorn_app:app",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            if proc.poll() is not None:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise RuntimeError(f"gunicorn exited early:\n{out}")
            try:
                httpx.get(url + "/stats", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            raise RuntimeError("gunicorn did not answer within 10 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def _burst(server: str, n: int) -> list[dict[str, str]]:
    """Send ``n`` requests at once, each with its own user; return the JSON answers in order."""
    with httpx.Client(limits=httpx.Limits(max_connections=n), timeout=30) as client:

        def call(i: int) -> dict[str, str]:
            response = client.get(server + "/whoami", headers={"X-User": f"user-{i}"})
            response.raise_for_status()
            return dict(response.json())

        with ThreadPoolExecutor(max_workers=n) as pool:
            return list(pool.map(call, range(n)))


def test_concurrent_requests_see_only_their_own_user(server: str) -> None:
    """100 concurrent requests, each with its own user, see only their own meta and connection."""
    for i, result in enumerate(_burst(server, 100)):
        assert result == {"before": f"user-{i}", "after": f"user-{i}", "conn": f"user-{i}"}


def test_every_context_and_connection_closed(server: str) -> None:
    """After concurrent requests, every context and every connection was closed exactly once."""
    _burst(server, 20)
    stats = httpx.get(server + "/stats", timeout=10).json()
    # The /stats request itself is still inside its own context.
    assert stats["begin"] == stats["end"] + 1
    assert stats["setup"] == stats["teardown"]
    assert stats["setup"] >= 20
