"""End to end under uvicorn (a real server in a subprocess, a real socket)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from .support import FAIL_COMMIT

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until(check: Callable[[], bool], what: str, attempts: int = 300) -> None:
    """Poll ``check`` a bounded number of times (about 15 s at most)."""
    for _ in range(attempts):
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"Timed out waiting for {what}.")


class Server:
    """A uvicorn subprocess serving tests/starlette_datum/uvicorn_app.py."""

    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log

    def events(self) -> list[str]:
        events: list[str] = httpx.get(f"{self.url}/events").json()
        return events

    def clear(self) -> None:
        httpx.delete(f"{self.url}/events")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Start uvicorn on a free port and wait until it answers."""
    port = _free_port()
    log = tmp_path_factory.mktemp("uvicorn") / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "tests.starlette_datum.uvicorn_app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"uvicorn exited early:\n{log.read_text()}")
        try:
            return httpx.get(f"{url}/events").status_code == 200
        except httpx.TransportError:
            return False

    try:
        _wait_until(ready, "uvicorn to start")
        yield Server(url, log)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def live(server: Server) -> Server:
    """The server, with no events left from an earlier test."""
    server.clear()
    return server


def test_request_commits_under_uvicorn(live: Server) -> None:
    """A request served over a real socket commits and tears its resources down."""
    response = httpx.get(f"{live.url}/ok")
    assert response.text == "conn+aconn"
    assert live.events() == [
        "begin",
        "conn:setup",
        "aconn:setup",
        "commit",
        "aconn:teardown",
        "conn:teardown",
    ]


def test_commit_failure_gives_a_500_under_uvicorn(live: Server) -> None:
    """A failing commit reaches the client as a 500 over the wire."""
    response = httpx.get(f"{live.url}/ok", headers={FAIL_COMMIT: "1"})
    assert response.status_code == 500


def test_client_disconnect_mid_stream_rolls_back_and_tears_down(live: Server) -> None:
    """A client that goes away mid-stream ends the context: rollback and every teardown."""
    with httpx.Client() as client, client.stream("GET", f"{live.url}/stream-forever") as response:
        first = next(response.iter_raw())
        assert first.startswith(b"conn+aconn;")
    # Leaving the block closed the unfinished response, so its connection.
    _wait_until(lambda: "conn:teardown" in live.events(), "the stream's teardown")
    events = live.events()
    assert "rollback:ClientDisconnect" in events
    assert events.count("aconn:teardown") == events.count("conn:teardown") == 1


def test_commit_failure_after_a_streamed_body_drops_the_connection(live: Server) -> None:
    """When the commit fails after the headers went out, the body is cut off and it is logged."""
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{live.url}/stream", headers={FAIL_COMMIT: "1"})
    _wait_until(lambda: "while the body streamed" in live.log.read_text(), "the server log")
    assert "conn:teardown" in live.events()
