"""Start the example apps under their real servers (through ``python -m example_apps``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest
from sqlalchemy import Engine, text

from example_apps.engines import temporary_engine

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_URL_ENV = "POLYDATUM_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_ENV = "POLYDATUM_REQUIRE_POSTGRES"

#: Each app as the runner starts it: (name, runner arguments).
APPS = {
    "flask": ["--framework", "flask"],
    "django": ["--framework", "django"],
    "django-asgi": ["--framework", "django", "--asgi"],
    "starlette": ["--framework", "starlette"],
}
#: The Conduit apps, likewise; the runner needs ``$CONDUIT_SECRET_KEY`` for them (``secret=``).
CONDUIT_APPS = {
    "conduit-flask": ["--app", "conduit", "--framework", "flask"],
    "conduit-django": ["--app", "conduit", "--framework", "django"],
    "conduit-django-asgi": ["--app", "conduit", "--framework", "django", "--asgi"],
    "conduit-fastapi": ["--app", "conduit", "--framework", "fastapi"],
}

#: The token secret the Conduit servers of the tests run with (tests sign tokens with it too).
CONDUIT_SECRET = "conduit-tests-" + "s" * 40

# uvicorn re-raises SIGTERM once it has shut down gracefully, which ends the
# process before its exit hooks run; SIGINT (Ctrl-C) is as graceful and lets them run.
STOP_SIGNALS = {
    "flask": signal.SIGTERM,
    "django": signal.SIGTERM,
    "django-asgi": signal.SIGINT,
    "starlette": signal.SIGINT,
    "conduit-flask": signal.SIGTERM,
    "conduit-django": signal.SIGTERM,
    "conduit-django-asgi": signal.SIGINT,
    "conduit-fastapi": signal.SIGINT,
}


def postgres_url() -> str:
    """Return the PostgreSQL server's URL; skip without it (fail when it is required)."""
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
            pytest.fail(f"{REQUIRE_POSTGRES_ENV}=1 but {POSTGRES_URL_ENV} is not set.")
        pytest.skip(f"{POSTGRES_URL_ENV} is not set")
    return url


@contextmanager
def postgres_schema(prefix: str) -> Iterator[tuple[str, str]]:
    """Create a schema of its own for this run; yield (URL using it, its name); drop it after.

    The URL's connections use the schema (``search_path``), which keeps the
    tables away from everything else in that database, and carry its name
    as their ``application_name``, to find them in ``pg_stat_activity``.
    """
    base = postgres_url()
    name = f"{prefix}_{os.getpid()}"
    _admin(base, f'DROP SCHEMA IF EXISTS "{name}" CASCADE', f'CREATE SCHEMA "{name}"')
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{name}&application_name={name}", name
    finally:
        _admin(base, f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def fresh_database(stack: ExitStack, backend: str, name: str, folder: Path) -> str:
    """The URL of an empty database: a SQLite file in ``folder``, or a PostgreSQL schema.

    The schema (named after ``name``, see :func:`postgres_schema`) is dropped when
    ``stack`` closes.
    """
    if backend == "sqlite":
        return f"sqlite:///{folder / f'{name}.sqlite3'}"
    url, _ = stack.enter_context(postgres_schema(name))
    return url


def _admin(url: str, *statements: str) -> None:
    with temporary_engine(url) as engine, engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A running app: its base URL, how to stop it, and its log."""

    url: str
    stop_signal: int
    process: subprocess.Popen[bytes]
    log_file: IO[bytes]

    def log(self) -> str:
        self.log_file.seek(0)
        return self.log_file.read().decode(errors="replace")

    def stop(self) -> None:
        """Stop the server gracefully (its workers exit and run their exit hooks)."""
        self.process.send_signal(self.stop_signal)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"the server did not stop within 60 s of its stop signal:\n{self.log()}"
            ) from None


@contextmanager
def serve(
    app: str,
    database_url: str,
    *,
    workers: int = 1,
    celery: dict[str, str] | None = None,
    secret: str | None = None,
) -> Iterator[Server]:
    """Run ``app`` (of ``APPS`` or ``CONDUIT_APPS``) under its server with the test hooks on.

    ``celery`` holds the broker and queue settings (environment variables) that
    make the app send ``count_words``; without it the app sends nothing.
    ``secret`` is Conduit's ``$CONDUIT_SECRET_KEY``. The server stops afterwards.
    """
    port = free_port()
    arguments = APPS.get(app) or CONDUIT_APPS[app]
    command = [sys.executable, "-m", "example_apps", *arguments, "--port", str(port)]
    command += ["--database-url", database_url, "--workers", str(workers)]
    env = {**os.environ, "NOTES_TEST_HOOKS": "1"}
    env.pop("CELERY_BROKER_URL", None)
    env.update(celery or {})
    if secret is not None:
        env["CONDUIT_SECRET_KEY"] = secret
    # A file, not a pipe: a chatty server never blocks on a full pipe.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        server = Server(f"http://127.0.0.1:{port}", STOP_SIGNALS[app], process, log)
        try:
            _wait_until_up(server, "/api/tags" if app in CONDUIT_APPS else "/notes")
            yield server
        finally:
            if process.poll() is None:
                server.stop()


def _wait_until_up(server: Server, probe: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited:\n{server.log()}")
        try:
            httpx.get(f"{server.url}{probe}", timeout=2)
            return  # any answer (a 401 included) means it serves
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer in time:\n{server.log()}") from None
        time.sleep(0.05)  # polling interval, not synchronisation


def note_rows(engine: Engine) -> list[tuple[object, ...]]:
    """Every row of the notes table, for before/after comparisons."""
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text("SELECT * FROM notes ORDER BY id"))]
