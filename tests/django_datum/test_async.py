"""DatumMiddleware under Django's async test client (ASGI handler, async mode)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.test import AsyncClient

from tests.django_datum.app import CommitFailed, Probe

pytestmark = pytest.mark.anyio


async def test_async_view_loads_the_user_with_the_async_api(async_client: AsyncClient) -> None:
    """An async view reads the user (through request.auser) and the request from meta."""
    response = await async_client.get("/a/name", headers={"x-user": "grace"})
    assert response.content == b"grace /a/name"


async def test_async_user_is_not_loaded_when_nobody_reads_it(
    async_client: AsyncClient, probe: Probe
) -> None:
    """An async view that never reads meta.user never loads the user."""
    await async_client.get("/a/noop", headers={"x-user": "grace"})
    assert probe.user_loads == 0


async def test_context_opens_in_the_view_thread(async_client: AsyncClient) -> None:
    """Under ASGI the context opens in the event loop thread the async view runs in."""
    response = await async_client.get("/a/thread")
    view_thread, opened_in = response.content.split()
    assert view_thread == opened_in


@pytest.mark.parametrize(
    ("kind", "status", "exc"),
    [("404", 404, "Http404"), ("403", 403, "PermissionDenied"), ("500", 500, "RuntimeError")],
)
async def test_async_view_exception_reaches_context_middleware(
    async_client: AsyncClient, probe: Probe, kind: str, status: int, exc: str
) -> None:
    """An async view's exception is thrown into the context; the response stays Django's."""
    async_client.raise_request_exception = False
    response = await async_client.get(f"/a/fail/{kind}")
    assert response.status_code == status
    assert [t.__name__ if t else None for t in probe.seen] == [exc]
    assert (probe.setups, probe.teardowns) == (1, 1)


async def test_async_failed_commit_becomes_a_500(async_client: AsyncClient, probe: Probe) -> None:
    """Under ASGI a commit failing at close turns the view's 200 into a 500."""
    async_client.raise_request_exception = False
    probe.fail_commit = True
    response = await async_client.get("/a/noop")
    assert response.status_code == 500


async def test_async_failed_commit_goes_through_django(
    async_client: AsyncClient, probe: Probe
) -> None:
    """Under ASGI the commit failure reaches Django's error handling (re-raised in tests)."""
    probe.fail_commit = True
    with pytest.raises(CommitFailed):
        await async_client.get("/a/noop")


async def test_async_not_found_service_error_becomes_404(async_client: AsyncClient) -> None:
    """Under ASGI an unhandled NotFound becomes a 404."""
    assert (await async_client.get("/a/service/404")).status_code == 404


async def test_async_resource_torn_down_once(async_client: AsyncClient, probe: Probe) -> None:
    """Under ASGI a resource set up by a sync view is torn down exactly once."""
    assert (await async_client.get("/s/conn")).status_code == 200
    assert (probe.setups, probe.teardowns) == (1, 1)


@pytest.fixture
def close_in_thread(settings: Any) -> None:
    """DATUM with CLOSE_IN_THREAD on."""
    settings.DATUM = {**settings.DATUM, "CLOSE_IN_THREAD": True}


async def test_context_closes_on_the_event_loop_by_default(
    async_client: AsyncClient, probe: Probe
) -> None:
    """Under ASGI the context closes (commits) in the event loop thread unless told otherwise."""
    response = await async_client.get("/s/thread")
    assert response.status_code == 200
    assert probe.closed_in == threading.get_ident()  # the test's loop runs the ASGI handler


@pytest.mark.usefixtures("close_in_thread")
async def test_close_in_thread_commits_in_the_sync_views_thread(
    async_client: AsyncClient, probe: Probe
) -> None:
    """CLOSE_IN_THREAD: a sync-only context closes in the request's sync thread, off the loop."""
    response = await async_client.get("/s/thread")
    view_thread = int(response.content)
    assert probe.closed_in == view_thread
    assert view_thread != threading.get_ident()
    assert (probe.setups, probe.teardowns) == (0, 0)


@pytest.mark.usefixtures("close_in_thread")
async def test_close_in_thread_tears_resources_down_once(
    async_client: AsyncClient, probe: Probe
) -> None:
    """CLOSE_IN_THREAD: a resource set up by the view is torn down exactly once, in the thread."""
    assert (await async_client.get("/s/conn")).status_code == 200
    assert (probe.setups, probe.teardowns) == (1, 1)
    assert probe.closed_in != threading.get_ident()


@pytest.mark.usefixtures("close_in_thread")
async def test_close_in_thread_failed_commit_becomes_a_500(
    async_client: AsyncClient, probe: Probe
) -> None:
    """CLOSE_IN_THREAD: a commit failing in the thread still turns the view's 200 into a 500."""
    async_client.raise_request_exception = False
    probe.fail_commit = True
    response = await async_client.get("/s/thread")
    assert response.status_code == 500


@pytest.mark.usefixtures("close_in_thread")
@pytest.mark.parametrize(
    ("path", "on_loop"),
    [
        ("/a/thread", False),  # an async view, sync parts only: off the loop
        ("/a/conn", True),  # an async resource was set up: closed by awaiting, on the loop
    ],
)
async def test_close_in_thread_depends_on_what_was_set_up(
    async_client: AsyncClient, probe: Probe, path: str, on_loop: bool
) -> None:
    """CLOSE_IN_THREAD moves a context's close off the loop only when nothing async was set up."""
    response = await async_client.get(path)
    assert response.status_code == 200
    assert probe.setups == probe.teardowns
    assert probe.closed_in is not None
    assert (probe.closed_in == threading.get_ident()) is on_loop
