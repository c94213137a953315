"""The runner, ``python -m example_apps``: its token command and its argument checks."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from example_apps.notes import prepare_database
from example_apps.notes.statements import token_sha256
from example_apps.notes.wiring import make_engine

from ._apps import ROOT, free_port


def _runner(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "example_apps", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_token_command_prints_a_stored_token_for_the_user(tmp_path: Path) -> None:
    """``token --user NAME`` creates the tables and the user and prints a token stored for them."""
    url = f"sqlite:///{tmp_path / 'notes.sqlite3'}"
    result = _runner("token", "--database-url", url, "--user", "cleo")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            owner = conn.execute(
                text(
                    "SELECT users.name FROM api_tokens JOIN users ON users.id = user_id"
                    " WHERE token_sha256 = :digest"
                ),
                {"digest": token_sha256(token)},
            ).scalar_one()
    finally:
        engine.dispose()
    assert owner == "cleo"


def test_asgi_is_refused_for_flask() -> None:
    """``--asgi`` with another framework than Django fails at once, saying what it is for."""
    result = _runner("--framework", "flask", "--asgi")
    assert result.returncode == 2
    assert "--asgi is for --framework django" in result.stderr


def test_worker_without_a_broker_is_refused() -> None:
    """``worker`` with no broker configured fails at once, saying how to configure one."""
    command = [sys.executable, "-m", "example_apps", "worker"]
    env = {k: v for k, v in os.environ.items() if k != "CELERY_BROKER_URL"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "worker needs a Celery broker: set $CELERY_BROKER_URL" in result.stderr


def test_celery_options_are_refused_for_the_server() -> None:
    """Options the runner does not know are refused unless they follow ``worker``."""
    result = _runner("token", "--without-mingle")
    assert result.returncode == 2
    assert "unrecognized arguments: --without-mingle" in result.stderr


def test_prepare_database_adds_the_word_count_to_an_older_notes_table(tmp_path: Path) -> None:
    """A notes table made before ``words`` existed gets the column, its rows kept, null."""
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "CREATE TABLE notes (id INTEGER PRIMARY KEY, owner_id INTEGER,"
                    " title VARCHAR(200), body TEXT)"
                )
            )
            conn.execute(text("INSERT INTO notes VALUES (1, 1, 'old', 'a b')"))
        prepare_database(url)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, words FROM notes")).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in rows] == [(1, None)]


def test_a_url_whose_driver_is_missing_gets_a_clear_message() -> None:
    """A ``mysql://`` URL without its driver installed fails with a message, not a traceback."""
    assert importlib.util.find_spec("MySQLdb") is None, "this test needs mysqlclient absent"
    env = {**os.environ, "DATABASE_URL": "mysql://root@127.0.0.1:1/notes"}
    command = [sys.executable, "-m", "example_apps"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(
        "Can not use the database mysql://root@127.0.0.1:1/notes: its driver is not installed"
        " (No module named 'MySQLdb').\nCheck --database-url / $DATABASE_URL: the apps are"
        " tested on sqlite:///PATH and postgresql://"
    )


def _shown_and_exec(process: subprocess.Popen[str]) -> tuple[list[str], list[str], list[str]]:
    """Read the runner's ``Running:`` line, then the first line of the command it became.

    Return the shown command split into words, and the process's command line
    and environment once it has become that command.
    """
    assert process.stdout is not None
    runner_lines = []
    for line in process.stdout:  # the runner prints at most 6 lines of its own
        if not line.startswith(("Database: ", "Demo user ", "Serving ", "No $", "Counting ")):
            break
        runner_lines.append(line)
    assert line.startswith("Running: "), f"no 'Running:' line, got {[*runner_lines, line]}"
    first = process.stdout.readline()
    if first.startswith("Listening on "):  # the runner's own last line
        first = process.stdout.readline()
    assert first, "the runner's command printed nothing"  # the command runs: exec has happened
    proc = Path(f"/proc/{process.pid}")
    cmdline = [arg.decode() for arg in (proc / "cmdline").read_bytes().split(b"\0")[:-1]]
    environ = [item.decode() for item in (proc / "environ").read_bytes().split(b"\0")[:-1]]
    return shlex.split(line.removeprefix("Running: ")), cmdline, environ


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize(
    "args",
    [["--framework", "django"], ["worker", "--broker-url", "redis://127.0.0.1:1/0"]],
    ids=["server", "worker"],
)
def test_runner_prints_the_command_it_runs(tmp_path: Path, args: list[str]) -> None:
    """The ``Running:`` line is the exact command the runner becomes, with the settings it sets."""
    url = f"sqlite:///{tmp_path / 'notes.sqlite3'}"
    runner = [sys.executable, "-m", "example_apps", *args, "--port", str(free_port())]
    env = {k: v for k, v in os.environ.items() if k != "CELERY_BROKER_URL"}
    # A variable of the shell the runner only passes on is not part of the shown line.
    env.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="elsewhere.settings", PYTHONUNBUFFERED="1")
    with subprocess.Popen(
        runner, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        try:
            words, cmdline, environ = _shown_and_exec(process)
        finally:
            process.terminate()  # gunicorn and celery stop their own workers on SIGTERM
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    count = next(i for i, word in enumerate(words) if not re.match(r"[A-Z_]+=", word))
    settings, (interpreter, *rest) = words[:count], words[count:]
    assert set(settings) <= set(environ)
    assert {setting.partition("=")[0] for setting in settings} == (
        {"DATABASE_URL", "CELERY_BROKER_URL"}
        if args[0] == "worker"
        else {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    )
    assert Path(ROOT, interpreter).resolve() == Path(cmdline[0]).resolve()
    assert rest == cmdline[1:]
