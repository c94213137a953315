"""Settings the example apps share, read from the environment when a server starts a worker.

One DataManager per process (cached): the web app's requests and the
``count_words`` task class (``example_apps.tasks``) must share it, so that a
task sent from a request finds the request's context and user.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any, TypeVar

from polydatum import DataManager

from .notes import User, build_async_data_manager, build_data_manager
from .notes.async_services import AsyncNotesContext, AsyncNotesDal
from .notes.services import NotesContext, NotesDal

__all__ = [
    "CELERY_BROKER_URL_ENV",
    "CELERY_QUEUE_ENV",
    "DATABASE_POOL_SIZE_ENV",
    "DATABASE_URL_ENV",
    "DEFAULT_CELERY_QUEUE",
    "DEFAULT_DATABASE_URL",
    "TEST_HOOKS_ENV",
    "async_data_manager",
    "broker_url",
    "celery_queue",
    "data_manager",
    "database_pool_size",
    "database_url",
    "with_test_hooks",
]

#: Points every app at a database, e.g. ``postgresql://user:password@host/db``.
DATABASE_URL_ENV = "DATABASE_URL"
#: A SQLite file in the working directory.
DEFAULT_DATABASE_URL = "sqlite:///notes.sqlite3"
#: Connections each process's pool keeps open, e.g. ``8``; unset: SQLAlchemy's default, 5.
DATABASE_POOL_SIZE_ENV = "DATABASE_POOL_SIZE"
#: A Celery broker, e.g. ``redis://127.0.0.1:6379/0``; unset: notes are not counted.
CELERY_BROKER_URL_ENV = "CELERY_BROKER_URL"
#: The queue the apps send ``count_words`` to and the worker reads.
CELERY_QUEUE_ENV = "NOTES_CELERY_QUEUE"
DEFAULT_CELERY_QUEUE = "notes"
#: Test-only: ``1`` installs ``example_apps._test_hooks`` (the end-to-end tests set it).
TEST_HOOKS_ENV = "NOTES_TEST_HOOKS"


def database_url(default: str = DEFAULT_DATABASE_URL) -> str:
    """Return ``$DATABASE_URL``, or ``default`` (the notes app's SQLite file)."""
    return os.environ.get(DATABASE_URL_ENV) or default


def database_pool_size() -> int | None:
    """Return ``$DATABASE_POOL_SIZE``, or None (SQLAlchemy's default pool size, 5).

    Give it the number of requests a process serves at once (uvicorn serves
    every open connection's request at once): a request over the pool size
    opens a connection of its own and closes it afterwards.

    Raises:
        ValueError: the variable is set but not a whole number of at least 1.
    """
    value = os.environ.get(DATABASE_POOL_SIZE_ENV, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(
            f"${DATABASE_POOL_SIZE_ENV} must be a whole number of at least 1, got {value!r}."
        )
    return int(value)


def broker_url() -> str | None:
    """Return ``$CELERY_BROKER_URL``, or None: then no task is sent and ``words`` stays null."""
    return os.environ.get(CELERY_BROKER_URL_ENV) or None


def celery_queue() -> str:
    """Return ``$NOTES_CELERY_QUEUE``, or ``notes``."""
    return os.environ.get(CELERY_QUEUE_ENV) or DEFAULT_CELERY_QUEUE


@cache
def data_manager() -> DataManager[NotesDal, NotesContext]:
    """Return this process's sync DataManager for ``database_url()`` (Flask, Django, worker)."""
    after_write = _count_words_later if broker_url() else None
    return with_test_hooks(build_data_manager(database_url(), after_write, database_pool_size()))


@cache
def async_data_manager() -> DataManager[AsyncNotesDal, AsyncNotesContext]:
    """Return this process's async DataManager for ``database_url()`` (Starlette)."""
    after_write = _acount_words_later if broker_url() else None
    dm = build_async_data_manager(database_url(), after_write, database_pool_size())
    return with_test_hooks(dm)


def _count_words_later(note_id: int, owner: User) -> None:
    # Imported on first use: tasks.py builds its task class on data_manager().
    from .tasks import count_words

    # The task carries the request's user (meta.user) by itself.
    count_words.delay_on_commit(note_id)


def _acount_words_later(note_id: int, owner: User) -> None:
    from polydatum.contrib.celery import USER_HEADER

    from .tasks import count_words

    # The task runs on the sync DataManager, which has no context in an async
    # request to read the user from: name it. It still waits for this
    # request's commit (its OnCommitMiddleware). Sending is one short
    # blocking round trip to the broker, on the event loop, after the commit.
    count_words.apply_async_on_commit((note_id,), headers={USER_HEADER: owner.id})


#: A DataManager of either kind.
DM = TypeVar("DM", bound=DataManager[Any, Any])


def with_test_hooks(dm: DM) -> DM:
    """Return ``dm``, with ``example_apps._test_hooks`` installed when ``$NOTES_TEST_HOOKS=1``."""
    if os.environ.get(TEST_HOOKS_ENV) == "1":  # never set outside the test suite
        from . import _test_hooks

        _test_hooks.install(dm)
    return dm
