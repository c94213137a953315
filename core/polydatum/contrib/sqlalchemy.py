"""SQLAlchemy for polydatum: one pooled connection per context, one transaction per context.

Register a resource that checks a connection out of an engine's pool the first
time a service asks for it, and a middleware that commits it when the context
ends cleanly and rolls it back when the context ends with an exception::

    dm.register_resources(db=ConnectionResource(engine))
    dm.register_context_middleware(TransactionMiddleware("db"))

With an ``AsyncEngine`` use ``AsyncConnectionResource`` and
``AsyncTransactionMiddleware`` and reach the connection with
``await ctx.aget("db")``. ``SessionResource`` / ``AsyncSessionResource`` give an
ORM ``Session`` instead; the same middleware drives both. The commit runs in the
middleware, not in a resource's teardown, so a failing commit propagates (a web
plugin answers 500) instead of being collected as a teardown error.
"""

from __future__ import annotations

from ._sql_resources import (
    AsyncConnectionResource,
    AsyncSessionResource,
    ConnectionResource,
    SessionResource,
)
from ._sql_transaction import AsyncTransactionMiddleware, TransactionMiddleware

__all__ = [
    "AsyncConnectionResource",
    "AsyncSessionResource",
    "AsyncTransactionMiddleware",
    "ConnectionResource",
    "SessionResource",
    "TransactionMiddleware",
]
