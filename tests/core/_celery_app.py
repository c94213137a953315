"""A Celery app whose tasks run in polydatum contexts, for the tests and for their worker process.

``build(...)`` makes one in the test process; a worker started with
``celery -A tests.core._celery_app:app`` builds the same from environment
variables, so both sides agree on the task names, the queue and the database.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery
from polydatum import DataAccessContext, DataManager, Service
from polydatum.contrib.celery import DatumTask
from polydatum.contrib.sqlalchemy import ConnectionResource, TransactionMiddleware
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import IntegrityError

from tests.core._sql_backends import enable_sqlite_foreign_keys

REDIS_URL_ENV = "POLYDATUM_CELERY_REDIS"
QUEUE_ENV = "POLYDATUM_CELERY_QUEUE"
DB_URL_ENV = "POLYDATUM_CELERY_DB"
PREFIX = "pd_celery"
PARENT, CHILD = f"{PREFIX}_parent", f"{PREFIX}_child"


@dataclass(frozen=True)
class User:
    """A user of the app; its name is its reference."""

    name: str


def load_user(ref: str) -> User | None:
    """Resolve a reference; names starting with "ghost" stand for deleted users."""
    return None if ref.startswith("ghost") else User(ref)


class Children(Service):
    """Writes child rows; the parent key is checked only at commit (deferred)."""

    def add_orphan(self) -> None:
        self._ctx.db.execute(text(f"INSERT INTO {CHILD} (id, parent_id) VALUES (1, 999)"))


@dataclass
class App:
    """The pieces a test needs: the Celery app, its DataManager and its redis client."""

    celery: Celery
    dm: DataManager
    redis: redis.Redis
    queue: str


def build(queue: str, db_url: str, redis_url: str) -> App:
    """Build the Celery app, sending to and consuming from ``queue``."""
    engine = create_engine(db_url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", enable_sqlite_foreign_keys)
    store = redis.Redis.from_url(redis_url)

    def probe(ctx: DataAccessContext) -> Iterator[str]:
        # Counted per task id, across every worker process, in redis.
        task_id = ctx.meta.task_id
        store.hincrby(f"{queue}:setup", task_id, 1)
        try:
            yield "probe"
        finally:
            store.hincrby(f"{queue}:teardown", task_id, 1)

    dm = DataManager()
    dm.register_resources(db=ConnectionResource(engine), probe=probe)
    dm.register_context_middleware(TransactionMiddleware("db"))
    dm.register_services(children=Children())

    class AppTask(
        DatumTask[Any, Any], data_manager=dm, user_ref=lambda u: u.name, load_user=load_user
    ):
        pass

    app = Celery("polydatum_tests", broker=redis_url, backend=redis_url, task_cls=AppTask)
    app.conf.update(
        task_default_queue=queue,
        result_expires=300,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        worker_prefetch_multiplier=1,
    )

    @app.task(name="t.meta", shared=False, bind=True)
    def meta(self: DatumTask[Any, Any]) -> dict[str, Any]:
        ctx = dm.get_active_context()
        assert ctx is not None
        return {
            key: ctx.meta.get(key) for key in ("task_name", "task_id", "retries", "user_ref")
        } | {"pid": os.getpid()}

    @app.task(name="t.user", shared=False)
    def user() -> list[Any] | None:
        ctx = dm.get_active_context()
        assert ctx is not None
        before = ctx.meta.user
        store.ping()  # a round trip: lets other threads run between the two reads
        after = dm.get_active_context()
        assert after is ctx
        return [before.name, ctx.meta.task_id, os.getpid()] if before is not None else None

    @app.task(
        name="t.orphan",
        shared=False,
        bind=True,
        autoretry_for=(IntegrityError,),
        max_retries=2,
        retry_kwargs={"countdown": 0},
    )
    def orphan(self: DatumTask[Any, Any]) -> None:
        ctx = dm.get_active_context()
        assert ctx is not None
        store.rpush(f"{queue}:attempts:{self.request.id}", ctx.meta.user_ref or "-")
        dm.get_dal().children.add_orphan()

    @app.task(name="t.probe", shared=False)
    def touch_probe(fail: bool) -> str:
        ctx = dm.get_active_context()
        assert ctx is not None
        value: str = ctx.probe
        if fail:
            raise LookupError("the body failed")
        return value

    @app.task(name="t.async_user", shared=False)
    async def async_user() -> str:
        ctx = dm.get_active_context()
        assert ctx is not None
        probe_value = await ctx.aget("probe")
        found = await ctx.meta.aget("user")
        return f"{found.name}/{probe_value}"

    return App(app, dm, store, queue)


def _from_env() -> Celery | None:
    queue = os.environ.get(QUEUE_ENV)
    if not queue:
        return None
    return build(queue, os.environ[DB_URL_ENV], os.environ[REDIS_URL_ENV]).celery


#: The app a worker process loads (``-A tests.core._celery_app:app``).
app = _from_env()
