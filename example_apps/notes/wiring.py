"""Wiring: engines, DataManagers and the per-request meta that resolves the user.

``build_data_manager(url)`` (Flask, Django) and ``build_async_data_manager(url)``
(Starlette) register one resource, ``db`` (a pooled connection, checked out on
first use), one context middleware (the request is one transaction) and the
services. ``url`` is any SQLAlchemy URL; ``postgresql://...`` uses psycopg 3,
``sqlite:///...`` the standard library (aiosqlite when async). ``pool_size``
is how many connections the engine's pool keeps open (SQLAlchemy's default,
5, when None; in-memory SQLite has no pool to size): give it the number of
requests a process serves at once, or every request over it opens and
closes a connection of its own. A server database's pool checks each
connection on checkout (``pool_pre_ping``: one ``SELECT 1`` round trip, about
80 us a request here, see ``bench/bench_pre_ping.py``), so a connection that
died while idle (the server restarted) is replaced instead of failing a
request. With
``after_write`` (the apps pass one when a Celery broker is configured),
``OnCommitMiddleware`` goes first, so tasks sent with ``delay_on_commit``
leave once the request committed.
"""

from __future__ import annotations

from typing import Any, cast

from polydatum import DataAccessLayer, DataManager, lazy
from polydatum.contrib.sqlalchemy import (
    AsyncConnectionResource,
    AsyncTransactionMiddleware,
    ConnectionResource,
    TransactionMiddleware,
)
from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool

from .async_services import AsyncNotes, AsyncUsers
from .schema import create_schema
from .services import AfterWrite, Notes, Users

__all__ = [
    "async_user_meta",
    "build_async_data_manager",
    "build_data_manager",
    "issue_token",
    "make_async_engine",
    "make_engine",
    "prepare_database",
    "user_meta",
]

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


def build_data_manager(
    url: str, after_write: AfterWrite | None = None, pool_size: int | None = None
) -> DataManager:
    """Return the sync DataManager of the notes domain (Flask, Django, the worker, scripts)."""
    dm = DataManager()
    dm.register_resources(db=ConnectionResource(make_engine(url, pool_size)))
    dm.register_context_middleware(*_middleware(TransactionMiddleware("db"), after_write))
    dm.register_services(users=Users(), notes=Notes(after_write))
    return dm


def build_async_data_manager(
    url: str, after_write: AfterWrite | None = None, pool_size: int | None = None
) -> DataManager:
    """Return the async DataManager of the notes domain (Starlette); use ``async with``."""
    dm = DataManager()
    dm.register_resources(db=AsyncConnectionResource(make_async_engine(url, pool_size)))
    dm.register_context_middleware(*_middleware(AsyncTransactionMiddleware("db"), after_write))
    dm.register_services(users=AsyncUsers(), notes=AsyncNotes(after_write))
    return dm


def _middleware(transaction: Any, after_write: AfterWrite | None) -> list[Any]:
    if after_write is None:  # nothing is sent: no need for Celery at all
        return [transaction]
    from polydatum.contrib.celery import OnCommitMiddleware  # the celery extra

    # First, so that its teardown (sending the tasks) runs after the commit.
    return [OnCommitMiddleware(), transaction]


def user_meta(dal: DataAccessLayer, authorization: str | None) -> dict[str, Any]:
    """Return a request's meta: ``user``, loaded from its token when a service first reads it.

    The lookup runs in the request's context, on its connection and in its
    transaction; a request that never reads ``meta.user`` never looks it up.
    """
    return {"user": lazy(lambda: dal.users.authenticate(authorization))}


def async_user_meta(dal: DataAccessLayer, authorization: str | None) -> dict[str, Any]:
    """Async twin of :func:`user_meta`: services read ``await self._ctx.meta.aget("user")``."""

    def refuse() -> Any:
        raise RuntimeError('Async services read the user with await self._ctx.meta.aget("user").')

    async def load() -> Any:
        return await dal.users.authenticate(authorization)

    return {"user": lazy(refuse, load)}


def prepare_database(url: str) -> None:
    """Create the tables that do not exist yet."""
    engine = make_engine(url)
    try:
        create_schema(engine)
    finally:
        engine.dispose()


def issue_token(url: str, name: str) -> str:
    """Return a new API token for user ``name`` (created if needed), outside any request."""
    dm = build_data_manager(url)
    try:
        with dm.dal() as dal:
            token: str = dal.users.issue_token(name)
    finally:
        dm.get_resource("db").engine.dispose()  # type: ignore[union-attr]
    return token
