"""A PostgreSQL server of the test's own, in a temporary folder, that a test may restart.

The machine's shared server must never be restarted by a test; this one is
made with ``initdb`` and run with ``pg_ctl`` on a free port, as the
``postgres`` user when the tests run as root (``initdb`` refuses root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from .servers import free_port

REQUIRE_POSTGRES_ENV = "POLYDATUM_REQUIRE_POSTGRES"
#: The superuser of the private server, as in the machine's (trust authentication).
SUPERUSER = "root"


def _bindir() -> Path | None:
    """The newest PostgreSQL's programs folder holding initdb and pg_ctl, if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


@dataclass
class PrivatePostgres:
    """A running private server: its URL, and how to restart it."""

    url: str
    data: Path
    bindir: Path
    prefix: list[str]
    log: Path

    def pg_ctl(self, *args: str) -> None:
        """Run ``pg_ctl`` on this server; fail with its log if it fails."""
        command = [*self.prefix, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(
                f"pg_ctl {' '.join(args)} failed: {done.stderr}\n{self.log.read_text()[-3000:]}"
            )

    def restart(self) -> None:
        """Stop the server (fast: sessions are ended, as on a real restart) and start it again."""
        self.pg_ctl("-m", "fast", "-l", str(self.log), "-w", "restart")


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """Run a private PostgreSQL server for the block; skip (or fail, when required) without one."""
    bindir = _bindir()
    if bindir is None:
        message = "no PostgreSQL server programs (initdb, pg_ctl) on this machine"
        if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
            pytest.fail(f"{REQUIRE_POSTGRES_ENV}=1 but there are {message}.")
        pytest.skip(message)
    folder = Path(tempfile.mkdtemp(prefix="polydatum-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        # initdb refuses to run as root: the server runs as the postgres user.
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, log, port = folder / "data", folder / "server.log", free_port()
    init = [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "trust"]
    subprocess.run([*init, "--no-sync"], check=True, capture_output=True, timeout=120)
    server = PrivatePostgres(
        f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres", data, bindir, prefix, log
    )
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {folder} -c fsync=off"
    try:
        server.pg_ctl("-o", options, "-l", str(log), "-w", "start")
        yield server
    finally:
        try:
            server.pg_ctl("-m", "immediate", "-w", "stop")
        except RuntimeError:
            pass  # it never started: nothing to stop
        shutil.rmtree(folder, ignore_errors=True)
