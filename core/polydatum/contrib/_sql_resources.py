"""Per-context SQLAlchemy connections and sessions (see ``polydatum.contrib.sqlalchemy``)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from polydatum.util import describe

if TYPE_CHECKING:
    from polydatum.context import Context

__all__ = [
    "AsyncConnectionResource",
    "AsyncSessionResource",
    "ConnectionResource",
    "SessionResource",
]


class ConnectionResource:
    """Check a ``Connection`` out of ``engine``'s pool for the context; return it at teardown.

    The connection is checked out on first access only, so a context that
    never touches the database never takes one from the pool. Nothing is
    committed by the resource: register :class:`TransactionMiddleware` for
    that (or commit in your services). Closing returns the connection to the
    pool and rolls back whatever was not committed.

    Raises:
        TypeError: ``engine`` is not a sync ``Engine``.
    """

    __slots__ = ("engine",)

    def __init__(self, engine: Engine) -> None:
        if not isinstance(engine, Engine):
            raise TypeError(
                "ConnectionResource needs a sqlalchemy Engine (create_engine(url); use "
                f"AsyncConnectionResource for an AsyncEngine); got {describe(engine)}."
            )
        self.engine = engine

    def __call__(self, context: Context[Any, Any]) -> Generator[Connection, None, None]:
        """Yield a pooled connection for ``context``, then close it."""
        with self.engine.connect() as connection:
            yield connection


class SessionResource:
    """Open an ORM ``Session`` for the context and close it at teardown.

    ``bind`` is an ``Engine`` (a plain ``Session`` with ``expire_on_commit=False``,
    since the session closes right after the commit and loaded objects stay
    readable) or a ``sessionmaker`` / any callable returning a ``Session``.
    The session takes a connection from the pool only when it first runs SQL.

    Raises:
        TypeError: ``bind`` is neither an ``Engine`` nor a session factory.
    """

    __slots__ = ("_factory", "bind")

    def __init__(self, bind: Engine | Callable[[], Session]) -> None:
        self.bind = bind
        if isinstance(bind, Engine):
            self._factory: Callable[[], Session] = partial(Session, bind, expire_on_commit=False)
        elif callable(bind) and not isinstance(bind, AsyncEngine | async_sessionmaker):
            self._factory = bind
        else:
            raise TypeError(
                "SessionResource needs a sqlalchemy Engine or a sessionmaker "
                f"(use AsyncSessionResource for async ones); got {describe(bind)}."
            )

    def __call__(self, context: Context[Any, Any]) -> Generator[Session, None, None]:
        """Yield a session for ``context``, then close it."""
        with self._factory() as session:
            yield session


class AsyncConnectionResource:
    """Async twin of :class:`ConnectionResource` for an ``AsyncEngine``.

    Reach it with ``conn = await ctx.aget("db")`` in an ``async with`` context.
    Closing survives cancellation of the task, so a cancelled request still
    returns its connection to the pool.

    Raises:
        TypeError: ``engine`` is not an ``AsyncEngine``.
    """

    __slots__ = ("engine",)

    def __init__(self, engine: AsyncEngine) -> None:
        if not isinstance(engine, AsyncEngine):
            raise TypeError(
                "AsyncConnectionResource needs a sqlalchemy AsyncEngine "
                f"(create_async_engine(url)); got {describe(engine)}."
            )
        self.engine = engine

    async def __call__(self, context: Context[Any, Any]) -> AsyncGenerator[AsyncConnection, None]:
        """Yield a pooled async connection for ``context``, then close it."""
        async with self.engine.connect() as connection:
            yield connection


class AsyncSessionResource:
    """Async twin of :class:`SessionResource`: an ``AsyncSession`` per context.

    ``bind`` is an ``AsyncEngine`` (``expire_on_commit=False``) or an
    ``async_sessionmaker`` / any callable returning an ``AsyncSession``.

    Raises:
        TypeError: ``bind`` is neither an ``AsyncEngine`` nor a session factory.
    """

    __slots__ = ("_factory", "bind")

    def __init__(self, bind: AsyncEngine | Callable[[], AsyncSession]) -> None:
        self.bind = bind
        if isinstance(bind, AsyncEngine):
            self._factory: Callable[[], AsyncSession] = partial(
                AsyncSession, bind, expire_on_commit=False
            )
        elif callable(bind) and not isinstance(bind, Engine | sessionmaker):
            self._factory = bind
        else:
            raise TypeError(
                "AsyncSessionResource needs a sqlalchemy AsyncEngine or an async_sessionmaker "
                f"(use SessionResource for sync ones); got {describe(bind)}."
            )

    async def __call__(self, context: Context[Any, Any]) -> AsyncGenerator[AsyncSession, None]:
        """Yield an async session for ``context``, then close it."""
        async with self._factory() as session:
            yield session
