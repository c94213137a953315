"""The runner, ``python -m example_apps``: its token command and its argument checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from example_apps.notes import prepare_database
from example_apps.notes.statements import token_sha256
from example_apps.notes.wiring import make_engine

from ._apps import ROOT


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
