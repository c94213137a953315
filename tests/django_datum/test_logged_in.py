"""A logged-in session (a real user row, Django's auth) read from async views.

The same read under uvicorn is in test_servers.py, with the other tests that start a server.
"""

from __future__ import annotations

import pytest
from django.test import AsyncClient

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]


async def test_sync_service_in_async_view_reads_the_logged_in_user(
    logged_in: AsyncClient,
) -> None:
    """An async view calling a sync service that reads meta.user gets the session's user."""
    response = await logged_in.get("/a/sync-name")
    assert (response.status_code, response.content) == (200, b"ada")


async def test_async_service_awaits_the_logged_in_user(logged_in: AsyncClient) -> None:
    """``await meta.aget("user")`` still loads the session's user with the async API."""
    response = await logged_in.get("/a/name")
    assert (response.status_code, response.content) == (200, b"ada /a/name")


async def test_sync_service_in_async_view_reads_an_anonymous_user(
    async_client: AsyncClient,
) -> None:
    """Without a session the sync service reads Django's AnonymousUser (an empty name)."""
    response = await async_client.get("/a/sync-name")
    assert (response.status_code, response.content) == (200, b"")
