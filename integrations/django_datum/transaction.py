"""``AtomicMiddleware``: one ``transaction.atomic`` per data context (context middleware).

The Django ORM counterpart of ``ATOMIC_REQUESTS`` that also works with async
views::

    dm.register_context_middleware(AtomicMiddleware(using="default"))

The transaction commits when the context closes without an exception and
rolls back when the view (or a service) raised, Http404 and PermissionDenied
included. A failing commit raises out of the close, which ``DatumMiddleware``
turns into Django's 500 response.

Threads: Django's database connections belong to a thread. In a sync context
(WSGI, management commands) the transaction is opened in the calling thread.
In an async context (ASGI) it is opened through ``sync_to_async`` with
``thread_sensitive=True``, i.e. in the request's sync thread: sync views and
Django's async ORM methods (``aget``, ``acreate``... which use that thread
too) run inside it; work done in another thread (``thread_sensitive=False``,
your own executors) or on another connection is outside it.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator, Generator
from typing import Any

from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS, transaction
from polydatum import Context

__all__ = ["AtomicMiddleware"]


class AtomicMiddleware:
    """Context middleware: run each data context in ``transaction.atomic(using)``.

    Args:
        using: the database alias (``DATABASES`` key) the transaction runs on.
        durable: passed to ``transaction.atomic`` (refuse to nest in an outer atomic).
    """

    __slots__ = ("durable", "using")

    def __init__(self, using: str = DEFAULT_DB_ALIAS, *, durable: bool = False) -> None:
        self.using = using
        self.durable = durable

    def __repr__(self) -> str:
        return f"AtomicMiddleware(using={self.using!r})"

    def __call__(self, context: Context[Any, Any]) -> Generator[None, None, None]:
        """Sync contexts: the transaction runs in the calling thread."""
        atomic = transaction.atomic(using=self.using, durable=self.durable)
        atomic.__enter__()
        try:
            yield
        except BaseException:
            atomic.__exit__(*sys.exc_info())
            raise
        atomic.__exit__(None, None, None)

    async def acall(self, context: Context[Any, Any]) -> AsyncGenerator[None, None]:
        """Async contexts: the transaction runs in the request's sync thread."""
        atomic = transaction.atomic(using=self.using, durable=self.durable)
        await sync_to_async(atomic.__enter__, thread_sensitive=True)()
        try:
            yield
        except BaseException:
            await sync_to_async(atomic.__exit__, thread_sensitive=True)(*sys.exc_info())
            raise
        await sync_to_async(atomic.__exit__, thread_sensitive=True)(None, None, None)
