"""Exceptions: handled ones still roll back, ServiceErrors become their HTTP status."""

from __future__ import annotations

import logging

import httpx
import pytest
from polydatum import DataManager, NotFound
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette_datum import DatumMiddleware

from .support import FAIL_COMMIT, Recorder, make_app

pytestmark = pytest.mark.anyio


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


# -- a 500 tells a keep-alive client that the connection closes ---------------------


async def _get(app: Starlette, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path, headers=headers)


async def _sorry_async(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(f"sorry: {exc}", 500)


def _sorry_sync(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(f"sorry: {exc}", 500)


@pytest.mark.parametrize(
    ("path", "headers", "error"),
    [("/boom", None, "boom"), ("/ok", {FAIL_COMMIT: "1"}, "The commit failed")],
    ids=["endpoint-error", "failed-commit"],
)
@pytest.mark.parametrize("handler", [_sorry_async, _sorry_sync], ids=["async", "sync"])
async def test_a_500_from_the_apps_handler_says_connection_close(
    dm: DataManager, recorder: Recorder, path: str, headers: dict[str, str] | None,
    error: str, handler: object,
) -> None:  # fmt: skip
    """The app's 500 (its handler's body) carries ``Connection: close``: uvicorn closes then."""
    app = make_app(dm, recorder)
    app.add_exception_handler(Exception, handler)  # type: ignore[arg-type]
    response = await _get(app, path, headers)
    assert (response.status_code, response.headers["connection"]) == (500, "close")
    assert response.text.startswith(f"sorry: {error}")


async def test_a_500_without_a_handler_is_starlettes_with_connection_close(app: Starlette) -> None:
    """Without a 500 handler the body is Starlette's plain text, with ``Connection: close``."""
    response = await _get(app, "/boom")
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    assert response.headers["connection"] == "close"


async def test_a_500_in_debug_mode_is_starlettes_traceback_page(
    dm: DataManager, recorder: Recorder
) -> None:
    """In debug mode the middleware sends nothing itself: Starlette's traceback page goes out."""
    app = make_app(dm, recorder)
    app.debug = True
    response = await _get(app, "/boom", {"accept": "text/html"})
    assert response.status_code == 500
    assert "connection" not in response.headers
    assert "RuntimeError" in response.text


async def test_a_failing_500_handler_is_logged_and_left_to_starlette(
    dm: DataManager, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """A 500 handler that raises is logged; the middleware sends nothing and Starlette goes on."""

    def broken(request: Request, exc: Exception) -> Response:
        raise ValueError("the handler broke")

    app = make_app(dm, recorder)
    app.add_exception_handler(Exception, broken)
    transport = httpx.ASGITransport(app=app)
    with caplog.at_level(logging.ERROR, logger="polydatum.starlette"):
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            with pytest.raises(ValueError, match="the handler broke"):
                await client.get("/boom")
    assert "The app's 500 handler failed" in caplog.text
