"""Fixtures: a recording DataManager, the test app and clients for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from polydatum import DataManager
from starlette.applications import Starlette

from .support import Recorder, make_app, make_dm


@pytest.fixture
def recorder() -> Recorder:
    """The lifecycle events of the test's DataManager."""
    return Recorder()


@pytest.fixture
def dm(recorder: Recorder) -> DataManager:
    """A DataManager with a transaction middleware and two resources."""
    return make_dm(recorder)


@pytest.fixture
def app(dm: DataManager, recorder: Recorder) -> Starlette:
    """The Starlette test app with DatumMiddleware installed."""
    return make_app(dm, recorder)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """httpx over ASGITransport: requests run in the test's own context; app errors become 500s."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client
