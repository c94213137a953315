"""Sending tasks once the context committed (see ``polydatum.contrib.celery``)."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Generator
from contextvars import ContextVar
from typing import Any

from polydatum.context import Context
from polydatum.errors import MiddlewareSetupException

from ._sql_transaction import AsyncTransactionMiddleware, TransactionMiddleware

__all__ = ["OnCommitMiddleware", "pending_sends"]

_Send = Callable[[], Any]
_PENDING: ContextVar[list[_Send] | None] = ContextVar("polydatum_celery_on_commit", default=None)


def pending_sends() -> list[_Send] | None:
    """Return the sends waiting for the innermost OnCommitMiddleware's context, or None."""
    return _PENDING.get()


class OnCommitMiddleware:
    """Context middleware: tasks queued with ``delay_on_commit`` go out after the commit.

    A task sent with ``delay()`` inside a context can reach a worker before
    the context commits, and then not find the rows it was sent about. Tasks
    sent with ``delay_on_commit()`` / ``apply_async_on_commit()`` wait until
    the context ended cleanly and are dropped when it ends with an exception.

    Register it *before* the transaction middleware, so that its teardown runs
    after the commit::

        dm.register_context_middleware(OnCommitMiddleware(), TransactionMiddleware("db"))

    Raises (when a context opens):
        MiddlewareSetupException: it is registered after a TransactionMiddleware.
    """

    __slots__ = ("__weakref__", "_checked")

    def __init__(self) -> None:
        self._checked: weakref.WeakSet[Any] = weakref.WeakSet()

    def __call__(self, context: Context[Any, Any]) -> Generator[None, None, None]:
        """Collect the context's on-commit sends; send them once it ended cleanly."""
        dm = context.data_manager
        if dm not in self._checked:
            self._check_order(context)
            self._checked.add(dm)
        pending: list[_Send] = []
        token = _PENDING.set(pending)
        try:
            yield
        finally:
            try:
                _PENDING.reset(token)
            except ValueError:
                # Closed from another contextvars.Context (a thread pool's copy).
                if _PENDING.get() is pending:
                    _PENDING.set(None)
        # Reached only when the context ended cleanly: an exception thrown in at
        # the yield (the body's, or a failed commit) leaves through the finally.
        for send in pending:
            send()

    def _check_order(self, context: Context[Any, Any]) -> None:
        chain = list(context.data_manager.get_middleware(context))
        mine = chain.index(self) if self in chain else len(chain)
        for earlier in chain[:mine]:
            if isinstance(earlier, TransactionMiddleware | AsyncTransactionMiddleware):
                raise MiddlewareSetupException(
                    f"OnCommitMiddleware is registered after {earlier!r}, so it would send "
                    "tasks before the commit. Register it first: dm.register_context_middleware("
                    'OnCommitMiddleware(), TransactionMiddleware("db")).'
                )

    def __repr__(self) -> str:
        return "OnCommitMiddleware()"
