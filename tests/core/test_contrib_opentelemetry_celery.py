"""OpenTelemetry with polydatum.contrib.celery: a task's context span nests in Celery's task span.

A real worker (Celery's in-process test worker, threads pool) on redis runs the tasks;
Celery's own OpenTelemetry instrumentation makes the publish and run spans.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from celery.result import AsyncResult
from opentelemetry import trace
from opentelemetry.instrumentation.celery import CeleryInstrumentor
from opentelemetry.sdk.trace import ReadableSpan
from polydatum import DataManager, Service
from polydatum.contrib.celery import DatumTask
from polydatum.contrib.opentelemetry import TracingMiddleware, instrument, uninstrument
from polydatum.contrib.sqlalchemy import ConnectionResource, TransactionMiddleware
from sqlalchemy import Engine, create_engine, event, text

from tests.core._celery_fixtures import count_rows, database, forget_queue, redis_url, unique_queue
from tests.core._sql_backends import enable_sqlite_foreign_keys
from tests.otel_spans import Spans, exceptions, is_error

TIMEOUT = 30
PREFIX = "pd_otel"
PARENT, CHILD = f"{PREFIX}_parent", f"{PREFIX}_child"

# Celery's redis result backend stores results with setex, which redis-py 8 deprecates; the
# worker runs in this process here, so that warning would fail the worker thread.
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning")


class Rows(Service):
    def add_parent(self, parent_id: int) -> None:
        self._ctx.db.execute(text(f"INSERT INTO {PARENT} (id) VALUES (:id)"), {"id": parent_id})

    def add_orphan(self) -> None:
        # The parent key is checked at commit (deferred): the commit fails.
        self._ctx.db.execute(text(f"INSERT INTO {CHILD} (id, parent_id) VALUES (1, 999)"))


@pytest.fixture(scope="module")
def spans() -> Iterator[Spans]:
    """One in-memory tracer provider for the module (Celery's instrumentation is global)."""
    spans = Spans()
    CeleryInstrumentor().instrument(tracer_provider=spans.provider)
    yield spans
    CeleryInstrumentor().uninstrument()
    spans.provider.shutdown()


@pytest.fixture(autouse=True)
def forget(spans: Spans) -> None:
    """Each test reads only its own spans."""
    spans.clear()


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database with a fresh parent/child schema (PostgreSQL when configured)."""
    yield from database(tmp_path_factory.mktemp("celery_otel"), PREFIX)


@pytest.fixture(scope="module")
def engine(db_url: str) -> Iterator[Engine]:
    """The engine the tasks' connections come from."""
    engine = create_engine(db_url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", enable_sqlite_foreign_keys)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def dm(spans: Spans, engine: Engine) -> Iterator[DataManager]:
    """Tasks' DataManager: TracingMiddleware first, then one transaction per task."""
    dm = DataManager()
    dm.register_context_middleware(
        TracingMiddleware(tracer_provider=spans.provider, meta_attributes=("task_id", "retries")),
        TransactionMiddleware("db"),
    )
    dm.register_resources(db=ConnectionResource(engine))
    dm.register_services(rows=Rows())
    instrument(dm, tracer_provider=spans.provider)
    yield dm
    uninstrument(dm)


@pytest.fixture(scope="module")
def app(dm: DataManager) -> Iterator[Celery]:
    """A Celery app whose tasks run in dm's contexts, served by a worker of 2 threads."""
    queue = unique_queue()
    broker = redis_url()

    class AppTask(DatumTask[Any, Any], data_manager=dm):
        pass

    app = Celery("polydatum_otel", broker=broker, backend=broker, task_cls=AppTask)
    app.conf.update(
        task_default_queue=queue,
        result_expires=300,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        worker_prefetch_multiplier=1,
    )

    @app.task(name="o.write", shared=False)
    def write(parent_id: int) -> None:
        dm.get_dal().rows.add_parent(parent_id)

    @app.task(name="o.orphan", shared=False)
    def orphan() -> None:
        dm.get_dal().rows.add_orphan()

    @app.task(name="o.fail", shared=False)
    def fail() -> None:
        raise LookupError("the body failed")

    @app.task(name="o.async_write", shared=False)
    async def async_write(parent_id: int) -> None:
        dm.get_dal().rows.add_parent(parent_id)

    with start_worker(
        app, pool="threads", concurrency=2, perform_ping_check=False, loglevel="WARNING"
    ):
        yield app
    forget_queue(queue)


def run_span(spans: Spans, task: str) -> ReadableSpan:
    """Celery's run span of ``task``, once it ended (after the result was stored)."""
    name = f"run/{task}"
    spans.wait_for(lambda: name in spans.names())
    return spans.one(name)


def send(app: Celery, spans: Spans, task: str, *args: Any) -> AsyncResult[Any]:
    """Send ``task`` from inside a span of the sender's ("client"); wait for its result."""
    with spans.tracer.start_as_current_span("client"):
        result = app.tasks[task].delay(*args)
    result.get(timeout=TIMEOUT, propagate=False)
    return result


def test_a_tasks_context_span_nests_in_celerys_run_span(
    app: Celery, spans: Spans, db_url: str
) -> None:
    """client -> apply_async -> run -> the context's span (named after the task) -> its spans."""
    result = send(app, spans, "o.write", 1)
    run = run_span(spans, "o.write")
    context = spans.one("o.write")
    assert spans.parent(context) == run
    assert spans.parent(run) == spans.one("apply_async/o.write")
    assert spans.parent(spans.one("apply_async/o.write")) == spans.one("client")
    assert context.attributes == {
        "polydatum.meta.task_id": result.id,
        "polydatum.meta.retries": 0,
    }
    assert not is_error(context)
    service = spans.one("dal.rows.add_parent")
    assert spans.parent(service) == context
    assert spans.parent(spans.one("resource db setup")) == service
    assert spans.parent(spans.one("resource db teardown")) == context
    assert count_rows(db_url, PARENT) >= 1


def test_a_failed_commit_is_an_error_span_and_fails_the_task(app: Celery, spans: Spans) -> None:
    """A commit refused by the database makes the task's context span an error; the task fails."""
    result = send(app, spans, "o.orphan")
    assert result.state == "FAILURE"
    assert "IntegrityError" in str(result.traceback)
    run = run_span(spans, "o.orphan")
    context = spans.one("o.orphan")
    assert spans.parent(context) == run
    assert is_error(context)
    assert exceptions(context) == ["sqlalchemy.exc.IntegrityError"]


def test_a_task_bodys_exception_is_recorded(app: Celery, spans: Spans) -> None:
    """An exception raised by the task's body is recorded on the context's span, an error."""
    result = send(app, spans, "o.fail")
    assert isinstance(result.result, LookupError)
    run = run_span(spans, "o.fail")
    context = spans.one("o.fail")
    assert spans.parent(context) == run
    assert (is_error(context), exceptions(context)) == (True, ["LookupError"])


def test_an_async_task_body(app: Celery, spans: Spans, db_url: str) -> None:
    """An async body's context (in its own event loop) is a child of the run span too."""
    send(app, spans, "o.async_write", 2)
    run = run_span(spans, "o.async_write")
    context = spans.one("o.async_write")
    assert spans.parent(context) == run
    assert spans.parent(spans.one("dal.rows.add_parent")) == context
    assert not is_error(context)


def test_called_directly_the_context_span_nests_in_the_callers_span(
    app: Celery, spans: Spans
) -> None:
    """A task called as a function makes its context span a child of the caller's span."""
    with spans.tracer.start_as_current_span("caller"), pytest.raises(LookupError):
        app.tasks["o.fail"]()
    assert spans.parent(spans.one("o.fail")) == spans.one("caller")
    assert trace.get_current_span() is trace.INVALID_SPAN
