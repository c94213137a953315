"""DatumMiddleware on a real Starlette app, driven through httpx's ASGITransport."""

from __future__ import annotations

import gc
import logging
import weakref
from typing import Any

import anyio
import httpx
import pytest
from polydatum import DataManager
from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send
from starlette_datum import DAL_STATE_KEY, REQUEST_SCOPE_KEY, DatumMiddleware, get_dal

from tests.asgi import http_scope

from .support import FAIL_COMMIT, STARLETTE, Recorder, make_app

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
    """A body that raises mid-stream rolls the context back with what the app raised."""
    await client.get("/stream-fail")
    # Before 0.46 Starlette streams the body in a task group, which wraps the body's error in
    # an ExceptionGroup: that group is what the app raises and what the context sees.
    raised = "RuntimeError" if STARLETTE >= (0, 46) else "ExceptionGroup"
    assert f"rollback:{raised}" in recorder.events
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


def test_importing_the_plugin_leaves_starlettes_state_class_alone() -> None:
    """``request.state.dal`` is a plain ``scope["state"]`` entry: State's class is not patched."""
    import starlette_datum  # noqa: F401 - imported for what it must not do

    assert DAL_STATE_KEY not in vars(State)
    assert State({DAL_STATE_KEY: "from the dict"}).dal == "from the dict"


# -- HTTP/1.0: a streamed body goes out whole after the commit -----------------------


def _request_then_wait() -> Receive:
    """A server's ``receive``: the (empty) request body, then nothing until cancelled."""
    messages = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> Message:
        if messages:
            return messages.pop()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    return receive


async def _drive(app: Any, path: str, http_version: str) -> list[Message]:
    """Serve one GET of ``path`` as a server speaking ``http_version`` would; the messages sent."""
    scope = {**http_scope(path), "http_version": http_version}
    sent: list[Message] = []

    receive = _request_then_wait()

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def test_http10_gets_a_streamed_body_in_one_message_with_its_length_after_the_commit(
    app: Starlette, recorder: Recorder
) -> None:
    """For HTTP/1.0 a streamed body is held: start (with its length) and body leave after commit."""
    committed: list[bool] = []

    async def server_send_recording(scope: Scope, receive: Receive, send: Send) -> None:
        async def record(message: Message) -> None:
            committed.append("commit" in recorder.events)
            await send(message)

        await app(scope, receive, record)

    sent = await _drive(server_send_recording, "/stream", "1.0")
    body = b"conn+aconn:0;conn+aconn:1;conn+aconn:2;"
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert (b"content-length", str(len(body)).encode()) in sent[0]["headers"]
    assert (sent[1]["body"], sent[1].get("more_body", False)) == (body, False)
    assert committed == [True, True]


async def test_http10_stream_whose_commit_fails_is_a_500_with_nothing_of_the_body(
    app: Starlette,
) -> None:
    """For HTTP/1.0 a failed commit after a streamed body sends the 500, not the body."""
    scope = {**http_scope("/stream"), "http_version": "1.0"}
    scope["headers"] = [*scope["headers"], (FAIL_COMMIT.encode(), b"1")]
    sent: list[Message] = []

    receive = _request_then_wait()

    async def send(message: Message) -> None:
        sent.append(message)

    with pytest.raises(Exception, match="The commit failed"):
        await app(scope, receive, send)
    assert sent[0]["status"] == 500
    assert b"conn+aconn" not in b"".join(m.get("body", b"") for m in sent)


@pytest.mark.parametrize(
    ("http_version", "length"), [("1.1", None), ("1.0", b"9")], ids=["http11", "http10-sized"]
)
async def test_a_stream_is_not_held_for_http11_or_with_a_length(
    dm: DataManager, http_version: str, length: bytes | None
) -> None:
    """HTTP/1.1 streams, and so does HTTP/1.0 when the response declares its length."""

    async def stream(request: Request) -> Response:
        async def body() -> Any:
            for part in (b"abc", b"def", b"ghi"):
                yield part

        headers = {"content-length": length.decode()} if length else None
        return StreamingResponse(body(), headers=headers)

    app = Starlette(
        routes=[Route("/", stream)], middleware=[Middleware(DatumMiddleware, data_manager=dm)]
    )
    sent = await _drive(app, "/", http_version)
    assert [m.get("body") for m in sent[1:]] == [b"abc", b"def", b"ghi", b""]
