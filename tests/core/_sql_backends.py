"""Databases for the SQLAlchemy tests: SQLite in a temp folder, PostgreSQL from the environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

POSTGRES_URL_ENV = "POLYDATUM_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_ENV = "POLYDATUM_REQUIRE_POSTGRES"
BACKENDS = ["sqlite", "postgresql"]


def database_url(backend: str, tmp_path: Path, *, is_async: bool) -> str:
    """Return a SQLAlchemy URL for ``backend``; skip (or fail, when required) without PostgreSQL."""
    if backend == "sqlite":
        driver = "aiosqlite" if is_async else "pysqlite"
        return f"sqlite+{driver}:///{tmp_path / 'polydatum.db'}"
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
            pytest.fail(f"{REQUIRE_POSTGRES_ENV}=1 but {POSTGRES_URL_ENV} is not set.")
        pytest.skip(f"{POSTGRES_URL_ENV} is not set")
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def schema(prefix: str) -> tuple[list[str], list[str]]:
    """Return (create, drop) statements for a parent table and a child with a deferred FK."""
    parent, child = f"{prefix}_parent", f"{prefix}_child"
    create = [
        f"CREATE TABLE {parent} (id INTEGER PRIMARY KEY)",
        f"CREATE TABLE {child} (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL "
        f"REFERENCES {parent} (id) DEFERRABLE INITIALLY DEFERRED)",
    ]
    drop = [f"DROP TABLE IF EXISTS {child}", f"DROP TABLE IF EXISTS {parent}"]
    return create, drop


def enable_sqlite_foreign_keys(dbapi_connection: Any, connection_record: Any) -> None:
    """Turn on SQLite's foreign keys for each new connection (they are off by default)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
