"""polydatum.contrib.sqlalchemy, sync: per-context connections and one transaction per context."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from polydatum import DataAccessContext, DataManager
from polydatum.contrib.sqlalchemy import (
    AsyncConnectionResource,
    ConnectionResource,
    SessionResource,
    TransactionMiddleware,
)
from polydatum.errors import MiddlewareSetupException
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import QueuePool

from tests.core._sql_backends import BACKENDS, database_url, enable_sqlite_foreign_keys, schema

PREFIX = "pd_sqla_sync"
PARENT, CHILD = f"{PREFIX}_parent", f"{PREFIX}_child"
INSERT_PARENT = text(f"INSERT INTO {PARENT} (id) VALUES (:id)")
INSERT_ORPHAN = text(f"INSERT INTO {CHILD} (id, parent_id) VALUES (1, 999)")


class Base(DeclarativeBase):
    pass


class Parent(Base):
    __tablename__ = PARENT
    id: Mapped[int] = mapped_column(primary_key=True)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A sync engine on a fresh parent/child schema (the child's FK is checked at commit)."""
    engine = create_engine(database_url(request.param, tmp_path, is_async=False))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", enable_sqlite_foreign_keys)
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
def dm(engine: Engine) -> DataManager:
    """A DataManager with a connection resource ``db`` and its transaction middleware."""
    dm = DataManager()
    dm.register_resources(db=ConnectionResource(engine))
    dm.register_context_middleware(TransactionMiddleware("db"))
    return dm


def parent_ids(engine: Engine) -> list[int]:
    """Read the committed parent ids on a connection of its own."""
    with engine.connect() as conn:
        return list(conn.scalars(text(f"SELECT id FROM {PARENT} ORDER BY id")))


def child_ids(engine: Engine) -> list[int]:
    """Read the committed child ids on a connection of its own."""
    with engine.connect() as conn:
        return list(conn.scalars(text(f"SELECT id FROM {CHILD} ORDER BY id")))


def checked_out(engine: Engine) -> int:
    """Return how many connections of ``engine``'s pool are checked out."""
    assert isinstance(engine.pool, QueuePool)
    return engine.pool.checkedout()


def write_parent(
    dm: DataManager, *, orphan: bool = False, fail_with: Exception | None = None
) -> None:
    """In one context, insert parent 1 (and an orphan child), then raise ``fail_with``."""
    with dm.context() as ctx:
        ctx.db.execute(INSERT_PARENT, {"id": 1})
        if orphan:
            ctx.db.execute(INSERT_ORPHAN)
        if fail_with is not None:
            raise fail_with


def fail_on_teardown(context: DataAccessContext) -> Generator[None, None, None]:
    """Middleware whose teardown fails, as an audit step that could not write would."""
    yield
    raise RuntimeError("audit failed")


def test_clean_context_commits(dm: DataManager, engine: Engine) -> None:
    """Rows written in a context that ends cleanly are committed."""
    with dm.context() as ctx:
        ctx.db.execute(INSERT_PARENT, {"id": 1})
    assert parent_ids(engine) == [1]


def test_exception_in_context_rolls_back(dm: DataManager, engine: Engine) -> None:
    """An exception raised in the context rolls its writes back and propagates."""
    with pytest.raises(LookupError):
        write_parent(dm, fail_with=LookupError("no such note"))
    assert parent_ids(engine) == []


def test_later_middleware_failure_rolls_back(dm: DataManager, engine: Engine) -> None:
    """A middleware registered after the transaction failing at teardown rolls the writes back."""
    dm.register_context_middleware(fail_on_teardown)
    with pytest.raises(RuntimeError, match="audit failed"):
        write_parent(dm)
    assert parent_ids(engine) == []


def test_exception_swallowed_by_later_middleware_commits(dm: DataManager, engine: Engine) -> None:
    """An exception a later middleware swallows counts as a clean end, so the writes commit."""

    def suppress_lookup_errors(context: DataAccessContext) -> Generator[None, None, None]:
        try:
            yield
        except LookupError:
            pass

    dm.register_context_middleware(suppress_lookup_errors)
    with pytest.raises(LookupError):  # still the caller's, as in polydatum 0.9
        write_parent(dm, fail_with=LookupError("handled"))
    assert parent_ids(engine) == [1]


def test_failed_commit_propagates_and_writes_nothing(dm: DataManager, engine: Engine) -> None:
    """A commit that fails (a deferred FK) raises out of the context and leaves no row behind."""
    with pytest.raises(IntegrityError) as info:
        write_parent(dm, orphan=True)
    assert "commit" in {frame.name for frame in info.traceback}
    assert (parent_ids(engine), child_ids(engine)) == ([], [])


def test_unused_context_checks_out_nothing(dm: DataManager, engine: Engine) -> None:
    """A context that never touches the resource takes no connection and begins no transaction."""
    events: list[str] = []
    event.listen(engine, "checkout", lambda *args: events.append("checkout"))
    event.listen(engine, "begin", lambda *args: events.append("begin"))
    with dm.context():
        during = checked_out(engine)
    assert (during, events) == (0, [])


def test_connection_checked_out_on_first_access(dm: DataManager, engine: Engine) -> None:
    """The connection leaves the pool only when the context first asks for it."""
    with dm.context() as ctx:
        before = checked_out(engine)
        assert isinstance(ctx.db, Connection)
        after = checked_out(engine)
    assert (before, after) == (0, 1)


def test_nested_context_is_its_own_transaction(dm: DataManager, engine: Engine) -> None:
    """A nested context commits on its own connection even when the outer one rolls back."""
    with pytest.raises(LookupError), dm.context() as outer:
        assert isinstance(outer.db, Connection)
        with dm.context() as inner:
            inner.db.execute(INSERT_PARENT, {"id": 2})
        # SQLite allows one writer at a time, so the outer context writes after the inner one.
        outer.db.execute(INSERT_PARENT, {"id": 1})
        raise LookupError("outer fails")
    assert parent_ids(engine) == [2]


_OUTCOMES: dict[str, type[Exception] | None] = {
    "commit": None,
    "exception": LookupError,
    "failed commit": IntegrityError,
    "failing middleware": RuntimeError,
}


@pytest.mark.parametrize("outcome", list(_OUTCOMES))
def test_connection_returned_after_every_outcome(
    dm: DataManager, engine: Engine, outcome: str
) -> None:
    """Whatever the context's end, its connection is back in the pool afterwards."""
    if outcome == "failing middleware":
        dm.register_context_middleware(fail_on_teardown)
    raised: type[Exception] | None = None
    try:
        write_parent(
            dm,
            orphan=outcome == "failed commit",
            fail_with=LookupError("no such note") if outcome == "exception" else None,
        )
    except Exception as exc:
        raised = type(exc)
    assert (raised, checked_out(engine)) == (_OUTCOMES[outcome], 0)


def test_failed_rollback_is_logged_and_context_error_wins(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """A rollback that fails is logged, and the context's own exception still propagates."""

    class RollbackFails:
        def __init__(self, connection: Connection) -> None:
            self.connection = connection
            self.execute = connection.execute
            self.commit = connection.commit
            self.invalidate = connection.invalidate

        def rollback(self) -> None:
            raise ConnectionError("server went away")

    def db(context: DataAccessContext) -> Generator[RollbackFails, None, None]:
        with engine.connect() as connection:
            yield RollbackFails(connection)

    dm = DataManager()
    dm.register_resources(db=db)
    dm.register_context_middleware(TransactionMiddleware("db"))
    with pytest.raises(LookupError):
        write_parent(dm, fail_with=LookupError("no such note"))
    assert "Rolling back resource 'db' failed" in caplog.text


# -- sessions ---------------------------------------------------------------


@pytest.fixture
def session_dm(engine: Engine) -> DataManager:
    """A DataManager with a session resource ``db`` and its transaction middleware."""
    dm = DataManager()
    dm.register_resources(db=SessionResource(engine))
    dm.register_context_middleware(TransactionMiddleware("db"))
    return dm


def test_session_pending_objects_committed(session_dm: DataManager, engine: Engine) -> None:
    """Objects added to the session are flushed and committed when the context ends cleanly."""
    with session_dm.context() as ctx:
        ctx.db.add(Parent(id=1))
    assert parent_ids(engine) == [1]


def test_session_rolled_back_on_exception(session_dm: DataManager, engine: Engine) -> None:
    """Objects added to the session are not written when the context ends with an exception."""
    with pytest.raises(LookupError), session_dm.context() as ctx:
        ctx.db.add(Parent(id=1))
        raise LookupError("no such note")
    assert parent_ids(engine) == []


def test_session_failed_commit_writes_nothing(session_dm: DataManager, engine: Engine) -> None:
    """A session commit that fails (a deferred FK) propagates and leaves no row behind."""
    with pytest.raises(IntegrityError):
        write_parent(session_dm, orphan=True)
    assert (parent_ids(engine), child_ids(engine), checked_out(engine)) == ([], [], 0)


def test_session_without_sql_checks_out_nothing(session_dm: DataManager, engine: Engine) -> None:
    """A session that is opened but runs no SQL takes no connection from the pool."""
    begins: list[object] = []
    event.listen(engine, "begin", begins.append)
    with session_dm.context() as ctx:
        assert isinstance(ctx.db, Session)
        during = checked_out(engine)
    assert (during, begins) == (0, [])


def test_session_objects_readable_after_context(session_dm: DataManager) -> None:
    """Objects loaded in the context keep their attributes after the commit closed the session."""
    with session_dm.context() as ctx:
        ctx.db.add(Parent(id=7))
        ctx.db.flush()
        parent = ctx.db.get(Parent, 7)
    assert (parent.id if parent else None) == 7


def test_session_from_sessionmaker(engine: Engine) -> None:
    """A sessionmaker given to SessionResource builds the context's session."""

    class AppSession(Session):
        pass

    dm = DataManager()
    dm.register_resources(db=SessionResource(sessionmaker(engine, class_=AppSession)))
    with dm.context() as ctx:
        assert isinstance(ctx.db, AppSession)


# -- misconfiguration -------------------------------------------------------


def test_missing_resource_fails_first_context() -> None:
    """A middleware naming an unregistered resource fails the context, saying what to register."""
    dm = DataManager()
    dm.register_context_middleware(TransactionMiddleware("db"))
    with pytest.raises(MiddlewareSetupException, match=r"register_resources\(db=Conn"):
        dm.context().__enter__()


def test_async_resource_with_sync_middleware_fails(tmp_path: Path) -> None:
    """The sync middleware refuses an async resource and names the async middleware."""
    dm = DataManager()
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    dm.register_resources(db=AsyncConnectionResource(engine))
    dm.register_context_middleware(TransactionMiddleware("db"))
    with pytest.raises(MiddlewareSetupException, match=r"AsyncTransactionMiddleware\('db'\)"):
        dm.context().__enter__()


def test_replaced_resource_checked_again(engine: Engine, tmp_path: Path) -> None:
    """Replacing the resource with one of the wrong flavour is caught at the next context."""
    dm = DataManager()
    dm.register_resources(db=ConnectionResource(engine))
    dm.register_context_middleware(TransactionMiddleware("db"))
    with dm.context():
        pass
    async_engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    dm.replace_resource("db", AsyncConnectionResource(async_engine))
    with pytest.raises(MiddlewareSetupException, match="is async"):
        dm.context().__enter__()


@pytest.mark.parametrize("name", ["meta", "dal", "data_manager", "aget"])
def test_name_shadowed_by_context_refused(name: str) -> None:
    """A resource name that every context already uses as an attribute is refused."""
    with pytest.raises(ValueError, match="attribute of every context"):
        TransactionMiddleware(name)


@pytest.mark.parametrize("name", ["", "_db", "my db", 3])
def test_invalid_name_refused(name: Any) -> None:
    """A middleware name that can not name a resource is refused with an example."""
    with pytest.raises(ValueError, match=r'TransactionMiddleware\("db"\)'):
        TransactionMiddleware(name)


def test_async_engine_refused_by_connection_resource(tmp_path: Path) -> None:
    """ConnectionResource refuses an AsyncEngine and names the async resource."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    with pytest.raises(TypeError, match="use AsyncConnectionResource"):
        ConnectionResource(engine)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["engine", "sessionmaker"])
def test_async_bind_refused_by_session_resource(tmp_path: Path, kind: str) -> None:
    """SessionResource refuses an AsyncEngine or async_sessionmaker and names the async resource."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    bind = engine if kind == "engine" else async_sessionmaker(engine)
    with pytest.raises(TypeError, match="use AsyncSessionResource"):
        SessionResource(bind)  # type: ignore[arg-type]
