"""polydatum.contrib.celery with Celery's in-process test worker: the threads and solo pools."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from celery.result import AsyncResult

from tests.core._celery_app import App, User, build
from tests.core._celery_fixtures import forget_queue, redis_url, unique_queue

TIMEOUT = 30

# Celery's redis result backend stores results with setex, which redis-py 8 deprecates; the
# worker runs in this process here, so that warning would fail the worker thread.
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning")


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file (the tasks run here do not touch the database)."""
    return f"sqlite+pysqlite:///{tmp_path_factory.mktemp('celery_pools') / 'unused.db'}"


def run_worker(db_url: str, pool: str, concurrency: int) -> Iterator[App]:
    """Start Celery's test worker with ``pool`` on a queue of its own; yield the app."""
    queue = unique_queue()
    app = build(queue, db_url, redis_url())
    try:
        with start_worker(
            app.celery,
            pool=pool,
            concurrency=concurrency,
            perform_ping_check=False,
            loglevel="WARNING",
        ):
            yield app
    finally:
        app.redis.close()
        forget_queue(queue)


# Function scope: two test workers alive at once in one process share Celery's global
# shutdown flag, and one may then fail to stop in time.
@pytest.fixture
def threads(db_url: str) -> Iterator[App]:
    """A worker with the threads pool, 4 threads."""
    yield from run_worker(db_url, "threads", 4)


@pytest.fixture(scope="module")
def solo(db_url: str) -> Iterator[App]:
    """A worker with the solo pool."""
    yield from run_worker(db_url, "solo", 1)


def send_as(app: App, task: str, user: str) -> AsyncResult[Any]:
    """Send ``task`` from a context whose user is ``user``."""
    with app.dm.context({"user": User(user)}):
        return app.celery.tasks[task].delay()


def test_500_tasks_over_4_threads_never_see_each_others_meta(threads: App) -> None:
    """500 tasks on 4 threads each see their own sender's user and their own id."""
    results = [send_as(threads, "t.user", f"user-{i}") for i in range(500)]
    seen = [r.get(timeout=TIMEOUT)[:2] for r in results]
    assert seen == [[f"user-{i}", r.id] for i, r in enumerate(results)]


def test_solo_pool_task_sees_its_meta_and_user(solo: App) -> None:
    """On the solo pool a task sees its own id and its sender's user."""
    result = send_as(solo, "t.meta", "bob")
    meta = result.get(timeout=TIMEOUT)
    assert (meta["task_id"], meta["user_ref"]) == (result.id, "bob")


def test_solo_pool_tasks_in_a_row_keep_their_own_users(solo: App) -> None:
    """Tasks run one after another on the solo pool each see their own sender's user."""
    results = [send_as(solo, "t.user", f"solo-{i}") for i in range(20)]
    seen = [r.get(timeout=TIMEOUT)[0] for r in results]
    assert seen == [f"solo-{i}" for i in range(20)]
