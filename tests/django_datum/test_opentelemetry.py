"""OpenTelemetry in the Django test project: each request's context is a span in the server's."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import AsyncClient, Client
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from polydatum import DataManager
from polydatum.contrib.opentelemetry import TracingMiddleware, instrument

from tests.django_datum.app import (
    PROBE,
    Who,
    async_connection,
    connection,
    extra_meta,
    recorder,
)
from tests.otel_spans import Spans, exceptions, is_error, spans_fixture

spans = pytest.fixture(spans_fixture)


def traced_dm(spans: Spans, *middleware: Any) -> DataManager:
    """The test project's DataManager with TracingMiddleware first and everything instrumented."""
    dm = DataManager()
    dm.register_context_middleware(
        TracingMiddleware(tracer_provider=spans.provider, meta_attributes=("tenant",)),
        *middleware,
    )
    dm.register_resources(connection=connection, async_connection=async_connection)
    dm.register_services(who=Who())
    instrument(dm, tracer_provider=spans.provider)
    return dm


@pytest.fixture
def dm(spans: Spans, settings: Any) -> Iterator[DataManager]:
    """The traced DataManager, named by the DATUM setting for the test."""
    dm = traced_dm(spans, recorder)
    settings.DATUM = {"DATA_MANAGER": dm, "META": extra_meta}
    yield dm
    assert dm.get_active_context() is None


def request_span(spans: Spans) -> ReadableSpan:
    """The span the test opened around the request (standing for a server's)."""
    return spans.one("server")


def context_span(spans: Spans) -> ReadableSpan:
    """The one data context span: the child of the test's server span."""
    server = request_span(spans)
    [span] = [s for s in spans.finished() if spans.parent(s) == server]
    return span


def test_a_request_is_a_context_span(client: Client, dm: DataManager, spans: Spans) -> None:
    """The context's span is named after the route, child of the server's, with opted-in meta."""
    with spans.tracer.start_as_current_span("server"):
        response = client.get("/s/conn", headers={"X-Tenant": "acme"})
    assert response.status_code == 200
    context = context_span(spans)
    assert context.name == "GET /s/conn"
    assert context.attributes == {"polydatum.meta.tenant": "acme"}
    assert not is_error(context)
    service = spans.one("dal.who.connection")
    assert spans.parent(service) == context
    assert spans.parent(spans.one("resource connection setup")) == service
    assert spans.parent(spans.one("resource connection teardown")) == context


def test_a_failed_commit_is_an_error_span_and_a_500(
    client: Client, dm: DataManager, spans: Spans
) -> None:
    """A commit that fails gives Django's 500 and makes the context's span an error."""
    client.raise_request_exception = False
    with spans.tracer.start_as_current_span("server"):
        assert client.get("/s/conn", headers={"X-Fail-Commit": "1"}).status_code == 500
    context = context_span(spans)
    assert (is_error(context), exceptions(context)) == (
        True,
        ["tests.django_datum.app.CommitFailed"],
    )


@pytest.mark.parametrize(
    ("path", "status", "recorded", "error"),
    [
        ("/s/fail/boom", 500, "RuntimeError", True),
        ("/s/fail/404", 404, "django.http.response.Http404", False),
        ("/s/fail/403", 403, "django.core.exceptions.PermissionDenied", False),
        ("/s/service/404", 404, "polydatum.errors.NotFound", False),
    ],
)
def test_a_view_exception_is_recorded(
    client: Client,
    dm: DataManager,
    spans: Spans,
    path: str,
    status: int,
    recorded: str,
    error: bool,
) -> None:
    """A view's exception is recorded on the context's span; only a 5xx one makes it an error."""
    client.raise_request_exception = False
    with spans.tracer.start_as_current_span("server"):
        assert client.get(path).status_code == status
    context = context_span(spans)
    assert (exceptions(context), is_error(context)) == ([recorded], error)
    assert PROBE.seen  # the recorder middleware saw it too


def test_a_streamed_body_runs_inside_the_context_span(
    client: Client, dm: DataManager, spans: Spans
) -> None:
    """Service calls of a streamed body are children of the context's span, which ends after."""
    with spans.tracer.start_as_current_span("server"):
        response = client.get("/s/stream/2")
        body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
        response.close()
    assert body.count(b";") == 2
    context = context_span(spans)
    calls = [s for s in spans.finished() if s.name == "dal.who.connection"]
    assert [spans.parent(s) for s in calls] == [context, context]
    assert all(s.end_time <= context.end_time for s in calls)  # type: ignore[operator]
    assert PROBE.seen == [None]


@pytest.mark.anyio
async def test_an_async_view_under_asgi(
    async_client: AsyncClient, dm: DataManager, spans: Spans
) -> None:
    """Under ASGI an async view's async resource spans nest in the context's span."""
    with spans.tracer.start_as_current_span("server"):
        response = await async_client.get("/a/conn")
    assert response.status_code == 200
    context = context_span(spans)
    assert context.name == "GET /a/conn"
    setup, teardown = (
        spans.one("resource async_connection setup"),
        spans.one("resource async_connection teardown"),
    )
    assert spans.parent(setup) == spans.parent(teardown) == context
    assert trace.get_current_span() is trace.INVALID_SPAN


@pytest.mark.anyio
async def test_closing_in_the_requests_sync_thread_restores_the_servers_span(
    async_client: AsyncClient, dm: DataManager, spans: Spans, settings: Any
) -> None:
    """With CLOSE_IN_THREAD the context closes in a sync thread; its span still ends right."""
    settings.DATUM = {**settings.DATUM, "CLOSE_IN_THREAD": True}
    async_client.raise_request_exception = False
    with spans.tracer.start_as_current_span("server") as server:
        response = await async_client.get("/s/conn", headers={"X-Fail-Commit": "1"})
        assert trace.get_current_span() is server
    assert response.status_code == 500
    context = context_span(spans)
    assert PROBE.closed_in not in (None, threading.get_ident())  # a sync thread's
    assert (is_error(context), exceptions(context)) == (
        True,
        ["tests.django_datum.app.CommitFailed"],
    )


def test_an_async_view_under_wsgi_leaves_no_stale_parent(
    client: Client, dm: DataManager, spans: Spans
) -> None:
    """Under WSGI, after an async view set up an async resource, the next request nests right."""
    # No server span: each context span is a root span.
    assert client.get("/a/conn").status_code == 200
    assert client.get("/s/conn").status_code == 200
    first, second = (s for s in spans.finished() if s.name in ("GET /a/conn", "GET /s/conn"))
    assert (first.parent, second.parent) == (None, None)
    assert spans.parent(spans.one("resource async_connection teardown")) == first
    assert trace.get_current_span() is trace.INVALID_SPAN


@pytest.mark.django_db(transaction=True)
def test_an_orm_commit_that_fails_is_an_error_span(
    client: Client, spans: Spans, settings: Any
) -> None:
    """AtomicMiddleware's commit refused by the database (deferred FK) is an error span, a 500."""
    from django_datum import AtomicMiddleware

    settings.DATUM = {"DATA_MANAGER": traced_dm(spans, AtomicMiddleware("default"))}
    client.raise_request_exception = False
    with spans.tracer.start_as_current_span("server"):
        assert client.get("/s/note/dangling").status_code == 500
    context = context_span(spans)
    assert context.name == "GET /s/note/<str:outcome>"
    assert (is_error(context), exceptions(context)) == (True, ["django.db.utils.IntegrityError"])
