"""A logged-in session (a real user row, Django's auth) read from async views."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import AsyncClient

from tests.django_datum.test_servers import BIN, _free_port, _serve

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
async def logged_in(async_client: AsyncClient) -> AsyncClient:
    """The async client with a session of the user "ada" (a row in the database)."""
    user = await sync_to_async(User.objects.create_user)("ada", password="pw-ada-123")
    await async_client.aforce_login(user)
    return async_client


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


@pytest.fixture
def served_with_the_test_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The test project under uvicorn (Django's ASGI handler), on this test's database."""
    monkeypatch.setenv("DJANGO_DATUM_TEST_SQLITE", str(connection.settings_dict["NAME"]))
    port = _free_port()
    cmd = [str(BIN / "uvicorn"), "--host", "127.0.0.1", "--port", str(port), "--lifespan", "off"]
    cmd += ["--log-level", "warning", "tests.django_datum.asgi:application"]
    yield from _serve(cmd, port)


async def test_uvicorn_sync_service_in_async_view_reads_the_logged_in_user(
    served_with_the_test_database: str, logged_in: AsyncClient
) -> None:
    """Under uvicorn, with a session cookie of a real user, the sync service reads that user."""
    cookie = logged_in.cookies[settings.SESSION_COOKIE_NAME].value
    async with httpx.AsyncClient(base_url=served_with_the_test_database) as client:
        client.cookies.set(settings.SESSION_COOKIE_NAME, cookie)
        sync_read = await client.get("/a/sync-name")
        async_read = await client.get("/a/name")
    assert (sync_read.status_code, sync_read.text) == (200, "ada")
    assert (async_read.status_code, async_read.text) == (200, "ada /a/name")
