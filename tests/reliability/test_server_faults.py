"""The fault matrix on the wire: what a client of gunicorn and uvicorn gets.

gunicorn serves the Flask app and Django over WSGI; uvicorn the Starlette app
and Django over ASGI.

One server process per framework serves every phase in turn, each failing
request followed by a clean one, so the same worker must recover each time.
A body that went out but failed (in the body or at its commit) must reach the
client truncated, never as a complete response.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator

import pytest

from .faults import CHUNKS, PHASES, STATUS, STREAMED
from .servers import free_port, python, running

#: Phases observable over plain HTTP (a client disconnect has nothing to observe).
WIRE_PHASES = [p for p in PHASES if p != "client disconnect"]
#: Phases whose body must arrive truncated.
TRUNCATED = {"while streaming", "commit after streaming"}


def get(port: int, path: str, phase: str) -> tuple[int, bool]:
    """(status, whether the body arrived complete) of one GET."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", path, headers={"x-phase": phase, "x-user": "ann"})
        response = conn.getresponse()
        try:
            response.read()
        except http.client.IncompleteRead:
            return response.status, False
        return response.status, True
    finally:
        conn.close()


SERVERS = {
    "gunicorn-flask": ("gunicorn", "tests.reliability.fault_servers:flask_app"),
    "uvicorn-starlette": ("uvicorn", "tests.reliability.fault_servers:starlette_app"),
    "gunicorn-django": ("gunicorn", "tests.reliability.django_fault_server:wsgi_app"),
    "uvicorn-django": ("uvicorn", "tests.reliability.django_fault_server:asgi_app"),
}


@pytest.fixture(scope="module", params=list(SERVERS))
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    """A real server serving one fault app (one process for all its cells): (name, port)."""
    kind, target = SERVERS[request.param]
    port = free_port()
    if kind == "gunicorn":
        argv = [python(), "-m", "gunicorn", "-w", "1", "-k", "gthread", "--threads", "2",
                "--no-control-socket", "-b", f"127.0.0.1:{port}", target]  # fmt: skip
    else:
        argv = [python(), "-m", "uvicorn", "--port", str(port), "--log-level", "critical", target]
    # The Django app's own settings, whatever this process was configured with.
    env = {"DJANGO_SETTINGS_MODULE": "tests.reliability.django_fault_settings"}
    with running(argv, port, env, ready_path="/sync/work"):
        yield request.param, port


def expected(server: str, phase: str, kind: str) -> tuple[int, bool]:
    """(status, body complete) a client must get."""
    if server == "gunicorn-django" and kind == "async" and phase in TRUNCATED:
        # Under WSGI Django reads an async body in full before the headers go
        # out, so a failure in it (or at its commit) still becomes a 500.
        return 500, True
    return STATUS[phase], phase not in TRUNCATED


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("phase", WIRE_PHASES)
def test_cell_on_the_wire(server: tuple[str, int], phase: str, kind: str) -> None:
    """Each phase gives its status, truncates a body that failed, and the next request succeeds."""
    name, port = server
    path = f"/{kind}/{'stream' if phase in STREAMED else 'work'}"
    assert get(port, path, phase) == expected(name, phase, kind)
    assert get(port, f"/{kind}/work", "none") == (200, True)


class HTTP10Connection(http.client.HTTPConnection):
    """A client speaking HTTP/1.0: no chunked bodies, so a body ends when the connection does."""

    _http_vsn = 10
    _http_vsn_str = "HTTP/1.0"


def get_http10(port: int, path: str, phase: str) -> tuple[int, str | None, bytes]:
    """(status, Content-Length header, body) of one HTTP/1.0 GET."""
    conn = HTTP10Connection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", path, headers={"x-phase": phase, "x-user": "ann"})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Length"), response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_http10_gets_a_streamed_body_whole_with_its_length(
    server: tuple[str, int], kind: str
) -> None:
    """For HTTP/1.0 a streamed body is sent after the commit, whole, with a Content-Length."""
    _, port = server
    status, length, body = get_http10(port, f"/{kind}/stream", "none")
    assert status == 200
    parts = body.decode().split(";")
    assert [part.rpartition(":")[2] for part in parts] == [*map(str, range(CHUNKS)), ""]
    assert length == str(len(body))


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("phase", sorted(TRUNCATED))
def test_http10_gets_a_500_when_a_streamed_body_fails(
    server: tuple[str, int], phase: str, kind: str
) -> None:
    """For HTTP/1.0 a stream failing (in the body or at its commit) is a 500, never a short 200."""
    _, port = server
    status, _, _ = get_http10(port, f"/{kind}/stream", phase)
    assert status == 500
    assert get(port, f"/{kind}/work", "none") == (200, True)


def test_after_a_500_the_connection_serves_the_next_request(server: tuple[str, int]) -> None:
    """A keep-alive client's next request after a 500 is answered, unless the 500 said close."""
    _, port = server
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", "/sync/work", headers={"x-phase": "in view", "x-user": "ann"})
        failed = conn.getresponse()
        failed.read()
        assert failed.status == 500
        if failed.will_close:  # the server said so: a client opens a new connection
            assert failed.getheader("Connection", "").lower() == "close"
            return
        sock = conn.sock
        conn.request("GET", "/sync/work", headers={"x-phase": "none", "x-user": "ann"})
        response = conn.getresponse()
        assert (response.status, conn.sock is sock) == (200, True)
        response.read()
    finally:
        conn.close()
