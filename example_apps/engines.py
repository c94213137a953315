"""SQLAlchemy engines for the example apps: the driver for each URL, SQLite's foreign keys, pools.

``url`` is any SQLAlchemy URL; ``postgresql://...`` uses psycopg 3 (sync and
async), ``sqlite:///...`` the standard library (aiosqlite when async).
``pool_size`` is how many connections the engine's pool keeps open
(SQLAlchemy's default, 5, when None; in-memory SQLite has no pool to size):
give it the number of requests a process serves at once, or every request
over it opens and closes a connection of its own. A server database's pool
checks each connection on checkout (``pool_pre_ping``: one ``SELECT 1`` round
trip, about 80 us a request here, see ``bench/bench_pre_ping.py``), so a
connection that died while idle (the server restarted) is replaced instead of
failing a request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool

__all__ = ["make_async_engine", "make_engine", "temporary_engine"]

_SYNC_DRIVERS = {"postgresql": "postgresql+psycopg", "sqlite": "sqlite+pysqlite"}
_ASYNC_DRIVERS = {"postgresql": "postgresql+psycopg", "sqlite": "sqlite+aiosqlite"}


def _with_driver(url: str, drivers: dict[str, str]) -> URL:
    parsed = make_url(url)
    if "+" not in parsed.drivername and parsed.drivername in drivers:
        parsed = parsed.set(drivername=drivers[parsed.drivername])
    return parsed


def _sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # SQLite enforces foreign keys only when asked, on each connection.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _pool_options(url: URL, pool_size: int | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if url.get_backend_name() != "sqlite":
        # A server's connection can die while it waits in the pool (the server restarted,
        # or a proxy timed it out): check it on checkout, at the cost of a round trip,
        # rather than fail the request that gets it. SQLite has no server to lose.
        options["pool_pre_ping"] = True
    # Only queue pools have a size; in-memory SQLite keeps its one connection.
    dialect = cast("type[DefaultDialect]", url.get_dialect())
    if pool_size is not None and issubclass(dialect.get_pool_class(url), QueuePool):
        options["pool_size"] = pool_size
    return options


def make_engine(url: str, pool_size: int | None = None) -> Engine:
    """Return a sync engine for ``url`` (psycopg 3 for ``postgresql://``)."""
    parsed = _with_driver(url, _SYNC_DRIVERS)
    engine = create_engine(parsed, **_pool_options(parsed, pool_size))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
    return engine


def make_async_engine(url: str, pool_size: int | None = None) -> AsyncEngine:
    """Return an async engine for ``url`` (psycopg 3 async, or aiosqlite)."""
    parsed = _with_driver(url, _ASYNC_DRIVERS)
    engine = create_async_engine(parsed, **_pool_options(parsed, pool_size))
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
    return engine


@contextmanager
def temporary_engine(url: str) -> Iterator[Engine]:
    """A sync engine for one job outside the apps (creating tables, a script); disposed after."""
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
