"""Every resource set up is torn down exactly once, whatever ends the request."""

from __future__ import annotations

import httpx
import pytest
from polydatum import DataAccessContext, DataManager
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette_datum import DatumMiddleware

from .support import FAIL_COMMIT, Recorder

pytestmark = pytest.mark.anyio

ENDINGS = {
    "success": ("/ok", {}),
    "http-exception": ("/http-error", {}),
    "handled-exception": ("/handled", {}),
    "unhandled-exception": ("/boom", {}),
    "service-error": ("/notes/0", {}),
    "service-error-5xx": ("/unavailable", {}),
    "commit-failure": ("/ok", {FAIL_COMMIT: "1"}),
    "stream": ("/stream", {}),
    "stream-failure": ("/stream-fail", {}),
    "stream-commit-failure": ("/stream", {FAIL_COMMIT: "1"}),
    "background-task": ("/background", {}),
}


@pytest.mark.parametrize(("path", "headers"), ENDINGS.values(), ids=ENDINGS.keys())
async def test_each_resource_is_torn_down_exactly_once(
    client: httpx.AsyncClient,
    recorder: Recorder,
    dm: DataManager,
    path: str,
    headers: dict[str, str],
) -> None:
    """Both resources of the request's context are set up once and torn down once."""
    await client.get(path, headers=headers)
    events = [e for e in recorder.events if not e.startswith("background")]
    # A background task opens its own context after the request's closed.
    request_events = events[: events.index("conn:teardown") + 1]
    for name in ("conn", "aconn"):
        assert request_events.count(f"{name}:setup") == 1, request_events
        assert request_events.count(f"{name}:teardown") == 1, request_events
    assert recorder.count("begin") == recorder.count("conn:teardown")
    assert dm.get_active_context() is None


async def test_failing_context_middleware_setup_gives_a_500_and_leaks_nothing(
    recorder: Recorder,
) -> None:
    """Context middleware that fails to set up ends the request with a 500; earlier ones unwind."""
    dm = DataManager()

    def first(ctx: DataAccessContext):  # type: ignore[no-untyped-def]
        recorder.events.append("first:setup")
        try:
            yield
        except BaseException as exc:
            recorder.events.append(f"first:{type(exc).__name__}")
            raise

    def broken(ctx: DataAccessContext):  # type: ignore[no-untyped-def]
        raise ConnectionError("database down")
        yield

    dm.register_context_middleware(first, broken)

    async def endpoint(request: Request) -> Response:
        recorder.events.append("endpoint")
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/", endpoint)], middleware=[Middleware(DatumMiddleware, data_manager=dm)]
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get("http://test/")
    assert response.status_code == 500
    assert recorder.events == ["first:setup", "first:ConnectionError"]
    assert dm.get_active_context() is None
