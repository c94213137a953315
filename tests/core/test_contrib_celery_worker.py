"""polydatum.contrib.celery with a real prefork worker (4 processes) in a subprocess, on redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import chain
from celery.result import AsyncResult

from tests.core._celery_app import (
    CHILD,
    DB_URL_ENV,
    QUEUE_ENV,
    REDIS_URL_ENV,
    App,
    User,
    build,
)
from tests.core._celery_fixtures import (
    count_rows,
    database,
    forget_queue,
    redis_url,
    unique_queue,
)

ROOT = Path(__file__).parents[2]
TIMEOUT = 30


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database with a fresh schema for the worker's tasks."""
    yield from database(tmp_path_factory.mktemp("celery_worker"))


@pytest.fixture(scope="module")
def worker(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """A prefork worker with 4 processes on a queue of its own; yields the sending side's app."""
    broker = redis_url()
    queue = unique_queue()
    env = {**os.environ, QUEUE_ENV: queue, DB_URL_ENV: db_url, REDIS_URL_ENV: broker}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = [
        *(sys.executable, "-m", "celery", "-A", "tests.core._celery_app:app", "worker"),
        *("--pool", "prefork", "--concurrency", "4", "--queues", queue),
        *("--hostname", f"{queue}@%h", "--loglevel", "WARNING"),
        *("--without-gossip", "--without-mingle", "--without-heartbeat"),
    ]
    log = tmp_path_factory.mktemp("celery_worker_log") / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    sender = build(queue, db_url, broker)
    try:
        # Ready once it ran a task: the get() below waits for that, bounded.
        try:
            sender.celery.tasks["t.meta"].delay().get(timeout=TIMEOUT)
        except Exception as exc:
            pytest.fail(f"The worker did not run a task ({exc!r}); its log:\n{log.read_text()}")
        yield sender
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        sender.redis.close()
        forget_queue(queue)


def send(app: App, task: str, user: str | None = None, *args: Any) -> AsyncResult[Any]:
    """Send ``task`` from inside a context whose meta has ``user``."""
    meta = {"user": User(user)} if user else {}
    with app.dm.context(meta):
        return app.celery.tasks[task].delay(*args)


def test_task_sees_its_meta(worker: App) -> None:
    """A task's context has its name, id, retry count and the enqueuing user's reference."""
    result = send(worker, "t.meta", "ann")
    meta = result.get(timeout=TIMEOUT)
    assert {k: meta[k] for k in ("task_name", "task_id", "retries", "user_ref")} == {
        "task_name": "t.meta",
        "task_id": result.id,
        "retries": 0,
        "user_ref": "ann",
    }


def test_task_sees_the_enqueuing_user(worker: App) -> None:
    """meta.user in the worker is the user of the context the task was sent from."""
    result = send(worker, "t.user", "bob")
    assert result.get(timeout=TIMEOUT)[0] == "bob"


def test_task_sent_outside_a_context_has_no_user(worker: App) -> None:
    """A task sent from no context runs with meta.user None."""
    result = worker.celery.tasks["t.user"].delay()
    assert result.get(timeout=TIMEOUT) is None


def test_unresolvable_user_fails_the_task_naming_the_reference(worker: App) -> None:
    """A reference load_user can not resolve fails the task with a message naming it."""
    result = send(worker, "t.user", "ghost-17")
    with pytest.raises(Exception, match="user reference 'ghost-17'"):
        result.get(timeout=TIMEOUT)
    assert result.state == "FAILURE"


def test_failed_commit_fails_the_task_after_its_retries_with_nothing_written(
    worker: App, db_url: str
) -> None:
    """A commit failing after the body retries per autoretry_for, then fails the task; no row."""
    result = send(worker, "t.orphan", "ann")
    with pytest.raises(Exception, match=r"(?i)foreign key|integrity"):
        result.get(timeout=TIMEOUT)
    assert result.state == "FAILURE"
    # Three attempts (max_retries=2), each on behalf of the user who sent the task.
    assert worker.redis.lrange(f"{worker.queue}:attempts:{result.id}", 0, -1) == [b"ann"] * 3
    assert count_rows(db_url, CHILD) == 0


def test_every_resource_is_torn_down_exactly_once(worker: App) -> None:
    """Each task that set a resource up tears it down once, whether its body fails or not."""
    results = [send(worker, "t.probe", "ann", i % 3 == 0) for i in range(30)]
    for result in results:
        try:
            result.get(timeout=TIMEOUT)
        except LookupError:
            pass
    ids = {r.id.encode(): b"1" for r in results}
    assert worker.redis.hgetall(f"{worker.queue}:setup") == ids
    assert worker.redis.hgetall(f"{worker.queue}:teardown") == ids


def test_chain_link_sent_by_the_worker_carries_the_user(worker: App) -> None:
    """The second task of a chain, sent by the worker after the first, sees the original user."""
    tasks = worker.celery.tasks
    with worker.dm.context({"user": User("dee")}):
        result = chain(tasks["t.meta"].si(), tasks["t.user"].si()).delay()
    assert result.get(timeout=TIMEOUT)[0] == "dee"


def test_async_body_runs_in_an_async_context(worker: App) -> None:
    """An async task body runs with the user and resources of its own async context."""
    result = send(worker, "t.async_user", "cy")
    assert result.get(timeout=TIMEOUT) == "cy/probe"


def test_500_tasks_over_4_processes_never_see_each_others_meta(worker: App) -> None:
    """500 tasks, each sent by its own user, each see that user and their own id, in 4 processes."""
    results = [send(worker, "t.user", f"user-{i}") for i in range(500)]
    seen = [result.get(timeout=TIMEOUT) for result in results]
    assert [s[:2] for s in seen] == [[f"user-{i}", r.id] for i, r in enumerate(results)]
    assert len({s[2] for s in seen}) > 1
