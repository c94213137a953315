"""DatumMiddleware on a real Starlette app, driven through httpx's ASGITransport."""

from __future__ import annotations

import gc
import logging
import weakref
from typing import Any

import httpx
import pytest
from polydatum import DataManager, NotFound
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Message, Receive, Scope, Send
from starlette_datum import DAL_STATE_KEY, REQUEST_SCOPE_KEY, DatumMiddleware, get_dal

from .support import FAIL_COMMIT, Recorder, make_app

pytestmark = pytest.mark.anyio

FULL_CYCLE = ["begin", "conn:setup", "aconn:setup"]


async def test_request_commits_and_tears_down_in_order(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    """A successful request commits, then tears its resources down newest first."""
    response = await client.get("/ok")
    assert response.text == "conn+aconn"
    assert recorder.events == [*FULL_CYCLE, "commit", "aconn:teardown", "conn:teardown"]


async def test_each_request_gets_a_new_context(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    """Two requests open two contexts, each setting up its own resources."""
    await client.get("/ok")
    await client.get("/ok")
    assert recorder.count("begin") == 2
    assert recorder.count("conn:setup") == 2


async def test_no_context_is_active_after_a_request(
    client: httpx.AsyncClient, dm: DataManager
) -> None:
    """ASGITransport runs the app in the caller's context; nothing stays active there."""
    for path in ("/ok", "/boom", "/stream", "/http-error", "/notes/0"):
        await client.get(path)
        assert dm.get_active_context() is None, path


async def test_request_state_dal_is_the_dal(dm: DataManager, recorder: Recorder) -> None:
    """``request.state.dal`` and ``get_dal(request)`` both give the DataManager's DAL."""
    seen: dict[str, Any] = {}

    async def endpoint(request: Request) -> Response:
        seen["state"] = request.state.dal
        seen["get_dal"] = get_dal(request)
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/", endpoint)], middleware=[Middleware(DatumMiddleware, data_manager=dm)]
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        await client.get("http://test/")
    assert seen["state"] is dm.get_dal()
    assert seen["get_dal"] is dm.get_dal()


async def test_dal_is_stored_under_the_module_constants(dm: DataManager) -> None:
    """The DAL lives in ``scope["state"]`` and the request's scope object in the ASGI scope."""
    seen: dict[str, Any] = {}

    async def endpoint(request: Request) -> Response:
        seen.update(request.scope)
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/", endpoint)], middleware=[Middleware(DatumMiddleware, data_manager=dm)]
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        await client.get("http://test/")
    assert seen["state"][DAL_STATE_KEY] is dm.get_dal()
    assert seen[REQUEST_SCOPE_KEY].context.data_manager is dm


async def test_get_dal_without_the_middleware_says_how_to_install_it() -> None:
    """``get_dal`` on an app without DatumMiddleware raises an error naming the fix."""

    async def endpoint(request: Request) -> Response:
        get_dal(request)
        return PlainTextResponse("unreachable")

    app = Starlette(routes=[Route("/", endpoint)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        with pytest.raises(RuntimeError, match=r"Middleware\(DatumMiddleware, data_manager=dm\)"):
            await client.get("http://test/")


async def test_commit_happens_before_the_response_start_leaves(
    app: Starlette, recorder: Recorder
) -> None:
    """When ``http.response.start`` reaches the server, the context has already committed."""
    at_start: list[list[str]] = []

    async def server_side(scope: Scope, receive: Receive, send: Send) -> None:
        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                at_start.append(list(recorder.events))
            await send(message)

        await app(scope, receive, record)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server_side)) as client:
        await client.get("http://test/ok")
    assert at_start == [[*FULL_CYCLE, "commit", "aconn:teardown", "conn:teardown"]]


async def test_commit_failure_gives_a_500(client: httpx.AsyncClient, recorder: Recorder) -> None:
    """A commit raising while closing turns the endpoint's 200 into a 500."""
    response = await client.get("/ok", headers={FAIL_COMMIT: "1"})
    assert response.status_code == 500
    assert "conn+aconn" not in response.text
    assert recorder.events[-3:] == ["commit-failed", "aconn:teardown", "conn:teardown"]


async def test_commit_failure_reaches_the_server(app: Starlette) -> None:
    """The commit error itself propagates to the server (which logs it)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        with pytest.raises(Exception, match="The commit failed"):
            await client.get("/ok", headers={FAIL_COMMIT: "1"})


async def test_commit_failure_skips_background_tasks(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    """A response whose commit failed never went out, so its background task does not run."""
    response = await client.get("/background", headers={FAIL_COMMIT: "1"})
    assert response.status_code == 500
    assert not [e for e in recorder.events if e.startswith("background")]


async def test_commit_failure_uses_the_apps_500_handler(
    dm: DataManager, recorder: Recorder
) -> None:
    """A failed commit goes through the app's own 500 handler."""
    app = make_app(dm, recorder)
    app.add_exception_handler(500, lambda request, exc: PlainTextResponse("sorry", 500))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/ok", headers={FAIL_COMMIT: "1"})
    assert (response.status_code, response.text) == (500, "sorry")


async def test_http_exception_rolls_back_and_keeps_its_response(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    """An HTTPException reaches the context (rollback); the client still gets its 418."""
    response = await client.get("/http-error")
    assert (response.status_code, response.text) == (418, "teapot")
    assert "rollback:HTTPException" in recorder.events
    assert "commit" not in recorder.events


async def test_exception_handled_by_an_app_handler_rolls_back(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    """An exception the app's handler turns into a 400 still rolls the context back."""
    response = await client.get("/handled")
    assert (response.status_code, response.text) == (400, "handled")
    assert "rollback:Handled" in recorder.events


async def test_sync_exception_handler_also_rolls_back(dm: DataManager, recorder: Recorder) -> None:
    """A sync exception handler (run in the thread pool) still lets the context see the error."""

    class Oops(Exception):
        pass

    async def endpoint(request: Request) -> Response:
        raise Oops

    app = Starlette(
        routes=[Route("/", endpoint)],
        middleware=[Middleware(DatumMiddleware, data_manager=dm)],
        exception_handlers={Oops: lambda request, exc: PlainTextResponse("oops", 409)},
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        response = await client.get("http://test/")
    assert response.status_code == 409
    assert recorder.events == ["begin", "rollback:Oops"]


async def test_unknown_route_rolls_back(client: httpx.AsyncClient, recorder: Recorder) -> None:
    """Routing's own 404 counts as a failed request, not a commit."""
    response = await client.get("/no-such-page")
    assert response.status_code == 404
    assert recorder.events == ["begin", "rollback:HTTPException"]


async def test_handled_exception_in_a_mounted_app_rolls_back(
    dm: DataManager, recorder: Recorder
) -> None:
    """A mounted sub-app's own exception handling is seen too."""

    async def endpoint(request: Request) -> Response:
        raise ValueError("bad")

    inner = Starlette(
        routes=[Route("/", endpoint)],
        exception_handlers={ValueError: lambda request, exc: PlainTextResponse("bad", 422)},
    )
    app = Starlette(
        routes=[Mount("/inner", inner)],
        middleware=[Middleware(DatumMiddleware, data_manager=dm)],
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        response = await client.get("http://test/inner/")
    assert response.status_code == 422
    assert recorder.events == ["begin", "rollback:ValueError"]


async def test_unhandled_exception_rolls_back_and_gives_a_500(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    """An unhandled endpoint error rolls back; the server answers 500."""
    response = await client.get("/boom")
    assert response.status_code == 500
    assert "rollback:RuntimeError" in recorder.events


async def test_unhandled_exception_propagates_unchanged(app: Starlette) -> None:
    """The endpoint's own exception (not a wrapper) reaches the server."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        with pytest.raises(RuntimeError, match=r"^boom$"):
            await client.get("http://test/boom")


async def test_service_not_found_becomes_a_404(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    """An unhandled NotFound becomes a 404 carrying its message, after a rollback."""
    response = await client.get("/notes/0")
    assert response.status_code == 404
    assert response.json() == {"detail": "No note 0."}
    assert "rollback:NotFound" in recorder.events


async def test_service_error_with_a_5xx_code_hides_its_message(
    client: httpx.AsyncClient,
) -> None:
    """A ServiceError with a 5xx code answers with that code and only the status phrase."""
    response = await client.get("/unavailable")
    assert response.status_code == 503
    assert response.json() == {"detail": "Service Unavailable"}


async def test_service_error_mapping_can_be_switched_off(
    dm: DataManager, recorder: Recorder
) -> None:
    """With ``map_service_errors=False`` a NotFound is an ordinary unhandled error (500)."""
    app = make_app(dm, recorder, map_service_errors=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/notes/0")
    assert response.status_code == 500


async def test_the_apps_own_service_error_handler_wins(dm: DataManager, recorder: Recorder) -> None:
    """An app exception handler for the ServiceError decides the response, not the middleware."""
    app = make_app(dm, recorder)
    app.add_exception_handler(NotFound, lambda request, exc: PlainTextResponse("gone", 410))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        response = await client.get("http://test/notes/0")
    assert (response.status_code, response.text) == (410, "gone")
    assert "rollback:NotFound" in recorder.events


async def test_sync_endpoint_in_the_thread_pool_sees_the_context(
    client: httpx.AsyncClient,
) -> None:
    """A sync endpoint runs in a worker thread with the request's context active."""
    data = (await client.get("/sync")).json()
    assert data["active"] is True
    assert data["same_request"] is True
    assert data["conn"] == "conn"
    assert data["thread"] != "MainThread"


async def test_streamed_body_uses_the_dal_and_commits_after_the_last_chunk(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    """Each chunk of a streamed body uses the DAL; the commit follows the last chunk."""
    response = await client.get("/stream")
    assert response.text == "conn+aconn:0;conn+aconn:1;conn+aconn:2;"
    assert recorder.events.index("chunk:2") < recorder.events.index("commit")


async def test_streamed_body_failure_rolls_back(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    """A body that raises mid-stream rolls the context back."""
    await client.get("/stream-fail")
    assert "rollback:RuntimeError" in recorder.events
    assert "commit" not in recorder.events


async def test_commit_failure_after_a_streamed_body_is_logged(
    app: Starlette, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """A commit failing at the end of a stream (headers gone) is logged and aborts the body."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="polydatum"):
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/stream", headers={FAIL_COMMIT: "1"})
    assert response.status_code == 200  # the headers had already gone out
    assert any("while the body streamed" in r.getMessage() for r in caplog.records)
    assert recorder.events[-3:] == ["commit-failed", "aconn:teardown", "conn:teardown"]


async def test_background_task_runs_after_the_context_closed(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    """A background task sees no request context, and can open its own."""
    await client.get("/background")
    events = recorder.events
    assert events.index("commit") < events.index("background:active=False")
    assert "background:conn+aconn" in events
    assert events.count("commit") == 2  # the request's, then the task's own context


async def test_meta_request_is_the_request(dm: DataManager) -> None:
    """``meta.request`` is a Request over the same ASGI scope as the endpoint's."""
    seen: dict[str, Any] = {}

    async def endpoint(request: Request) -> Response:
        seen["meta"] = dm.get_active_context().meta.request  # type: ignore[union-attr]
        seen["scope"] = request.scope
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/", endpoint)], middleware=[Middleware(DatumMiddleware, data_manager=dm)]
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        await client.get("http://test/")
    assert isinstance(seen["meta"], Request)
    assert seen["meta"].scope is seen["scope"]


async def test_meta_user_is_none_without_authentication(client: httpx.AsyncClient) -> None:
    """Without AuthenticationMiddleware ``meta.user`` is None."""
    assert (await client.get("/user")).text == "None"


async def test_finished_request_is_freed_without_the_garbage_collector(dm: DataManager) -> None:
    """No reference cycle keeps a finished request's context alive until a GC pass."""
    refs: list[weakref.ref[Any]] = []

    async def endpoint(request: Request) -> Response:
        refs.append(weakref.ref(dm.get_active_context()))  # type: ignore[arg-type]
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/", endpoint)], middleware=[Middleware(DatumMiddleware, data_manager=dm)]
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        gc.disable()
        try:
            await client.get("http://test/")
            assert refs[0]() is None
        finally:
            gc.enable()
