"""polydatum.contrib.sqlalchemy, async: per-context AsyncConnections and one transaction each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest
from polydatum import DataAccessContext, DataManager
from polydatum.contrib.sqlalchemy import (
    AsyncConnectionResource,
    AsyncSessionResource,
    AsyncTransactionMiddleware,
    ConnectionResource,
    TransactionMiddleware,
)
from polydatum.errors import MiddlewareSetupException
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import AsyncAdaptedQueuePool, QueuePool

from tests.core._sql_backends import BACKENDS, database_url, enable_sqlite_foreign_keys, schema

pytestmark = pytest.mark.anyio

PREFIX = "pd_sqla_async"
PARENT, CHILD = f"{PREFIX}_parent", f"{PREFIX}_child"
INSERT_PARENT = text(f"INSERT INTO {PARENT} (id) VALUES (:id)")
INSERT_ORPHAN = text(f"INSERT INTO {CHILD} (id, parent_id) VALUES (1, 999)")


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The async URL of the database under test."""
    return database_url(request.param, tmp_path, is_async=True)


@pytest.fixture
def check_engine(url: str) -> Iterator[Engine]:
    """A sync engine on the same database: creates the schema and reads what was committed."""
    engine = create_engine(url.replace("+aiosqlite", "+pysqlite"))
    create, drop = schema(PREFIX)
    with engine.begin() as conn:
        for statement in [*drop, *create]:
            conn.execute(text(statement))
    yield engine
    with engine.begin() as conn:
        for statement in drop:
            conn.execute(text(statement))
    engine.dispose()


@pytest.fixture
async def engine(url: str, check_engine: Engine) -> AsyncIterator[AsyncEngine]:
    """The async engine under test, on a queue pool whose check-outs the tests count.

    SQLAlchemy before 2.0.38 gives a file SQLite database no pool (NullPool) by default.
    """
    engine = create_async_engine(url, poolclass=AsyncAdaptedQueuePool)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", enable_sqlite_foreign_keys)
    yield engine
    await engine.dispose()


@pytest.fixture
def dm(engine: AsyncEngine) -> DataManager:
    """A DataManager with an async connection resource ``db`` and its transaction middleware."""
    dm = DataManager()
    dm.register_resources(db=AsyncConnectionResource(engine))
    dm.register_context_middleware(AsyncTransactionMiddleware("db"))
    return dm


def parent_ids(engine: Engine) -> list[int]:
    """Read the committed parent ids."""
    with engine.connect() as conn:
        return list(conn.scalars(text(f"SELECT id FROM {PARENT} ORDER BY id")))


def child_ids(engine: Engine) -> list[int]:
    """Read the committed child ids."""
    with engine.connect() as conn:
        return list(conn.scalars(text(f"SELECT id FROM {CHILD} ORDER BY id")))


def checked_out(engine: AsyncEngine) -> int:
    """Return how many connections of ``engine``'s pool are checked out."""
    assert isinstance(engine.pool, QueuePool)
    return engine.pool.checkedout()


async def write_parent(
    dm: DataManager, *, orphan: bool = False, fail_with: Exception | None = None
) -> None:
    """In one context, insert parent 1 (and an orphan child), then raise ``fail_with``."""
    async with dm.context() as ctx:
        conn = await ctx.aget("db")
        await conn.execute(INSERT_PARENT, {"id": 1})
        if orphan:
            await conn.execute(INSERT_ORPHAN)
        if fail_with is not None:
            raise fail_with


async def fail_on_teardown(context: DataAccessContext) -> AsyncGenerator[None, None]:
    """Middleware whose teardown fails, as an audit step that could not write would."""
    yield
    raise RuntimeError("audit failed")


async def test_clean_context_commits(dm: DataManager, check_engine: Engine) -> None:
    """Rows written in a context that ends cleanly are committed."""
    await write_parent(dm)
    assert parent_ids(check_engine) == [1]


async def test_exception_in_context_rolls_back(dm: DataManager, check_engine: Engine) -> None:
    """An exception raised in the context rolls its writes back and propagates."""
    with pytest.raises(LookupError):
        await write_parent(dm, fail_with=LookupError("no such note"))
    assert parent_ids(check_engine) == []


async def test_later_middleware_failure_rolls_back(dm: DataManager, check_engine: Engine) -> None:
    """A middleware registered after the transaction failing at teardown rolls the writes back."""
    dm.register_context_middleware(fail_on_teardown)
    with pytest.raises(RuntimeError, match="audit failed"):
        await write_parent(dm)
    assert parent_ids(check_engine) == []


async def test_failed_commit_propagates_and_writes_nothing(
    dm: DataManager, check_engine: Engine
) -> None:
    """A commit that fails (a deferred FK) raises out of the context and leaves no row behind."""
    with pytest.raises(IntegrityError) as info:
        await write_parent(dm, orphan=True)
    assert "commit" in {frame.name for frame in info.traceback}
    assert (parent_ids(check_engine), child_ids(check_engine)) == ([], [])


async def test_connection_checked_out_on_first_access(dm: DataManager, engine: AsyncEngine) -> None:
    """The connection leaves the pool only when the context first asks for it."""
    async with dm.context() as ctx:
        before = checked_out(engine)
        assert isinstance(await ctx.aget("db"), AsyncConnection)
        after = checked_out(engine)
    assert (before, after) == (0, 1)


async def test_unused_context_checks_out_nothing(dm: DataManager, engine: AsyncEngine) -> None:
    """A context that never touches the resource takes no connection and begins no transaction."""
    events: list[str] = []
    event.listen(engine.sync_engine, "checkout", lambda *args: events.append("checkout"))
    event.listen(engine.sync_engine, "begin", lambda *args: events.append("begin"))
    async with dm.context():
        during = checked_out(engine)
    assert (during, events) == (0, [])


_OUTCOMES: dict[str, type[Exception] | None] = {
    "commit": None,
    "exception": LookupError,
    "failed commit": IntegrityError,
    "failing middleware": RuntimeError,
}


@pytest.mark.parametrize("outcome", list(_OUTCOMES))
async def test_connection_returned_after_every_outcome(
    dm: DataManager, engine: AsyncEngine, outcome: str
) -> None:
    """Whatever the context's end, its connection is back in the pool afterwards."""
    if outcome == "failing middleware":
        dm.register_context_middleware(fail_on_teardown)
    raised: type[Exception] | None = None
    try:
        await write_parent(
            dm,
            orphan=outcome == "failed commit",
            fail_with=LookupError("no such note") if outcome == "exception" else None,
        )
    except Exception as exc:
        raised = type(exc)
    assert (raised, checked_out(engine)) == (_OUTCOMES[outcome], 0)


async def test_cancelled_context_rolls_back_and_returns_connection(
    dm: DataManager, engine: AsyncEngine, check_engine: Engine
) -> None:
    """A context cancelled mid-transaction writes nothing and gives its connection back."""
    written = anyio.Event()

    async def request() -> None:
        async with dm.context() as ctx:
            conn = await ctx.aget("db")
            await conn.execute(INSERT_PARENT, {"id": 1})
            written.set()
            await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        tg.start_soon(request)
        await written.wait()
        tg.cancel_scope.cancel()
    assert (parent_ids(check_engine), checked_out(engine)) == ([], 0)


SLEEP_MARKER = "/* pd_sqla_async_sleep */"


def server_queries_running(watcher: Connection) -> int:
    """Count the sleeping test queries PostgreSQL is running right now."""
    running = watcher.scalar(
        text(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
            "AND query LIKE :pattern AND pid <> pg_backend_pid()"
        ),
        {"pattern": f"SELECT pg_sleep(30) {SLEEP_MARKER}%"},
    )
    watcher.rollback()
    return int(running or 0)


async def wait_until_running(watcher: Connection) -> None:
    """Poll (bounded) until the sleeping query is running on the server."""
    for _ in range(500):
        if server_queries_running(watcher):
            return
        await anyio.sleep(0.01)
    raise AssertionError("the query never started")


async def sleep_on_server(dm: DataManager) -> None:
    """In one context, insert parent 1, then run a long query on the server."""
    async with dm.context() as ctx:
        conn = await ctx.aget("db")
        await conn.execute(INSERT_PARENT, {"id": 1})
        await conn.execute(text(f"SELECT pg_sleep(30) {SLEEP_MARKER}"))


@pytest.fixture
def watcher(check_engine: Engine) -> Iterator[Connection]:
    """A PostgreSQL connection that watches, then stops, the test's server-side queries."""
    assert check_engine.dialect.name == "postgresql", "use @ON_A_SERVER: SQLite has no server"
    with check_engine.connect() as conn:
        yield conn
        conn.execute(
            text("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE :pattern"),
            {"pattern": f"SELECT pg_sleep(30) {SLEEP_MARKER}%"},
        )
        conn.commit()


#: For a test that interrupts a query running on a server: PostgreSQL only.
ON_A_SERVER = pytest.mark.parametrize("url", ["postgresql"], indirect=True)


@ON_A_SERVER
async def test_task_cancelled_during_query(
    dm: DataManager, engine: AsyncEngine, check_engine: Engine, watcher: Connection
) -> None:
    """A task cancelled mid-query writes nothing, returns its connection and stops the query."""
    task = asyncio.get_running_loop().create_task(sleep_on_server(dm))
    await wait_until_running(watcher)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (parent_ids(check_engine), checked_out(engine), server_queries_running(watcher)) == (
        [],
        0,
        0,
    )


@ON_A_SERVER
async def test_scope_cancelled_during_query(
    dm: DataManager, engine: AsyncEngine, check_engine: Engine, watcher: Connection
) -> None:
    """A cancel scope cancelled while the query runs writes nothing and returns the connection."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(sleep_on_server, dm)
        await wait_until_running(watcher)
        tg.cancel_scope.cancel()
    assert (parent_ids(check_engine), checked_out(engine)) == ([], 0)


# -- sessions and the sync middleware in async contexts -----------------------


async def test_async_session_committed(engine: AsyncEngine, check_engine: Engine) -> None:
    """Statements run on the AsyncSession are committed when the context ends cleanly."""
    dm = DataManager()
    dm.register_resources(db=AsyncSessionResource(engine))
    dm.register_context_middleware(AsyncTransactionMiddleware("db"))
    async with dm.context() as ctx:
        session = await ctx.aget("db")
        assert isinstance(session, AsyncSession)
        await session.execute(INSERT_PARENT, {"id": 1})
    assert parent_ids(check_engine) == [1]


async def test_async_session_failed_commit_writes_nothing(
    engine: AsyncEngine, check_engine: Engine
) -> None:
    """An AsyncSession commit that fails propagates, writes nothing and returns the connection."""
    dm = DataManager()
    dm.register_resources(db=AsyncSessionResource(engine))
    dm.register_context_middleware(AsyncTransactionMiddleware("db"))
    with pytest.raises(IntegrityError):
        await write_parent(dm, orphan=True)
    assert (parent_ids(check_engine), checked_out(engine)) == ([], 0)


async def test_sync_middleware_in_async_context(check_engine: Engine) -> None:
    """The sync resource and middleware also make an ``async with`` context one transaction."""
    dm = DataManager()
    dm.register_resources(db=ConnectionResource(check_engine))
    dm.register_context_middleware(TransactionMiddleware("db"))
    async with dm.context() as ctx:
        ctx.db.execute(INSERT_PARENT, {"id": 1})
    assert parent_ids(check_engine) == [1]


async def test_sync_resource_with_async_middleware_fails(check_engine: Engine) -> None:
    """The async middleware refuses a sync resource and names the sync middleware."""
    dm = DataManager()
    dm.register_resources(db=ConnectionResource(check_engine))
    dm.register_context_middleware(AsyncTransactionMiddleware("db"))
    with pytest.raises(MiddlewareSetupException, match=r"use TransactionMiddleware\('db'\)"):
        await dm.context().__aenter__()


async def test_missing_resource_fails_first_context() -> None:
    """An async middleware naming an unregistered resource says what to register."""
    dm = DataManager()
    dm.register_context_middleware(AsyncTransactionMiddleware("db"))
    with pytest.raises(MiddlewareSetupException, match=r"register_resources\(db=AsyncConn"):
        await dm.context().__aenter__()


@pytest.mark.parametrize("kind", ["engine", "sessionmaker"])
def test_sync_bind_refused_by_async_session_resource(tmp_path: Path, kind: str) -> None:
    """AsyncSessionResource refuses an Engine or sessionmaker and names the sync resource."""
    engine = create_engine(f"sqlite:///{tmp_path / 'a.db'}")
    bind = engine if kind == "engine" else sessionmaker(engine)
    with pytest.raises(TypeError, match="use SessionResource"):
        AsyncSessionResource(bind)  # type: ignore[arg-type]


def test_sync_engine_refused_by_async_resource(tmp_path: Path) -> None:
    """AsyncConnectionResource refuses a sync Engine and says what it needs."""
    with pytest.raises(TypeError, match="create_async_engine"):
        AsyncConnectionResource(create_engine(f"sqlite:///{tmp_path / 'a.db'}"))  # type: ignore[arg-type]
