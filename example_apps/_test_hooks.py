"""TEST ONLY: failure injection, pool accounting and statement counting for tests and bench/.

Installed when ``NOTES_TEST_HOOKS=1`` (see ``config``); the example apps never
need it. It swaps the ``db`` resource for one whose commit fails when the
request carries ``X-Test-Fail-Commit: 1``, and prints, when the worker
process exits, how many connections its pool still has checked out.
``sent_statements(engine)`` collects the SQL an engine sends (in process).
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import AsyncGenerator, Generator, Iterator
from contextlib import contextmanager
from typing import Any

from polydatum import DataAccessContext, DataManager
from polydatum.contrib.sqlalchemy import AsyncConnectionResource, ConnectionResource
from sqlalchemy import Engine, event

__all__ = [
    "FAIL_COMMIT_HEADER",
    "POOL_REPORT",
    "InjectedCommitFailure",
    "install",
    "sent_statements",
]

FAIL_COMMIT_HEADER = "X-Test-Fail-Commit"
#: Printed to stderr at exit, followed by the pool's checked-out connection count.
POOL_REPORT = "notes-test-hooks: checked out at exit:"


class InjectedCommitFailure(RuntimeError):
    """The commit failure a test asked for."""


def _asked(ctx: DataAccessContext) -> bool:
    request = ctx.meta.request
    return request is not None and request.headers.get(FAIL_COMMIT_HEADER) == "1"


class _FailingCommit:
    """A connection whose commit fails; everything else goes to the real one."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    def commit(self) -> None:
        raise InjectedCommitFailure("commit failed on request")


class _AsyncFailingCommit(_FailingCommit):
    async def commit(self) -> None:  # type: ignore[override]
        raise InjectedCommitFailure("commit failed on request")


def install(dm: DataManager[Any, Any]) -> None:
    """Swap ``dm``'s ``db`` resource for the failing-commit one and report the pool at exit."""
    resource = dm.get_resource("db")
    if isinstance(resource, AsyncConnectionResource):
        engine: Any = resource.engine

        async def adb(ctx: DataAccessContext) -> AsyncGenerator[Any, None]:
            async with engine.connect() as connection:
                yield _AsyncFailingCommit(connection) if _asked(ctx) else connection

        dm.replace_resource("db", adb)
    elif isinstance(resource, ConnectionResource):
        engine = resource.engine

        def db(ctx: DataAccessContext) -> Generator[Any, None, None]:
            with engine.connect() as connection:
                yield _FailingCommit(connection) if _asked(ctx) else connection

        dm.replace_resource("db", db)
    else:
        raise TypeError(f"unexpected db resource {resource!r}")

    def report() -> None:
        # One write() per line: worker processes exiting together share the log
        # file, and print() writes a line in pieces that would interleave.
        sys.stderr.flush()
        os.write(sys.stderr.fileno(), f"{POOL_REPORT} {engine.pool.checkedout()}\n".encode())

    atexit.register(report)


@contextmanager
def sent_statements(engine: Engine) -> Iterator[list[str]]:
    """Collect the SQL of each statement ``engine`` sends while the block runs, from any thread.

    One entry per ``execute`` call on a DB-API cursor: an ``executemany`` counts
    once; BEGIN, COMMIT and ROLLBACK (DB-API calls, not statements) not at all.
    """
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)
