"""Conduit's start-up: the secret, the runner's arguments, the schema, passwords and tokens."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from sqlalchemy import inspect, text

from example_apps.conduit import SECRET_KEY_ENV, ConfigurationError, prepare_database, secret_key
from example_apps.conduit import config as conduit_config
from example_apps.conduit.errors import Unauthorized
from example_apps.conduit.schema import metadata
from example_apps.conduit.security import Tokens, check_password, hash_password
from example_apps.engines import make_engine
from example_apps.notes import prepare_database as prepare_notes

from ._apps import ROOT, postgres_schema


def _runner(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "example_apps", *args]
    environment = {k: v for k, v in os.environ.items() if k != SECRET_KEY_ENV} | (env or {})
    return subprocess.run(
        command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("value", [None, "", "too short"])
def test_a_missing_or_short_secret_stops_the_apps_at_start_up(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    """Without ``$CONDUIT_SECRET_KEY`` of 32 characters the DataManager is refused, saying how."""
    if value is None:
        monkeypatch.delenv(SECRET_KEY_ENV, raising=False)
    else:
        monkeypatch.setenv(SECRET_KEY_ENV, value)
    conduit_config.data_manager.cache_clear()
    with pytest.raises(ConfigurationError, match=r"\$CONDUIT_SECRET_KEY .* at least 32 characters"):
        conduit_config.data_manager()
    conduit_config.data_manager.cache_clear()


def test_a_secret_of_32_characters_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret of 32 characters or more is returned as it is."""
    monkeypatch.setenv(SECRET_KEY_ENV, "k" * 32)
    assert secret_key() == "k" * 32


def test_the_runner_refuses_conduit_without_a_secret() -> None:
    """``--app conduit`` without a secret fails at once, naming the variable and ``--demo``."""
    result = _runner("--app", "conduit")
    assert result.returncode == 2
    assert "$CONDUIT_SECRET_KEY is not set" in result.stderr
    assert "--demo" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--app", "conduit", "--framework", "starlette", "--demo"], "--app conduit is served by"),
        (["--framework", "fastapi"], "--app notes is served by"),
        (["--app", "conduit", "token", "--demo"], "token is for the notes app"),
        (["--demo"], "--demo is for --app conduit"),
    ],
    ids=["conduit-starlette", "notes-fastapi", "conduit-token", "notes-demo"],
)
def test_the_runner_refuses_what_an_app_does_not_do(args: list[str], message: str) -> None:
    """An app with a framework that does not serve it, or an option of the other app, fails."""
    result = _runner(*args)
    assert result.returncode == 2
    assert message in result.stderr


def test_the_schema_is_created_and_creating_it_again_changes_nothing(tmp_path: Path) -> None:
    """``prepare_database`` makes every table; a second run (another worker) keeps the rows."""
    url = f"sqlite:///{tmp_path / 'conduit.sqlite3'}"
    prepare_database(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO tags (name) VALUES ('kept')"))
        prepare_database(url)
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == set(metadata.tables)
            assert conn.execute(text("SELECT name FROM tags")).scalars().all() == ["kept"]
    finally:
        engine.dispose()


def test_the_same_schema_is_created_on_postgresql() -> None:
    """On PostgreSQL the tables and their columns are the same as on SQLite."""
    with postgres_schema("conduit_schema") as (url, _):
        prepare_database(url)
        prepare_database(url)  # a second worker starting finds it done
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                found = inspect(conn)
                columns = {
                    name: [column["name"] for column in found.get_columns(name)]
                    for name in found.get_table_names()
                }
        finally:
            engine.dispose()
    assert columns == {
        name: [column.name for column in table.columns] for name, table in metadata.tables.items()
    }


def test_a_database_with_the_notes_apps_tables_is_refused(tmp_path: Path) -> None:
    """Conduit refuses a database whose users table is another app's, saying to use its own."""
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    prepare_notes(url)
    with pytest.raises(RuntimeError, match="give Conduit a database of its own"):
        prepare_database(url)
    result = _runner("--app", "conduit", "--demo", "--database-url", url)
    assert result.returncode == 1
    assert "give Conduit a database of its own" in result.stderr


def test_a_password_checks_only_against_its_own_hash() -> None:
    """A hash matches its password only; two hashes of one password differ (their salts)."""
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second
    assert check_password("correct horse", first)
    assert check_password("correct horse", second)
    assert not check_password("correct horsE", first)
    assert not check_password("correct horse", None)  # no such user


def test_a_token_carries_its_user_until_it_expires() -> None:
    """A token gives back its user id; once expired, or under another secret, it is refused."""
    tokens = Tokens("t" * 32)
    assert tokens.user_id(tokens.issue(42)) == 42
    with pytest.raises(Unauthorized, match="expired"):
        tokens.user_id(Tokens("t" * 32, lifetime=timedelta(seconds=-1)).issue(42))
    with pytest.raises(Unauthorized, match="not valid"):
        Tokens("u" * 32).user_id(tokens.issue(42))


def test_a_token_whose_subject_is_too_long_a_number_is_refused() -> None:
    """A signed token whose ``sub`` has more digits than Python reads as a number is a 401."""
    tokens = Tokens("t" * 32)
    forged = jwt.encode({"sub": "9" * 5000, "exp": 2**40}, "t" * 32, "HS256")
    with pytest.raises(Unauthorized, match="not valid"):
        tokens.user_id(forged)
