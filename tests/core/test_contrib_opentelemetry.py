"""polydatum.contrib.opentelemetry without a framework: context, resource and service spans."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry import trace
from polydatum import DataAccessContext, DataManager, NotFound, Service, lazy
from polydatum.contrib.opentelemetry import (
    CONTEXT_SPAN_NAME,
    TracingMiddleware,
    context_span,
    instrument,
    uninstrument,
)
from polydatum.errors import MiddlewareSetupException, ResourceSetupException

from tests.otel_spans import Spans, exceptions, is_error, spans_fixture

spans = pytest.fixture(spans_fixture)


class CommitFailed(Exception):
    """The test transaction's commit raised."""


class Archive(Service):
    def count(self) -> int:
        return 42


class Notes(Service):
    def read(self) -> str:
        return str(self._ctx.db)

    async def aread(self) -> str:
        return str(await self._ctx.aget("adb"))

    def missing(self) -> None:
        raise NotFound("no such note")

    def broken(self) -> None:
        raise RuntimeError("the service failed")

    def chunks(self) -> Iterator[int]:
        yield 1

    def current(self) -> trace.Span:
        return trace.get_current_span()

    @property
    def label(self) -> str:
        return "notes"


class Transaction:
    """A transaction middleware whose commit fails when asked to."""

    def __init__(self) -> None:
        self.fail_commit = False
        self.events: list[str] = []

    def __call__(self, ctx: DataAccessContext) -> Iterator[None]:
        try:
            yield
        except BaseException as exc:
            self.events.append(f"rollback:{type(exc).__name__}")
            raise
        if self.fail_commit:
            self.events.append("commit-failed")
            raise CommitFailed("the database refused the commit")
        self.events.append("commit")

    def __repr__(self) -> str:
        return "Transaction()"


def db(ctx: DataAccessContext) -> Iterator[str]:
    yield "conn"


async def adb(ctx: DataAccessContext) -> AsyncIterator[str]:
    yield "aconn"


@pytest.fixture
def transaction() -> Transaction:
    """The test's transaction middleware."""
    return Transaction()


@pytest.fixture
def dm(spans: Spans, transaction: Transaction) -> DataManager:
    """A DataManager with TracingMiddleware first, a transaction, two resources and services."""
    dm = DataManager()
    dm.register_context_middleware(TracingMiddleware(tracer_provider=spans.provider), transaction)
    dm.register_resources(db=db, adb=adb)
    dm.register_services(notes=Notes().register_services(archive=Archive()))
    return dm


# -- the context's span ---------------------------------------------------------------


def test_a_context_is_one_span_that_ends_ok(dm: DataManager, spans: Spans) -> None:
    """A context that ends cleanly is one finished span, named polydatum.context, status unset."""
    with dm.context():
        assert spans.names() == []
    span = spans.one(CONTEXT_SPAN_NAME)
    assert span.status.status_code is trace.StatusCode.UNSET
    assert span.kind is trace.SpanKind.INTERNAL
    assert exceptions(span) == []


def test_the_span_is_a_child_of_the_span_current_when_the_context_opens(
    dm: DataManager, spans: Spans
) -> None:
    """The context's span has the span current at its opening (a request's) as its parent."""
    with spans.tracer.start_as_current_span("request"), dm.context():
        pass
    assert spans.parent(spans.one(CONTEXT_SPAN_NAME)) == spans.one("request")


def test_the_span_is_current_inside_the_context_and_not_after(
    dm: DataManager, spans: Spans
) -> None:
    """Inside the context its span is current (and context_span()); afterwards neither is."""
    before = trace.get_current_span()
    with dm.dal() as dal:
        inside = dal.notes.current()
        assert context_span() is inside
    assert trace.get_current_span() is before
    assert context_span() is None
    assert inside.get_span_context().span_id == spans.one(CONTEXT_SPAN_NAME).context.span_id


def test_a_failed_commit_is_an_error_span(
    dm: DataManager, spans: Spans, transaction: Transaction
) -> None:
    """A commit that raises makes the context's span an error recording that exception."""
    transaction.fail_commit = True
    with pytest.raises(CommitFailed), dm.context():
        pass
    span = spans.one(CONTEXT_SPAN_NAME)
    assert is_error(span)
    assert span.status.description == "CommitFailed: the database refused the commit"
    assert exceptions(span) == ["tests.core.test_contrib_opentelemetry.CommitFailed"]


def test_the_contexts_exception_is_recorded_and_an_error(
    dm: DataManager, spans: Spans, transaction: Transaction
) -> None:
    """An exception raised in the context is recorded on its span, which is an error."""
    with pytest.raises(LookupError), dm.context():
        raise LookupError("gone")
    span = spans.one(CONTEXT_SPAN_NAME)
    assert (is_error(span), exceptions(span)) == (True, ["LookupError"])
    assert transaction.events == ["rollback:LookupError"]


def test_a_client_error_is_recorded_but_not_an_error(dm: DataManager, spans: Spans) -> None:
    """A 4xx ServiceError (NotFound) is recorded on the span without making it an error."""
    with pytest.raises(NotFound), dm.dal() as dal:
        dal.notes.missing()
    span = spans.one(CONTEXT_SPAN_NAME)
    assert span.status.status_code is trace.StatusCode.UNSET
    assert exceptions(span) == ["polydatum.errors.NotFound"]


def test_is_error_decides_the_status(spans: Spans) -> None:
    """is_error= says which exceptions make the span an error."""
    dm = DataManager()
    dm.register_context_middleware(
        TracingMiddleware(tracer_provider=spans.provider, is_error=lambda e: True)
    )
    with pytest.raises(NotFound), dm.context():
        raise NotFound("no such note")
    assert is_error(spans.one(CONTEXT_SPAN_NAME))


def test_an_exception_an_inner_middleware_swallowed_is_not_seen(spans: Spans) -> None:
    """When middleware registered after it swallows the exception, the span ends cleanly."""

    def suppress(ctx: DataAccessContext) -> Iterator[None]:
        try:
            yield
        except LookupError:
            pass

    dm = DataManager()
    dm.register_context_middleware(TracingMiddleware(tracer_provider=spans.provider), suppress)
    with pytest.raises(LookupError), dm.context():
        raise LookupError("swallowed")  # still the caller's, as in polydatum 0.9
    span = spans.one(CONTEXT_SPAN_NAME)
    assert (is_error(span), exceptions(span)) == (False, [])


def test_meta_attributes_and_attributes(spans: Spans) -> None:
    """meta_attributes copies meta keys (a lazy one is loaded); attributes= adds computed ones."""
    loads: list[str] = []

    def load_user() -> str:
        loads.append("user")
        return "ann"

    dm = DataManager()
    dm.register_context_middleware(
        TracingMiddleware(
            tracer_provider=spans.provider,
            meta_attributes=("tenant", "user", "retries", "absent", "thing"),
            attributes=lambda ctx: {"app.tenant_upper": ctx.meta.tenant.upper()},
        )
    )
    meta = {"tenant": "acme", "user": lazy(load_user), "retries": 2, "thing": object}
    with dm.context(meta):
        pass
    assert spans.one(CONTEXT_SPAN_NAME).attributes == {
        "polydatum.meta.tenant": "acme",
        "polydatum.meta.user": "ann",
        "polydatum.meta.retries": 2,
        "polydatum.meta.thing": "<class 'object'>",
        "app.tenant_upper": "ACME",
    }
    assert loads == ["user"]


def test_name_is_asked_when_the_span_ends(spans: Spans) -> None:
    """name= is called with the context when its span ends and gives the span's name."""
    seen: list[bool] = []

    def name(ctx: DataAccessContext) -> str:
        seen.append("db" in ctx)
        return f"job {ctx.meta.job}"

    dm = DataManager()
    dm.register_context_middleware(TracingMiddleware(tracer_provider=spans.provider, name=name))
    dm.register_resources(db=db)
    with dm.context({"job": "reindex"}) as ctx:
        assert ctx.db == "conn"
    assert spans.names() == ["job reindex"]
    assert seen == [True]  # asked after the work, before resources are torn down


def test_registered_after_the_transaction_fails_the_context_naming_the_fix(
    spans: Spans, transaction: Transaction
) -> None:
    """TracingMiddleware after another middleware fails the context, saying to register it first."""
    dm = DataManager()
    dm.register_context_middleware(transaction, TracingMiddleware(tracer_provider=spans.provider))
    with pytest.raises(MiddlewareSetupException) as info, dm.context():
        pass
    assert "must be the first context middleware" in str(info.value)
    assert "it comes after Transaction()" in str(info.value)
    assert spans.names() == []


def test_instrument_refuses_a_wrong_order_at_start_up(
    spans: Spans, transaction: Transaction
) -> None:
    """instrument(dm) raises at once when a TracingMiddleware is registered but not first."""
    dm = DataManager()
    dm.register_context_middleware(transaction, TracingMiddleware(tracer_provider=spans.provider))
    with pytest.raises(MiddlewareSetupException, match="Register it first"):
        instrument(dm, tracer_provider=spans.provider)


def test_arguments_are_checked() -> None:
    """Wrong arguments to TracingMiddleware raise TypeError saying what it takes."""
    with pytest.raises(TypeError, match="takes meta keys"):
        TracingMiddleware(meta_attributes="user")
    with pytest.raises(TypeError, match=r"name=\.\.\.\) takes a callable"):
        TracingMiddleware(name="request")  # type: ignore[arg-type]


def test_without_an_sdk_contexts_run_with_non_recording_spans(transaction: Transaction) -> None:
    """With no tracer provider set up (the API alone), contexts run and commit as usual."""
    dm = DataManager()
    dm.register_context_middleware(TracingMiddleware(), transaction)
    dm.register_services(notes=Notes())
    dm.register_resources(db=db)
    instrument(dm)
    with dm.dal() as dal:
        assert dal.notes.read() == "conn"
        assert context_span() is None
    assert transaction.events == ["commit"]


def test_a_span_not_sampled_records_nothing_and_loads_no_meta(transaction: Transaction) -> None:
    """With a sampler that drops every span, no span ends and no opted-in lazy meta is loaded."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    spans = Spans()
    spans.provider = TracerProvider(sampler=ALWAYS_OFF)
    spans.provider.add_span_processor(spans.processor)
    loads: list[str] = []

    def load_user() -> str:
        loads.append("user")
        return "ann"

    dm = DataManager()
    dm.register_context_middleware(
        TracingMiddleware(tracer_provider=spans.provider, meta_attributes=("user",)), transaction
    )
    dm.register_resources(db=db)
    dm.register_services(notes=Notes())
    instrument(dm, tracer_provider=spans.provider)
    with pytest.raises(LookupError), dm.dal({"user": lazy(load_user)}) as dal:
        assert dal.notes.read() == "conn"
        raise LookupError("rolled back as usual")
    assert (spans.names(), loads, transaction.events) == ([], [], ["rollback:LookupError"])


# -- async contexts ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_context_with_a_failed_async_commit_is_an_error_span(spans: Spans) -> None:
    """In an async context, an async middleware's failing commit makes the span an error."""

    async def atransaction(ctx: DataAccessContext) -> AsyncIterator[None]:
        yield
        raise CommitFailed("async commit refused")

    dm = DataManager()
    dm.register_context_middleware(TracingMiddleware(tracer_provider=spans.provider), atransaction)
    dm.register_resources(adb=adb)
    dm.register_services(notes=Notes())
    instrument(dm, tracer_provider=spans.provider)
    with spans.tracer.start_as_current_span("request"):
        with pytest.raises(CommitFailed):
            async with dm.dal() as dal:
                assert await dal.notes.aread() == "aconn"
        assert trace.get_current_span() is not None
        assert trace.get_current_span().name == "request"  # type: ignore[attr-defined]
    span = spans.one(CONTEXT_SPAN_NAME)
    assert (is_error(span), exceptions(span)) == (True, [f"{__name__}.CommitFailed"])
    assert spans.parent(span) == spans.one("request")
    service = spans.one("dal.notes.aread")
    assert spans.parent(service) == span
    assert spans.parent(spans.one("resource adb setup")) == service
    assert spans.parent(spans.one("resource adb teardown")) == span


@pytest.mark.anyio
async def test_async_contexts_in_concurrent_tasks_get_their_own_spans(
    dm: DataManager, spans: Spans
) -> None:
    """Contexts in concurrent tasks each get a span whose parent is their own task's span."""
    import anyio.lowlevel

    instrument(dm, tracer_provider=spans.provider)

    async def job(name: str) -> None:
        with spans.tracer.start_as_current_span(name):
            async with dm.dal() as dal:
                await anyio.lowlevel.checkpoint()
                await dal.notes.aread()

    async with anyio.create_task_group() as tg:
        for name in ("job-1", "job-2", "job-3"):
            tg.start_soon(job, name)
    for name in ("job-1", "job-2", "job-3"):
        job_span = spans.one(name)
        [context] = [
            s
            for s in spans.finished()
            if s.name == CONTEXT_SPAN_NAME and spans.parent(s) == job_span
        ]
        children = sorted(s.name for s in spans.finished() if spans.parent(s) == context)
        assert children == ["dal.notes.aread", "resource adb teardown"]


# -- resource spans ---------------------------------------------------------------------


def test_resource_setup_and_teardown_spans(dm: DataManager, spans: Spans) -> None:
    """Set-up is a child of what read the resource first; teardown, of the context's span."""
    instrument(dm, services=False, tracer_provider=spans.provider)
    with dm.context() as ctx:
        with spans.tracer.start_as_current_span("first read"):
            assert ctx.db == "conn"
        assert ctx.db == "conn"
    context = spans.one(CONTEXT_SPAN_NAME)
    setup, teardown = spans.one("resource db setup"), spans.one("resource db teardown")
    assert spans.parent(setup) == spans.one("first read")
    assert spans.parent(teardown) == context
    assert setup.attributes == teardown.attributes == {"polydatum.resource": "db"}
    assert not is_error(setup)
    assert not is_error(teardown)
    assert spans.names()[-2:] == [CONTEXT_SPAN_NAME, "resource db teardown"]


def test_a_resource_left_unused_has_no_spans(dm: DataManager, spans: Spans) -> None:
    """A resource the context never reads makes no span."""
    instrument(dm, tracer_provider=spans.provider)
    with dm.context():
        pass
    assert spans.names() == [CONTEXT_SPAN_NAME]


def test_failing_setup_is_an_error_setup_span(spans: Spans) -> None:
    """A resource whose set-up raises gives an error set-up span; the error reaches the caller."""

    def refused(ctx: DataAccessContext) -> Iterator[str]:
        raise ConnectionRefusedError("no database")
        yield "never"  # pragma: no cover - makes this a generator

    dm = DataManager()
    dm.register_resources(db=refused)
    instrument(dm, tracer_provider=spans.provider)
    with pytest.raises(ConnectionRefusedError), dm.context() as ctx:
        ctx.db  # noqa: B018 - reading sets it up
    assert is_error(spans.one("resource db setup"))


def test_failing_teardown_is_an_error_span_and_still_collected(spans: Spans) -> None:
    """A teardown that raises gives an error teardown span; the core still collects the error."""

    def leaky(ctx: DataAccessContext) -> Iterator[str]:
        yield "conn"
        raise OSError("could not hand the connection back")

    dm = DataManager()
    dm.register_context_middleware(TracingMiddleware(tracer_provider=spans.provider))
    dm.register_resources(db=leaky)
    instrument(dm, tracer_provider=spans.provider)
    with dm.context() as ctx:
        assert ctx.db == "conn"
    [(kind, _, _)] = ctx.get_resource_exit_errors()
    assert kind is OSError
    teardown = spans.one("resource db teardown")
    assert (is_error(teardown), exceptions(teardown)) == (True, ["OSError"])
    assert not is_error(spans.one(CONTEXT_SPAN_NAME))


def test_the_contexts_exception_passes_through_teardown_without_an_error(
    dm: DataManager, spans: Spans
) -> None:
    """A teardown that only sees the context's exception go by is not an error itself."""
    instrument(dm, tracer_provider=spans.provider)
    seen: list[str] = []

    def watching(ctx: DataAccessContext) -> Iterator[str]:
        try:
            yield "conn"
        except LookupError as exc:
            seen.append(repr(exc))
            raise

    dm.replace_resource("db", watching)
    instrument(dm, tracer_provider=spans.provider)
    with pytest.raises(LookupError), dm.context() as ctx:
        ctx.db  # noqa: B018
        raise LookupError("gone")
    assert seen == ["LookupError('gone')"]
    assert not is_error(spans.one("resource db teardown"))
    assert is_error(spans.one(CONTEXT_SPAN_NAME))


def test_a_resource_that_does_not_yield_is_still_refused(spans: Spans) -> None:
    """A wrapped resource that never yields fails as it would unwrapped."""

    def empty(ctx: DataAccessContext) -> Iterator[str]:
        return
        yield "never"  # pragma: no cover

    dm = DataManager()
    dm.register_resources(db=empty)
    instrument(dm, tracer_provider=spans.provider)
    with pytest.raises(ResourceSetupException, match="did not yield"), dm.context() as ctx:
        ctx.db  # noqa: B018


def test_a_resource_that_yields_twice_is_still_reported(spans: Spans) -> None:
    """A wrapped resource yielding a second value is reported by the context, as unwrapped."""

    def twice(ctx: DataAccessContext) -> Iterator[str]:
        yield "one"
        yield "two"

    dm = DataManager()
    dm.register_resources(db=twice)
    instrument(dm, tracer_provider=spans.provider)
    with dm.context() as ctx:
        ctx.db  # noqa: B018
    [(kind, error, _)] = ctx.get_resource_exit_errors()
    assert kind is RuntimeError
    assert "more than once" in str(error)


def test_wrapped_resources_keep_their_attributes_and_flavour(dm: DataManager, spans: Spans) -> None:
    """dm.get_resource() of a traced resource still reads its factory's attributes and kind."""
    from polydatum.util import is_async_generator, is_sync_generator

    class Pool:
        engine = "the engine"

        def __call__(self, ctx: DataAccessContext) -> Iterator[str]:
            yield "conn"

    dm.replace_resource("db", Pool())
    instrument(dm, tracer_provider=spans.provider)
    traced = dm.get_resource("db")
    assert traced.engine == "the engine"  # type: ignore[union-attr]
    assert is_sync_generator(traced)
    assert is_async_generator(dm.get_resource("adb"))


# -- service spans ------------------------------------------------------------------------


def test_service_calls_are_spans_named_after_their_path(dm: DataManager, spans: Spans) -> None:
    """Each public method call is a span dal.<path>.<method>, a child of the context's span."""
    instrument(dm, resources=False, tracer_provider=spans.provider)
    with dm.dal() as dal:
        assert dal.notes.read() == "conn"
        assert dal.notes.archive.count() == 42
        assert list(dal.notes.chunks()) == [1]  # generator methods are left alone
        assert dal.notes.label == "notes"
    context = spans.one(CONTEXT_SPAN_NAME)
    read, count = spans.one("dal.notes.read"), spans.one("dal.notes.archive.count")
    assert spans.parent(read) == spans.parent(count) == context
    assert read.attributes == {"polydatum.service": "notes"}
    assert count.attributes == {"polydatum.service": "notes.archive"}
    assert sorted(spans.names()) == sorted(
        [CONTEXT_SPAN_NAME, "dal.notes.read", "dal.notes.archive.count"]
    )


def test_service_errors_follow_the_client_error_rule(dm: DataManager, spans: Spans) -> None:
    """A service call raising is recorded on its span: an error, unless a 4xx ServiceError."""
    instrument(dm, resources=False, tracer_provider=spans.provider)
    with dm.dal() as dal:
        with pytest.raises(NotFound):
            dal.notes.missing()
        with pytest.raises(RuntimeError):
            dal.notes.broken()
    missing, broken = spans.one("dal.notes.missing"), spans.one("dal.notes.broken")
    assert (is_error(missing), exceptions(missing)) == (False, ["polydatum.errors.NotFound"])
    assert (is_error(broken), exceptions(broken)) == (True, ["RuntimeError"])


def test_instrument_twice_traces_each_call_once(dm: DataManager, spans: Spans) -> None:
    """A second instrument() replaces the first: one span per call, not two."""
    instrument(dm, tracer_provider=spans.provider)
    instrument(dm, tracer_provider=spans.provider)
    with dm.dal() as dal:
        dal.notes.read()
    assert sorted(spans.names()) == sorted(
        [CONTEXT_SPAN_NAME, "dal.notes.read", "resource db setup", "resource db teardown"]
    )


def test_uninstrument_puts_everything_back(dm: DataManager, spans: Spans) -> None:
    """uninstrument(dm) restores the registered resources and service methods."""
    original = dm.get_resource("db")
    notes: Any = dm.get_service("notes")
    instrument(dm, tracer_provider=spans.provider)
    assert dm.get_resource("db") is not original
    assert "read" in vars(notes)
    uninstrument(dm)
    assert dm.get_resource("db") is original
    assert "read" not in vars(notes)
    with dm.dal() as dal:
        dal.notes.read()
    assert spans.names() == [CONTEXT_SPAN_NAME]


def test_instrumenting_one_data_manager_leaves_another_alone(spans: Spans) -> None:
    """instrument() is per DataManager: another one with services of the same class makes none."""
    traced, plain = DataManager(), DataManager()
    for each in (traced, plain):
        each.register_resources(db=db)
        each.register_services(notes=Notes())
    instrument(traced, tracer_provider=spans.provider)
    with plain.dal() as dal:
        dal.notes.read()
    assert spans.names() == []
    with traced.dal() as dal:
        dal.notes.read()
    assert sorted(spans.names()) == ["dal.notes.read", "resource db setup", "resource db teardown"]


# -- the OpenTelemetry context after a context ----------------------------------------


def test_a_span_ended_first_elsewhere_is_not_made_current_again(
    dm: DataManager, spans: Spans
) -> None:
    """A server span that ends before the context (a streamed body) is not current afterwards."""
    from opentelemetry import context as otel_context

    before = trace.get_current_span()
    server = spans.tracer.start_span("server")
    token = otel_context.attach(trace.set_span_in_context(server))
    ctx = dm.context().__enter__()
    otel_context.detach(token)  # the server's instrumentation ends its span first
    server.end()
    ctx.__exit__(None, None, None)
    assert trace.get_current_span() is before
    assert spans.parent(spans.one(CONTEXT_SPAN_NAME)) == spans.one("server")


def test_a_context_closed_in_an_event_loop_of_its_own_leaves_no_stale_parent(
    dm: DataManager, spans: Spans
) -> None:
    """Closed from another contextvars.Context, the span is no parent of the next context here."""
    import asyncio

    with spans.tracer.start_as_current_span("worker"):
        with dm.context() as ctx:
            # An async view's own event loop sets an async resource up; closing then
            # runs in an event loop of its own, in a copy of this contextvars.Context.
            assert asyncio.run(ctx.aget("adb")) == "aconn"
        with dm.context():
            assert context_span() is not None
        assert trace.get_current_span().name == "worker"  # type: ignore[attr-defined]
    first, second = [s for s in spans.finished() if s.name == CONTEXT_SPAN_NAME]
    assert spans.parent(first) == spans.parent(second) == spans.one("worker")
