"""One data context per WebSocket connection, through Starlette's TestClient."""

from __future__ import annotations

import pytest
from polydatum import DataManager
from starlette.applications import Starlette
from starlette.exceptions import WebSocketException
from starlette.middleware import Middleware
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect
from starlette_datum import DatumMiddleware, get_dal

from .support import Recorder


def test_websocket_session_uses_the_dal_across_messages(app: Starlette, recorder: Recorder) -> None:
    """Every message of one connection is served by the same context, committed at the end."""
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        ws.send_text("1")
        assert ws.receive_text() == "1:note 1"
        ws.send_text("2")
        assert ws.receive_text() == "2:note 2"
    assert recorder.events == [
        "begin",
        "conn:setup",
        "aconn:setup",
        "ws:disconnect",
        "commit",
        "aconn:teardown",
        "conn:teardown",
    ]


def test_websocket_failure_rolls_back(app: Starlette, recorder: Recorder) -> None:
    """A handler error ends the connection and rolls its context back."""

    def failing_session(client: TestClient) -> None:
        with client.websocket_connect("/ws") as ws:
            ws.send_text("1")
            ws.receive_text()
            ws.send_text("fail")
            ws.receive_text()

    with TestClient(app) as client, pytest.raises(RuntimeError, match="the session failed"):
        failing_session(client)
    assert "rollback:RuntimeError" in recorder.events
    assert recorder.count("conn:teardown") == 1


def test_websocket_leaves_no_active_context(app: Starlette, dm: DataManager) -> None:
    """After the connection ends no context of the DataManager is active."""
    with TestClient(app) as client:
        with client.websocket_connect("/ws") as ws:
            ws.send_text("3")
            ws.receive_text()
        assert client.portal is not None
        assert client.portal.call(dm.get_active_context) is None


def test_websocket_exception_closed_by_the_app_rolls_back(
    dm: DataManager, recorder: Recorder
) -> None:
    """A WebSocketException, which Starlette turns into a close frame, still rolls back."""

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await get_dal(websocket).notes.touch()
        raise WebSocketException(code=1008, reason="policy")

    app = Starlette(
        routes=[WebSocketRoute("/", endpoint)],
        middleware=[Middleware(DatumMiddleware, data_manager=dm)],
    )
    with TestClient(app) as client, client.websocket_connect("/") as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1008
    assert "rollback:WebSocketException" in recorder.events
    assert recorder.count("conn:teardown") == 1
