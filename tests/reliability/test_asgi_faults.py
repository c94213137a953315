"""Fault matrix for Starlette and FastAPI: a failure at each phase, async and sync endpoints.

Real Starlette and FastAPI apps (FastAPI through its ``DAL`` dependency); each
cell is served over ASGI as a server would (spec 2.3), the next request goes
through httpx's ASGITransport. See ``faults.py`` for what each cell must give.
"""

from __future__ import annotations

import httpx
import pytest
from polydatum.testing import ResourceTracker
from starlette.applications import Starlette

from tests.starlette_datum.support import STARLETTE

from .asgi_driver import serve
from .asgi_fault_apps import fastapi_app, starlette_app
from .faults import PHASES, STREAMED, Faults, Outcome, check_cell, check_next_request_ok

pytestmark = pytest.mark.anyio

#: What DatumMiddleware throws into the context when the client left mid-stream.
DISCONNECT = "ClientDisconnect(The response ended before its body was complete.)"

#: Before 0.46 Starlette streams a body in a task group, which raises the body's error in an
#: ExceptionGroup: the app raises that group, and the middleware sees it.
GROUPED_BODY_ERROR = STARLETTE < (0, 46)


@pytest.fixture(params=["starlette", "fastapi"])
def app(request: pytest.FixtureRequest, faults: Faults) -> Starlette:
    """A fresh Starlette or FastAPI app around the fault-injecting DataManager."""
    build = starlette_app if request.param == "starlette" else fastapi_app
    return build(faults)


async def next_request(app: Starlette, path: str) -> Outcome:
    """GET ``path`` with httpx over ASGITransport."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get(path, headers={"x-user": "ann"})
    return Outcome(response.status_code, response.text)


def path_of(phase: str, kind: str) -> str:
    return f"/{kind}/{'stream' if phase in STREAMED else 'work'}"


@pytest.mark.parametrize("kind", ["async", "sync"])
@pytest.mark.parametrize("phase", PHASES)
async def test_fault_cell(
    phase: str,
    kind: str,
    faults: Faults,
    tracker: ResourceTracker,
    app: Starlette,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failure at this phase gives its status, reaches middleware, tears down once, no leak."""
    faults.phase = phase
    outcome = await serve(app, path_of(phase, kind), leave_after_first=phase == "client disconnect")
    check_cell(
        faults,
        tracker,
        phase,
        outcome,
        caplog,
        disconnect=DISCONNECT,
        grouped_body_error=GROUPED_BODY_ERROR,
    )


@pytest.mark.parametrize("kind", ["async", "sync"])
@pytest.mark.parametrize("phase", PHASES)
async def test_next_request_succeeds(
    phase: str, kind: str, faults: Faults, tracker: ResourceTracker, app: Starlette
) -> None:
    """After a failure at this phase, the next request on the same app succeeds."""
    faults.phase = phase
    await serve(app, path_of(phase, kind), leave_after_first=phase == "client disconnect")
    faults.reset()
    check_next_request_ok(faults, tracker, await next_request(app, f"/{kind}/work"))
