"""FastAPI: the ``DAL`` dependency and the request lifecycle under FastAPI's machinery."""

from __future__ import annotations

import inspect
import threading
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from polydatum import DataAccessLayer, DataManager
from starlette.middleware import Middleware
from starlette.testclient import TestClient

from .support import FAIL_COMMIT, Notes, Recorder

pytest.importorskip("fastapi")

# Only once FastAPI is known to be installed:
from fastapi import (
    BackgroundTasks,
    Depends,
    FastAPI,
    HTTPException,
    WebSocket,
    WebSocketDisconnect,
)
from starlette_datum import DatumMiddleware
from starlette_datum.fastapi import DAL

pytestmark = pytest.mark.anyio

#: ``Depends(scope=...)`` came in FastAPI 0.121; older releases have only the default scope.
HAS_DEPENDENCY_SCOPE = "scope" in inspect.signature(Depends).parameters


def notes_of(dal: DAL) -> Notes:
    """A dependency that itself depends on the DAL."""
    notes: Notes = dal.notes
    return notes


def make_api(dm: DataManager, recorder: Recorder) -> FastAPI:
    """A FastAPI app using the DAL in path operations, dependencies and a WebSocket."""
    api = FastAPI(middleware=[Middleware(DatumMiddleware, data_manager=dm)])
    events = recorder.events

    async def session() -> AsyncIterator[None]:
        events.append("dependency:enter")
        yield
        events.append("dependency:exit")

    @api.get("/notes/{note_id}")
    async def read_note(note_id: int, dal: DAL) -> dict[str, str]:
        return {"note": await dal.notes.get(note_id)}

    @api.get("/via-dependency")
    async def via_dependency(notes: Annotated[Notes, Depends(notes_of)]) -> str:
        return await notes.touch()

    @api.get("/sync")
    def sync_operation(dal: DAL) -> dict[str, Any]:
        ctx = dm.get_active_context()
        return {
            "conn": ctx.conn if ctx is not None else None,
            "thread": threading.current_thread().name,
        }

    @api.get("/teapot")
    async def teapot(dal: DAL) -> None:
        await dal.notes.touch()
        raise HTTPException(418, "short and stout")

    @api.get("/with-session", dependencies=[Depends(session)])
    async def with_session(dal: DAL) -> str:
        return await dal.notes.touch()

    if HAS_DEPENDENCY_SCOPE:

        @api.get("/with-function-session", dependencies=[Depends(session, scope="function")])
        async def with_function_session(dal: DAL) -> str:
            return await dal.notes.touch()

    @api.get("/background")
    async def background(dal: DAL, tasks: BackgroundTasks) -> str:
        def task() -> None:
            events.append(f"background:active={dm.get_active_context() is not None}")

        tasks.add_task(task)
        return await dal.notes.touch()

    @api.websocket("/ws")
    async def ws(websocket: WebSocket, dal: DAL) -> None:
        await websocket.accept()
        try:
            while True:
                note_id = int(await websocket.receive_text())
                await websocket.send_text(await dal.notes.get(note_id))
        except WebSocketDisconnect:
            events.append("ws:disconnect")

    return api


@pytest.fixture
def api(dm: DataManager, recorder: Recorder) -> FastAPI:
    """The FastAPI test app."""
    return make_api(dm, recorder)


@pytest.fixture
async def api_client(api: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """httpx over ASGITransport for the FastAPI app; app errors become 500s."""
    transport = httpx.ASGITransport(app=api, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_dal_dependency_in_a_path_operation(
    api_client: httpx.AsyncClient, recorder: Recorder
) -> None:
    """``dal: DAL`` gives the DAL in a path operation; the request commits."""
    response = await api_client.get("/notes/1")
    assert response.json() == {"note": "note 1"}
    assert "commit" in recorder.events


async def test_dal_dependency_inside_another_dependency(api_client: httpx.AsyncClient) -> None:
    """A dependency can itself depend on ``DAL``."""
    assert (await api_client.get("/via-dependency")).json() == "conn+aconn"


async def test_sync_path_operation_sees_the_context(api_client: httpx.AsyncClient) -> None:
    """A sync path operation, run in the thread pool, uses the request's context."""
    data = (await api_client.get("/sync")).json()
    assert data["conn"] == "conn"
    assert data["thread"] != "MainThread"


async def test_http_exception_rolls_back_and_keeps_fastapis_response(
    api_client: httpx.AsyncClient, recorder: Recorder
) -> None:
    """FastAPI's HTTPException rolls back; the client gets FastAPI's JSON error."""
    response = await api_client.get("/teapot")
    assert response.status_code == 418
    assert response.json() == {"detail": "short and stout"}
    assert "rollback:HTTPException" in recorder.events


async def test_validation_error_rolls_back(
    api_client: httpx.AsyncClient, recorder: Recorder
) -> None:
    """A request FastAPI rejects as invalid (422) rolls the context back."""
    response = await api_client.get("/notes/not-a-number")
    assert response.status_code == 422
    assert recorder.events == ["begin", "rollback:RequestValidationError"]


async def test_service_not_found_becomes_fastapis_404_shape(
    api_client: httpx.AsyncClient,
) -> None:
    """An unhandled NotFound answers 404 with FastAPI's ``{"detail": ...}`` body."""
    response = await api_client.get("/notes/0")
    assert response.status_code == 404
    assert response.json() == {"detail": "No note 0."}


@pytest.mark.parametrize(
    "path",
    [
        "/with-session",
        pytest.param(
            "/with-function-session",
            marks=pytest.mark.skipif(
                not HAS_DEPENDENCY_SCOPE, reason="Depends(scope=...) is new in FastAPI 0.121"
            ),
        ),
    ],
)
async def test_commit_failure_gives_a_500_whatever_the_dependency_exit_timing(
    api_client: httpx.AsyncClient, recorder: Recorder, path: str
) -> None:
    """With a ``yield`` dependency of either scope, a failing commit still gives a 500."""
    response = await api_client.get(path, headers={FAIL_COMMIT: "1"})
    assert response.status_code == 500
    assert "commit-failed" in recorder.events


async def test_background_task_runs_without_the_request_context(
    api_client: httpx.AsyncClient, recorder: Recorder
) -> None:
    """FastAPI BackgroundTasks run after the request's context closed."""
    await api_client.get("/background")
    events = recorder.events
    assert events.index("commit") < events.index("background:active=False")


def test_websocket_uses_the_dal_dependency(api: FastAPI, recorder: Recorder) -> None:
    """``dal: DAL`` works in a WebSocket endpoint; one context serves the whole connection."""
    with TestClient(api) as client, client.websocket_connect("/ws") as ws:
        ws.send_text("1")
        assert ws.receive_text() == "note 1"
        ws.send_text("2")
        assert ws.receive_text() == "note 2"
    assert recorder.count("begin") == 1
    assert recorder.events[-3:] == ["commit", "aconn:teardown", "conn:teardown"]


async def test_dal_dependency_without_the_middleware_says_how_to_install_it() -> None:
    """Using ``DAL`` on an app without DatumMiddleware raises an error naming the fix."""
    api = FastAPI()

    @api.get("/")
    async def endpoint(dal: DAL) -> None:
        return None

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api)) as client:
        with pytest.raises(RuntimeError, match=r"Middleware\(DatumMiddleware"):
            await client.get("http://test/")


def test_dal_annotation_is_the_data_access_layer() -> None:
    """``DAL`` is ``Annotated[DataAccessLayer, Depends(...)]`` for type checkers."""
    assert DAL.__origin__ is DataAccessLayer  # type: ignore[attr-defined]
