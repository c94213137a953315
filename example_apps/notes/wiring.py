"""Wiring: engines, DataManagers and the per-request meta that resolves the user.

``build_data_manager(url)`` (Flask, Django) and ``build_async_data_manager(url)``
(Starlette) register one resource, ``db`` (a pooled connection, checked out on
first use), one context middleware (the request is one transaction) and the
services. ``url`` and ``pool_size`` are those of ``example_apps.engines``
(``make_engine``, ``make_async_engine``, re-exported here). With
``after_write`` (the apps pass one when a Celery broker is configured),
``OnCommitMiddleware`` goes first, so tasks sent with ``delay_on_commit``
leave once the request committed.
"""

from __future__ import annotations

from typing import Any

from polydatum import DataManager, lazy
from polydatum.contrib.sqlalchemy import (
    AsyncConnectionResource,
    AsyncTransactionMiddleware,
    ConnectionResource,
    TransactionMiddleware,
)

from example_apps.engines import make_async_engine, make_engine

from .async_services import AsyncNotes, AsyncNotesContext, AsyncNotesDal, AsyncUsers
from .schema import create_schema
from .services import AfterWrite, Notes, NotesContext, NotesDal, Users
from .statements import User

__all__ = [
    "async_user_meta",
    "build_async_data_manager",
    "build_data_manager",
    "issue_token",
    "make_async_engine",
    "make_engine",
    "prepare_database",
    "user_meta",
]


def build_data_manager(
    url: str, after_write: AfterWrite | None = None, pool_size: int | None = None
) -> DataManager[NotesDal, NotesContext]:
    """Return the sync DataManager of the notes domain (Flask, Django, the worker, scripts)."""
    dm = DataManager(dal_class=NotesDal, context_class=NotesContext)
    dm.register_resources(db=ConnectionResource(make_engine(url, pool_size)))
    dm.register_context_middleware(*_middleware(TransactionMiddleware("db"), after_write))
    dm.register_services(users=Users(), notes=Notes(after_write))
    return dm


def build_async_data_manager(
    url: str, after_write: AfterWrite | None = None, pool_size: int | None = None
) -> DataManager[AsyncNotesDal, AsyncNotesContext]:
    """Return the async DataManager of the notes domain (Starlette); use ``async with``."""
    dm = DataManager(dal_class=AsyncNotesDal, context_class=AsyncNotesContext)
    dm.register_resources(db=AsyncConnectionResource(make_async_engine(url, pool_size)))
    dm.register_context_middleware(*_middleware(AsyncTransactionMiddleware("db"), after_write))
    dm.register_services(users=AsyncUsers(), notes=AsyncNotes(after_write))
    return dm


def _middleware(transaction: Any, after_write: AfterWrite | None) -> list[Any]:
    if after_write is None:  # nothing is sent: no need for Celery at all
        return [transaction]
    from polydatum.contrib.celery import OnCommitMiddleware  # the celery extra

    # First, so that its teardown (sending the tasks) runs after the commit.
    return [OnCommitMiddleware(), transaction]


def user_meta(dal: NotesDal, authorization: str | None) -> dict[str, lazy]:
    """Return a request's meta: ``user``, loaded from its token when a service first reads it.

    The lookup runs in the request's context, on its connection and in its
    transaction; a request that never reads ``meta.user`` never looks it up.
    """
    return {"user": lazy(lambda: dal.users.authenticate(authorization))}


def async_user_meta(dal: AsyncNotesDal, authorization: str | None) -> dict[str, lazy]:
    """Async twin of :func:`user_meta`: services read ``await self._ctx.meta.aget("user")``."""

    def refuse() -> User:
        raise RuntimeError('Async services read the user with await self._ctx.meta.aget("user").')

    async def load() -> User:
        return await dal.users.authenticate(authorization)

    return {"user": lazy(refuse, load)}


def prepare_database(url: str) -> None:
    """Create the tables that do not exist yet."""
    engine = make_engine(url)
    try:
        create_schema(engine)
    finally:
        engine.dispose()


def issue_token(url: str, name: str) -> str:
    """Return a new API token for user ``name`` (created if needed), outside any request."""
    dm = build_data_manager(url)
    try:
        with dm.dal() as dal:
            token = dal.users.issue_token(name)
    finally:
        dm.get_resource("db").engine.dispose()  # type: ignore[union-attr]
    return token
