"""polydatum.contrib.celery: tasks sent with delay_on_commit go out after the commit, or never."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from polydatum import DataManager
from polydatum.contrib.celery import DatumTask, OnCommitMiddleware
from polydatum.contrib.sqlalchemy import ConnectionResource, TransactionMiddleware
from polydatum.errors import MiddlewareSetupException
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import IntegrityError

from tests.core._celery_app import User
from tests.core._celery_fixtures import database
from tests.core._sql_backends import enable_sqlite_foreign_keys

PREFIX = "pd_celery_oc"
PARENT, CHILD = f"{PREFIX}_parent", f"{PREFIX}_child"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """An engine on a fresh parent/child schema."""
    for url in database(tmp_path, PREFIX):
        engine = create_engine(url)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", enable_sqlite_foreign_keys)
        yield engine
        engine.dispose()


@pytest.fixture
def runs() -> list[tuple[Any, int]]:
    """(user reference, parents committed) as each task run saw them."""
    return []


@pytest.fixture
def dm(engine: Engine) -> DataManager:
    """A DataManager that commits each context, with OnCommitMiddleware registered first."""
    dm = DataManager()
    dm.register_resources(db=ConnectionResource(engine))
    dm.register_context_middleware(OnCommitMiddleware(), TransactionMiddleware("db"))
    return dm


@pytest.fixture
def task(dm: DataManager, runs: list[tuple[Any, int]]) -> DatumTask[[], None]:
    """An eager task recording its user and the committed parents it can see."""

    class AppTask(DatumTask[Any, Any], data_manager=dm, user_ref=lambda u: u.name):
        pass

    app = Celery("on_commit", task_cls=AppTask, broker="memory://")
    app.conf.task_always_eager = True

    @app.task(name="oc.count", shared=False)
    def count() -> None:
        ctx = dm.get_active_context()
        assert ctx is not None
        runs.append((ctx.meta.user_ref, ctx.db.scalar(text(f"SELECT count(*) FROM {PARENT}"))))

    return count  # type: ignore[return-value]


def test_task_goes_out_after_the_commit(
    dm: DataManager, task: DatumTask[[], None], runs: list[tuple[Any, int]]
) -> None:
    """A task sent with delay_on_commit runs only after the context committed, and sees its rows."""
    with dm.context({"user": User("ann")}) as ctx:
        ctx.db.execute(text(f"INSERT INTO {PARENT} (id) VALUES (1)"))
        task.delay_on_commit()
        assert runs == []
    assert runs == [("ann", 1)]


def test_task_dropped_when_the_context_fails(
    dm: DataManager, task: DatumTask[[], None], runs: list[tuple[Any, int]]
) -> None:
    """A task sent with delay_on_commit from a context that raises is never sent."""
    with pytest.raises(LookupError), dm.context():
        task.delay_on_commit()
        raise LookupError("no such note")
    assert runs == []


def test_task_dropped_when_the_commit_fails(
    dm: DataManager, task: DatumTask[[], None], runs: list[tuple[Any, int]]
) -> None:
    """A task sent with delay_on_commit from a context whose commit fails is never sent."""
    with pytest.raises(IntegrityError), dm.context() as ctx:
        ctx.db.execute(text(f"INSERT INTO {CHILD} (id, parent_id) VALUES (1, 999)"))
        task.delay_on_commit()
    assert runs == []


def test_task_waits_for_the_commit_of_another_data_managers_context(
    engine: Engine, task: DatumTask[[], None], runs: list[tuple[Any, int]]
) -> None:
    """delay_on_commit inside a context of another DataManager with the middleware waits for it."""
    web = DataManager()
    web.register_resources(db=ConnectionResource(engine))
    web.register_context_middleware(OnCommitMiddleware(), TransactionMiddleware("db"))
    with web.context() as ctx:
        ctx.db.execute(text(f"INSERT INTO {PARENT} (id) VALUES (1)"))
        task.delay_on_commit()
        assert runs == []
    assert runs == [(None, 1)]


def test_outside_a_context_the_task_goes_out_at_once(
    task: DatumTask[[], None], runs: list[tuple[Any, int]]
) -> None:
    """delay_on_commit outside any context sends the task right away."""
    task.delay_on_commit()
    assert runs == [(None, 0)]


def test_without_the_middleware_it_says_what_to_register(engine: Engine) -> None:
    """delay_on_commit in a context without OnCommitMiddleware raises, naming the fix."""
    dm = DataManager()

    class BareTask(DatumTask[Any, Any], data_manager=dm):
        pass

    app = Celery("no_middleware", task_cls=BareTask, broker="memory://")
    app.conf.task_always_eager = True
    noop = app.task(name="oc.noop", shared=False)(_noop)
    fix = r"register_context_middleware\(OnCommitMiddleware"
    with pytest.raises(RuntimeError, match=fix), dm.context():
        noop.delay_on_commit()


def test_registered_after_the_transaction_is_refused(engine: Engine) -> None:
    """OnCommitMiddleware after TransactionMiddleware fails the context's setup, saying why."""
    dm = DataManager()
    dm.register_resources(db=ConnectionResource(engine))
    dm.register_context_middleware(TransactionMiddleware("db"), OnCommitMiddleware())
    with pytest.raises(MiddlewareSetupException, match="before the commit"), dm.context():
        pass


def _noop() -> None:
    """A task body that does nothing."""
