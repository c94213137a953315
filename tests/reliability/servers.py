"""Start a real server in a subprocess, wait until it answers, read its workers' memory."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(port: int, path: str) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


@contextmanager
def running(
    argv: list[str], port: int, env: Mapping[str, str], ready_path: str = "/stats"
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` (a server on ``port``) for the block; fail if ``ready_path`` never gives 200."""
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    # A file, not a pipe: a server logging many errors must never block on a full pipe.
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(argv, cwd=ROOT, env=full_env, stdout=log, stderr=log)
        try:
            for _ in range(300):  # up to ~30 s for the server to import and bind
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"server exited: {log.read().decode()[-2000:]}")
                if _answers(port, ready_path):
                    break
                time.sleep(0.1)
            else:
                raise RuntimeError(f"server on port {port} never answered")
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def children(pid: int) -> list[int]:
    """The pids of ``pid``'s child processes."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: split after it.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


def rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` in kB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def python() -> str:
    """The interpreter running the tests (servers run in the same environment)."""
    return sys.executable
