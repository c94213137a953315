"""The example apps' settings: the pool size of their engines (``$DATABASE_POOL_SIZE``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from polydatum.contrib.sqlalchemy import AsyncConnectionResource, ConnectionResource

from example_apps.config import DATABASE_POOL_SIZE_ENV, database_pool_size
from example_apps.notes import build_async_data_manager, build_data_manager
from example_apps.notes.wiring import make_async_engine, make_engine


def test_pool_size_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``$DATABASE_POOL_SIZE`` gives the pool size; unset or blank, SQLAlchemy's default."""
    monkeypatch.setenv(DATABASE_POOL_SIZE_ENV, " 12 ")
    assert database_pool_size() == 12
    monkeypatch.setenv(DATABASE_POOL_SIZE_ENV, "")
    assert database_pool_size() is None
    monkeypatch.delenv(DATABASE_POOL_SIZE_ENV)
    assert database_pool_size() is None


@pytest.mark.parametrize("value", ["0", "-3", "eight", "2.5"])
def test_a_pool_size_that_is_not_a_positive_whole_number_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """A wrong ``$DATABASE_POOL_SIZE`` fails with the variable's name and what it needs."""
    monkeypatch.setenv(DATABASE_POOL_SIZE_ENV, value)
    with pytest.raises(ValueError, match=r"\$DATABASE_POOL_SIZE must be a whole number"):
        database_pool_size()


@pytest.mark.parametrize("scheme", ["sqlite", "postgresql"])
def test_pool_size_reaches_the_sync_and_async_pools(tmp_path: Path, scheme: str) -> None:
    """Both engines of a URL get the pool size (no connection is opened to size a pool)."""
    url = (
        f"sqlite:///{tmp_path / 'notes.sqlite3'}"
        if scheme == "sqlite"
        else "postgresql://nobody@127.0.0.1:1/none"
    )
    engine = make_engine(url, pool_size=9)
    async_engine = make_async_engine(url, pool_size=9)
    assert engine.pool.size() == 9  # type: ignore[attr-defined]
    assert async_engine.sync_engine.pool.size() == 9  # type: ignore[attr-defined]
    assert make_engine(url).pool.size() == 5  # type: ignore[attr-defined]


def test_in_memory_sqlite_has_no_pool_to_size() -> None:
    """In-memory SQLite keeps its single connection whatever the pool size says."""
    engine = make_engine("sqlite://", pool_size=9)
    async_engine = make_async_engine("sqlite://", pool_size=9)
    assert type(engine.pool).__name__ == "SingletonThreadPool"
    assert type(async_engine.sync_engine.pool).__name__ == "StaticPool"


def test_data_managers_pass_the_pool_size_to_their_engine(tmp_path: Path) -> None:
    """``build_data_manager`` and its async twin size the pool of their ``db`` resource."""
    url = f"sqlite:///{tmp_path / 'notes.sqlite3'}"
    sync_db = build_data_manager(url, pool_size=7).get_resource("db")
    async_db = build_async_data_manager(url, pool_size=7).get_resource("db")
    assert isinstance(sync_db, ConnectionResource)
    assert isinstance(async_db, AsyncConnectionResource)
    assert sync_db.engine.pool.size() == 7  # type: ignore[attr-defined]
    assert async_db.engine.sync_engine.pool.size() == 7  # type: ignore[attr-defined]
