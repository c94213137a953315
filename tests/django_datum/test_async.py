"""DatumMiddleware under Django's async test client (ASGI handler, async mode)."""

from __future__ import annotations

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
