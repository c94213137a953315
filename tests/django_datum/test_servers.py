"""End to end: the test project under gunicorn (WSGI) and uvicorn (Django's ASGI handler)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest
from django.conf import settings
from django.db import connection
from django.test import AsyncClient

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve(command: list[str], port: int) -> Iterator[str]:
    """Start a server, poll until it answers (bounded), yield its URL, stop it."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.django_datum.settings"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    # A file, not a pipe: a chatty server can never block on a full pipe.
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield _wait_until_up(proc, log, f"http://127.0.0.1:{port}")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_until_up(proc: subprocess.Popen[bytes], log: IO[bytes], url: str) -> str:
    """Poll the server (bounded) until it answers; fail with its log if it exits."""
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited: {log.read().decode(errors='replace')}")
        try:
            if httpx.get(f"{url}/s/noop", timeout=1).status_code == 200:
                return url
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)  # polling interval, not synchronisation


@pytest.fixture(scope="module")
def gunicorn() -> Iterator[str]:
    """The test project served by gunicorn, one worker with threads."""
    port = _free_port()
    cmd = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    cmd += ["--threads", "4", "tests.django_datum.wsgi:application"]
    yield from _serve(cmd, port)


@pytest.fixture(scope="module")
def uvicorn() -> Iterator[str]:
    """The test project served by uvicorn with Django's ASGI handler."""
    port = _free_port()
    cmd = [str(BIN / "uvicorn"), "--host", "127.0.0.1", "--port", str(port), "--lifespan", "off"]
    cmd += ["--log-level", "warning", "tests.django_datum.asgi:application"]
    yield from _serve(cmd, port)


def _check_server(url: str, prefix: str) -> None:
    name = httpx.get(f"{url}/{prefix}/name", headers={"x-user": "ada"})
    stream = httpx.get(f"{url}/{prefix}/stream/3")
    failed = httpx.get(f"{url}/{prefix}/noop", headers={"x-fail-commit": "1"})
    missing = httpx.get(f"{url}/{prefix}/service/404")
    assert (name.status_code, name.text) == (200, f"ada /{prefix}/name")
    chunks = stream.text.split(";")
    assert chunks[3:] == [""]
    assert len(set(chunks[:3])) == 1  # one connection, used by every chunk
    assert chunks[0].endswith(f":/{prefix}/stream/3")
    assert failed.status_code == 500
    assert missing.status_code == 404


def test_gunicorn_serves_requests_with_the_dal(gunicorn: str) -> None:
    """Under gunicorn: meta, streaming, a failed commit (500) and NotFound (404) behave."""
    _check_server(gunicorn, "s")


def test_uvicorn_serves_requests_with_the_dal(uvicorn: str) -> None:
    """Under uvicorn with Django's ASGI handler the same behaviours hold for async views."""
    _check_server(uvicorn, "a")


@pytest.fixture
def served_with_the_test_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The test project under uvicorn (Django's ASGI handler), on this test's database."""
    monkeypatch.setenv("DJANGO_DATUM_TEST_SQLITE", str(connection.settings_dict["NAME"]))
    port = _free_port()
    cmd = [str(BIN / "uvicorn"), "--host", "127.0.0.1", "--port", str(port), "--lifespan", "off"]
    cmd += ["--log-level", "warning", "tests.django_datum.asgi:application"]
    yield from _serve(cmd, port)


@pytest.mark.anyio
@pytest.mark.django_db(transaction=True)
async def test_uvicorn_sync_service_in_async_view_reads_the_logged_in_user(
    served_with_the_test_database: str, logged_in: AsyncClient
) -> None:
    """Under uvicorn, with a session cookie of a real user, the sync service reads that user."""
    cookie = logged_in.cookies[settings.SESSION_COOKIE_NAME].value
    async with httpx.AsyncClient(base_url=served_with_the_test_database) as client:
        client.cookies.set(settings.SESSION_COOKIE_NAME, cookie)
        sync_read = await client.get("/a/sync-name")
        async_read = await client.get("/a/name")
    assert (sync_read.status_code, sync_read.text) == (200, "ada")
    assert (async_read.status_code, async_read.text) == (200, "ada /a/name")
