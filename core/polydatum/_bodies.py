"""The streamed bodies RequestScope.iterate / aiterate return."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .lifecycle import RequestScope

__all__: list[str] = []


class _ScopedBody:
    """The iterator :meth:`RequestScope.iterate` returns (a class, so ``close`` always runs)."""

    __slots__ = ("_done", "_ended", "_iterator", "_scope")

    def __init__(self, scope: RequestScope, body: Iterable[Any]) -> None:
        self._scope = scope
        self._iterator = iter(body)
        self._done = False
        self._ended = False

    def __iter__(self) -> _ScopedBody:
        return self

    def __next__(self) -> Any:
        if self._done:
            raise StopIteration
        ctx = self._scope.context
        token = ctx._activate()
        try:
            chunk = next(self._iterator)
        except StopIteration:
            ctx._deactivate(token)
            self._ended = True
            error = self._close()
            if error is not None:
                # The last chunk went out but the context failed to close (a commit): the
                # server must drop the connection, not end the body as if all went well.
                raise error from None
            raise
        except BaseException as exc:
            ctx._deactivate(token)
            self._ended = True
            self._scope.record(exc)
            self.close()
            raise
        ctx._deactivate(token)
        return chunk

    def close(self) -> None:
        """Close the body (with the context active), then the scope; later calls do nothing."""
        self._close()

    def _close(self) -> BaseException | None:
        """Close once; return (after logging it) an error raised by closing the scope."""
        if self._done:
            return None
        self._done = True
        scope = self._scope
        if not self._ended:
            # Closed early (client gone, HEAD): the body was not delivered in full.
            scope.record(GeneratorExit())
        close = getattr(self._iterator, "close", None)
        try:
            if close is not None:
                token = scope.context._activate()
                try:
                    close()
                finally:
                    scope.context._deactivate(token)
        finally:
            error = scope.close_quietly()
        return error


class _AsyncScopedBody:
    """The async iterator :meth:`RequestScope.aiterate` returns."""

    __slots__ = ("_done", "_ended", "_iterator", "_scope")

    def __init__(self, scope: RequestScope, body: AsyncIterable[Any]) -> None:
        self._scope = scope
        self._iterator = aiter(body)
        self._done = False
        self._ended = False

    def __aiter__(self) -> _AsyncScopedBody:
        return self

    async def __anext__(self) -> Any:
        if self._done:
            raise StopAsyncIteration
        ctx = self._scope.context
        token = ctx._activate()
        try:
            chunk = await anext(self._iterator)
        except StopAsyncIteration:
            ctx._deactivate(token)
            self._ended = True
            error = await self._aclose()
            if error is not None:
                # As in the sync body: a failed commit must not end the body cleanly.
                raise error from None
            raise
        except BaseException as exc:
            ctx._deactivate(token)
            self._ended = True
            self._scope.record(exc)
            await self.aclose()
            raise
        ctx._deactivate(token)
        return chunk

    async def aclose(self) -> None:
        """Close the body (with the context active), then the scope; later calls do nothing."""
        await self._aclose()

    async def _aclose(self) -> BaseException | None:
        """Close once; return (after logging it) an error raised by closing the scope."""
        if self._done:
            return None
        self._done = True
        scope = self._scope
        if not self._ended:
            # Closed early (client gone): the body was not delivered in full.
            scope.record(GeneratorExit())
        aclose = getattr(self._iterator, "aclose", None)
        try:
            if aclose is not None:
                token = scope.context._activate()
                try:
                    await aclose()
                finally:
                    scope.context._deactivate(token)
        finally:
            error = await scope.aclose_quietly()
        return error
