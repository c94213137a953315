"""One transaction per context (see ``polydatum.contrib.sqlalchemy``)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncGenerator, Generator
from typing import TYPE_CHECKING, Any

from polydatum.context import DataAccessContext
from polydatum.errors import MiddlewareSetupException
from polydatum.util import describe, is_async_generator

if TYPE_CHECKING:
    from polydatum.context import Context
    from polydatum.resources import ResourceFactory

__all__ = ["AsyncTransactionMiddleware", "TransactionMiddleware"]

logger = logging.getLogger("polydatum")

_UNCHECKED = object()

# Names a resource can not take: ``ctx.<name>`` would find these first.
_RESERVED = frozenset(dir(DataAccessContext)) | {"data_manager", "dal", "meta"}


def _check_name(owner: str, name: object) -> str:
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise ValueError(
            f"{owner} needs the name of a resource (a Python identifier not starting "
            f'with "_"), e.g. {owner}("db"); got {name!r}.'
        )
    if name in _RESERVED:
        raise ValueError(
            f"{owner}({name!r}): {name!r} is an attribute of every context, so a resource "
            'of that name can not be reached; register the resource under another name ("db").'
        )
    return name


def _check_resource(
    owner: str, name: str, factory: ResourceFactory[Any] | None, is_async: bool
) -> None:
    """Fail the context's setup when the resource is missing or of the other flavour."""
    if factory is None:
        example = "AsyncConnectionResource(engine)" if is_async else "ConnectionResource(engine)"
        raise MiddlewareSetupException(
            f"{owner}({name!r}) needs a resource named {name!r}, and none is registered; "
            f"register one: dm.register_resources({name}={example})."
        )
    if is_async_generator(factory) != is_async:
        if is_async:
            fix = f"use TransactionMiddleware({name!r}), which also works in async contexts"
        else:
            fix = f"use AsyncTransactionMiddleware({name!r}) with it"
        flavour = "sync" if is_async else "async"
        raise MiddlewareSetupException(
            f"{owner}({name!r}): resource {name!r} ({describe(factory)}) is {flavour}; {fix}."
        )


# After a failed commit or rollback the connection's state is unknown (SQLite
# keeps the transaction open after a failed COMMIT while SQLAlchemy considers
# it ended), so it is discarded instead of going back to the pool.


def _discard(unit: Any, name: str) -> None:
    invalidate = getattr(unit, "invalidate", None)
    if invalidate is not None:
        try:
            invalidate()
        except Exception:
            logger.warning("Discarding the connection of resource %r failed", name, exc_info=True)


async def _adiscard(unit: Any, name: str) -> None:
    invalidate = getattr(unit, "invalidate", None)
    if invalidate is not None:
        try:
            result = invalidate()
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.warning("Discarding the connection of resource %r failed", name, exc_info=True)


def _rollback_failed(name: str) -> None:
    # The context's own exception matters more than a failed rollback (often
    # the same broken connection): log this one and let the other propagate.
    logger.warning("Rolling back resource %r failed", name, exc_info=True)


class TransactionMiddleware:
    """Make each context one transaction on the resource ``name`` (default ``"db"``).

    When the context ends cleanly the resource is committed, and a failing
    commit propagates out of the context; when it ends with an exception
    (raised in the context or by middleware registered after this one) it is
    rolled back and the exception propagates. A context that never set the
    resource up costs nothing: no connection, no BEGIN. Register it before
    other middleware so their failures roll the transaction back too.

    The resource may be anything with ``commit()`` and ``rollback()``: a
    ``ConnectionResource``, a ``SessionResource`` or your own. Works in
    ``with`` and ``async with`` contexts.

    Raises:
        ValueError: ``name`` can not name a resource.
        MiddlewareSetupException: (when a context opens) no resource ``name`` is
            registered, or it is async (use :class:`AsyncTransactionMiddleware`).
    """

    __slots__ = ("_checked", "name")

    def __init__(self, name: str = "db") -> None:
        self.name = _check_name(type(self).__name__, name)
        self._checked: object = _UNCHECKED

    def __call__(self, context: Context[Any, Any]) -> Generator[None, None, None]:
        """Commit or roll back the resource after ``context``, if it was set up."""
        name = self.name
        factory = context.data_manager.get_resource(name)
        if factory is not self._checked:
            _check_resource(type(self).__name__, name, factory, False)
            self._checked = factory
        try:
            yield
        except BaseException:
            if name in context:
                unit = getattr(context, name)
                try:
                    unit.rollback()
                except Exception:
                    _rollback_failed(name)
                    _discard(unit, name)
            raise
        if name in context:
            unit = getattr(context, name)
            try:
                unit.commit()
            except BaseException:
                _discard(unit, name)
                raise

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class AsyncTransactionMiddleware:
    """Async twin of :class:`TransactionMiddleware` for async resources.

    Commits or rolls back with ``await``, for an ``AsyncConnectionResource``,
    an ``AsyncSessionResource`` or your own async resource whose value has
    awaitable ``commit()`` and ``rollback()``. Needs an ``async with`` context.
    A cancelled context is rolled back and the cancellation goes on.

    Raises:
        ValueError: ``name`` can not name a resource.
        MiddlewareSetupException: (when a context opens) no resource ``name`` is
            registered, or it is sync (use :class:`TransactionMiddleware`).
    """

    __slots__ = ("_checked", "name")

    def __init__(self, name: str = "db") -> None:
        self.name = _check_name(type(self).__name__, name)
        self._checked: object = _UNCHECKED

    async def __call__(self, context: Context[Any, Any]) -> AsyncGenerator[None, None]:
        """Commit or roll back the resource after ``context``, if it was set up."""
        name = self.name
        factory = context.data_manager.get_resource(name)
        if factory is not self._checked:
            _check_resource(type(self).__name__, name, factory, True)
            self._checked = factory
        try:
            yield
        except BaseException:
            if name in context:
                unit = getattr(context, name)
                try:
                    await unit.rollback()
                except Exception:
                    _rollback_failed(name)
                    await _adiscard(unit, name)
            raise
        if name in context:
            unit = getattr(context, name)
            try:
                await unit.commit()
            except BaseException:
                await _adiscard(unit, name)
                raise

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
