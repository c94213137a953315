"""AtomicMiddleware: one ORM transaction per context, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient, Client

from tests.django_datum.app import orm_dm
from tests.django_datum.notes.models import DatumNote, DatumTag

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture(params=["default", "pg"])
def alias(request: pytest.FixtureRequest, settings: Any) -> str:
    """Each test runs on SQLite ("default") and on PostgreSQL ("pg")."""
    name: str = request.param if request.param == "default" else request.getfixturevalue("postgres")
    settings.DATUM = {"DATA_MANAGER": orm_dm(name)}
    return name


@pytest.fixture
async def thread_connections() -> AsyncIterator[None]:
    """Close the connections the async ORM opened in its sync thread (the test DB is dropped)."""
    yield
    await sync_to_async(connections.close_all)()


def _count(alias: str, outcome: str) -> int:
    return DatumNote.objects.using(alias).filter(title__startswith=f"{outcome}-").count()


async def _acount(alias: str, outcome: str) -> int:
    return await DatumNote.objects.using(alias).filter(title__startswith=f"{outcome}-").acount()


def test_successful_view_commits(client: Client, alias: str) -> None:
    """A view that returns normally commits its write."""
    assert client.get(f"/s/note/ok?db={alias}").status_code == 200
    assert _count(alias, "ok") == 1


@pytest.mark.parametrize(("outcome", "status"), [("raise", 500), ("404", 404)])
def test_view_exception_rolls_back(client: Client, alias: str, outcome: str, status: int) -> None:
    """A view raising (an error or Http404) rolls its write back; Django's response stays."""
    client.raise_request_exception = False
    assert client.get(f"/s/note/{outcome}?db={alias}").status_code == status
    assert _count(alias, outcome) == 0


def test_failing_commit_is_a_500_and_keeps_nothing(client: Client, alias: str) -> None:
    """A commit refused by the database (deferred foreign key) gives a 500, nothing kept."""
    client.raise_request_exception = False
    assert client.get(f"/s/note/dangling?db={alias}").status_code == 500
    assert _count(alias, "dangling") == 0
    assert DatumTag.objects.using(alias).count() == 0


@pytest.mark.anyio
@pytest.mark.usefixtures("thread_connections")
async def test_async_view_commits(async_client: AsyncClient, alias: str) -> None:
    """An async view's write through the async ORM commits with the context."""
    assert (await async_client.get(f"/a/note/ok?db={alias}")).status_code == 200
    assert await _acount(alias, "ok") == 1


@pytest.mark.anyio
@pytest.mark.usefixtures("thread_connections")
@pytest.mark.parametrize(("outcome", "status"), [("raise", 500), ("404", 404)])
async def test_async_view_exception_rolls_back(
    async_client: AsyncClient, alias: str, outcome: str, status: int
) -> None:
    """An async view raising rolls back the write it made through the async ORM."""
    async_client.raise_request_exception = False
    assert (await async_client.get(f"/a/note/{outcome}?db={alias}")).status_code == status
    assert await _acount(alias, outcome) == 0


@pytest.mark.anyio
@pytest.mark.usefixtures("thread_connections")
async def test_async_failing_commit_is_a_500(async_client: AsyncClient, alias: str) -> None:
    """Under ASGI a commit refused by the database gives a 500 and keeps nothing."""
    async_client.raise_request_exception = False
    assert (await async_client.get(f"/a/note/dangling?db={alias}")).status_code == 500
    assert await _acount(alias, "dangling") == 0
