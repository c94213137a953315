"""The example apps with Celery: a real worker counts each note's words after the request committed.

One worker (``python -m example_apps worker``, solo pool) and, in turn, each
app under its server (Flask and Django under gunicorn, Django and Starlette
under uvicorn), all on one SQLite file and a redis queue of their own. The
tests talk HTTP to the apps and wait, bounded, for the worker's count to
show in the note.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from celery import Celery
from polydatum.contrib.celery import USER_HEADER
from sqlalchemy import Engine, insert, select

from example_apps._test_hooks import FAIL_COMMIT_HEADER
from example_apps.notes import issue_token, prepare_database
from example_apps.notes.schema import notes, users
from example_apps.notes.wiring import make_engine
from tests.core._celery_fixtures import forget_queue, redis_url, unique_queue

from ._apps import ROOT, serve

#: A redis database of these tests' own (the core's Celery tests use /5).
BROKER_URL = os.environ.get("POLYDATUM_TEST_EXAMPLES_REDIS_URL", "redis://127.0.0.1:6379/6")
TASK = "example_apps.tasks.count_words"
DEADLINE = 30.0


@dataclass
class Worker:
    """The running worker: its Celery hostname, a client app on its broker, its log."""

    hostname: str
    control: Celery
    log: Path

    def tasks_started(self) -> int:
        """How many count_words tasks the worker started so far (its own statistics)."""
        stats = self.control.control.inspect(destination=[self.hostname], timeout=5).stats()
        assert stats, f"the worker did not answer; its log:\n{self.log.read_text()}"
        total: dict[str, int] = stats[self.hostname]["total"]
        return total.get(TASK, 0)


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file with the notes tables."""
    url = f"sqlite:///{tmp_path_factory.mktemp('celery_apps') / 'notes.sqlite3'}"
    prepare_database(url)
    return url


@pytest.fixture(scope="module")
def celery_env() -> Iterator[dict[str, str]]:
    """The broker and a queue of this module's own, as the apps and the worker read them."""
    broker = redis_url(BROKER_URL)
    queue = unique_queue()
    yield {"CELERY_BROKER_URL": broker, "NOTES_CELERY_QUEUE": queue}
    forget_queue(queue, broker)


@pytest.fixture(scope="module")
def worker(
    database_url: str, celery_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    """``python -m example_apps worker`` (solo pool, so tasks run one after the other, in order)."""
    hostname = f"{celery_env['NOTES_CELERY_QUEUE']}@test"
    command = [sys.executable, "-m", "example_apps", "worker", "--database-url", database_url]
    command += ["--pool", "solo", "--hostname", hostname]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    env = {k: v for k, v in os.environ.items() if k != "NOTES_TEST_HOOKS"}
    env.update(celery_env)
    log = tmp_path_factory.mktemp("celery_apps_log") / "worker.log"
    control = Celery("notes-test", broker=celery_env["CELERY_BROKER_URL"])
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + DEADLINE
        # Each ping waits up to a second for the worker's reply.
        while not control.control.ping(destination=[hostname], timeout=1):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the worker did not start; its log:\n{log.read_text()}")
        yield Worker(hostname, control, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        control.close()


@pytest.fixture(scope="module", params=["flask", "django", "django-asgi", "starlette"])
def ann(
    request: pytest.FixtureRequest, worker: Worker, database_url: str, celery_env: dict[str, str]
) -> Iterator[httpx.Client]:
    """A client of ann's on one app under its server, sending tasks to the worker's queue."""
    with ExitStack() as stack:
        server = stack.enter_context(serve(request.param, database_url, celery=celery_env))
        token = issue_token(database_url, "ann")
        headers = {"Authorization": f"Bearer {token}"}
        yield stack.enter_context(httpx.Client(base_url=server.url, headers=headers, timeout=30))


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the apps' database, to look at it directly."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def counted(client: httpx.Client, note_id: int) -> dict[str, Any]:
    """Read the note until the worker stored its word count (bounded); return it."""
    deadline = time.monotonic() + DEADLINE
    while True:
        response = client.get(f"/notes/{note_id}")
        assert response.status_code == 200, response.text
        note: dict[str, Any] = response.json()
        if note["words"] is not None:
            return note
        assert time.monotonic() < deadline, f"note {note_id} was not counted: {note}"
        time.sleep(0.05)  # polling interval: the count arrives in its own transaction


def test_created_note_is_counted_by_the_worker(ann: httpx.Client) -> None:
    """POST /notes answers words null, and the worker then stores the body's word count."""
    response = ann.post("/notes", json={"title": "Shopping", "body": "oat milk, two litres"})
    assert (response.status_code, response.json()["words"]) == (201, None)
    assert counted(ann, response.json()["id"])["words"] == 4


def test_updated_note_is_counted_again(ann: httpx.Client) -> None:
    """PUT /notes/{id} resets words to null, and the worker counts the new body."""
    note_id = ann.post("/notes", json={"title": "Draft", "body": "one"}).json()["id"]
    counted(ann, note_id)
    response = ann.put(f"/notes/{note_id}", json={"title": "Draft", "body": "one two three"})
    assert (response.status_code, response.json()["words"]) == (200, None)
    assert counted(ann, note_id)["words"] == 3


def test_failed_request_sends_no_task(ann: httpx.Client, worker: Worker) -> None:
    """A create whose commit fails answers 500 and sends nothing: the worker starts no task."""
    before = worker.tasks_started()
    # uvicorn drops the connection after an app error, even one answered with a 500.
    headers = {FAIL_COMMIT_HEADER: "1", "Connection": "close"}
    failed = ann.post("/notes", json={"title": "Lost"}, headers=headers)
    assert failed.status_code == 500
    # The next write's task runs after any task the failed request could have sent.
    counted(ann, ann.post("/notes", json={"title": "Kept", "body": "a b"}).json()["id"])
    assert worker.tasks_started() - before == 1


def test_task_counts_only_notes_of_its_user(
    worker: Worker, engine: Engine, database_url: str
) -> None:
    """count_words sent on behalf of bob leaves ann's note uncounted; sent for ann, it counts."""
    issue_token(database_url, "bob")
    with engine.begin() as conn:
        ids = dict(conn.execute(select(users.c.name, users.c.id)).all())
        rows = [{"owner_id": ids["ann"], "title": "t", "body": "x y"} for _ in range(2)]
        theirs, mine = conn.execute(insert(notes).returning(notes.c.id), rows).scalars()
    send = worker.control.send_task
    queue = worker.hostname.split("@")[0]
    send(TASK, [theirs], headers={USER_HEADER: ids["bob"]}, queue=queue)
    send(TASK, [mine], headers={USER_HEADER: ids["ann"]}, queue=queue)
    deadline = time.monotonic() + DEADLINE
    while (words := _words(engine, mine)) is None:
        assert time.monotonic() < deadline, "ann's task did not run"
        time.sleep(0.05)  # polling interval: the count arrives in its own transaction
    # Tasks run in order on the solo worker: bob's ran first and counted nothing.
    assert (words, _words(engine, theirs)) == (2, None)


def _words(engine: Engine, note_id: int) -> int | None:
    with engine.connect() as conn:
        words: int | None = conn.scalar(select(notes.c.words).where(notes.c.id == note_id))
        return words
