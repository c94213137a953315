"""OpenTelemetry in a FastAPI app: the context's span is named after the path operation's route."""

from __future__ import annotations

import pytest
from starlette.middleware import Middleware
from starlette_datum import DatumMiddleware

from tests.otel_spans import Spans, spans_fixture

from .test_opentelemetry import Traced, client_for, context_span, traced

pytest.importorskip("fastapi")

# Only once FastAPI is known to be installed:
from fastapi import FastAPI
from starlette_datum.fastapi import DAL

pytestmark = pytest.mark.anyio
spans = pytest.fixture(spans_fixture)
__all__ = ["traced"]  # the fixture, shared with the Starlette tests


async def test_fastapi_names_the_span_after_its_route(traced: Traced, spans: Spans) -> None:
    """Under FastAPI, the context's span is named after the path operation's route."""
    api = FastAPI(middleware=[Middleware(DatumMiddleware, data_manager=traced.dm)])

    @api.get("/items/{item_id}")
    async def item(item_id: int, dal: DAL) -> str:
        return str(await dal.notes.get(item_id))

    async with client_for(api) as client:  # type: ignore[arg-type]
        assert (await client.get("/items/5")).json() == "conn/aconn/5"
    assert context_span(spans).name == "GET /items/{item_id}"
    assert spans.parent(spans.one("dal.notes.get")) == context_span(spans)
