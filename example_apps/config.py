"""Settings the three apps share, read from the environment when a server starts a worker."""

from __future__ import annotations

import os

from polydatum import DataManager

from .notes import build_async_data_manager, build_data_manager

__all__ = [
    "DATABASE_URL_ENV",
    "DEFAULT_DATABASE_URL",
    "TEST_HOOKS_ENV",
    "async_data_manager",
    "data_manager",
    "database_url",
]

#: Points every app at a database, e.g. ``postgresql://user:password@host/db``.
DATABASE_URL_ENV = "DATABASE_URL"
#: A SQLite file in the working directory.
DEFAULT_DATABASE_URL = "sqlite:///notes.sqlite3"
#: Test-only: ``1`` installs ``example_apps._test_hooks`` (the end-to-end tests set it).
TEST_HOOKS_ENV = "NOTES_TEST_HOOKS"


def database_url() -> str:
    """Return ``$DATABASE_URL``, or the SQLite default."""
    return os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


def data_manager() -> DataManager:
    """Return the sync DataManager for ``database_url()`` (Flask, Django)."""
    return _with_test_hooks(build_data_manager(database_url()))


def async_data_manager() -> DataManager:
    """Return the async DataManager for ``database_url()`` (Starlette)."""
    return _with_test_hooks(build_async_data_manager(database_url()))


def _with_test_hooks(dm: DataManager) -> DataManager:
    if os.environ.get(TEST_HOOKS_ENV) == "1":  # never set outside the test suite
        from . import _test_hooks

        _test_hooks.install(dm)
    return dm
