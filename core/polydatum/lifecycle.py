"""The per-request lifecycle every web plugin shares.

A plugin creates one :class:`RequestScope` per request, opens it before the
view runs, records the view's exception (even when the framework turns it
into a response), closes it *before the response leaves* (a failed commit
then becomes a 500) and, for a streamed body, wraps the body so each chunk
runs with the context active and the scope closes when the body ends.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Iterable, Iterator, Mapping
from typing import Any

from ._bodies import _AsyncScopedBody, _ScopedBody
from ._steps import _AACTIVE
from .context import DataAccessContext, Meta
from .dal import DataManager
from .errors import ServiceError
from .meta import SOURCE, new_meta

__all__ = ["SOURCE", "RequestScope", "status_for"]

logger = logging.getLogger("polydatum")


async def _closed() -> None:
    """What aclose() gives once the scope is closed already."""


def status_for(exc: BaseException) -> int | None:
    """Return the HTTP status of a ``ServiceError`` (its ``code``), else None."""
    if isinstance(exc, ServiceError):
        code = getattr(exc, "code", 500)
        return code if isinstance(code, int) and 400 <= code <= 599 else 500
    return None


class RequestScope:
    """One request's data context, from open to a single close.

    ``close``/``aclose`` run once; later calls do nothing. They raise only an
    error that closing itself produced (a commit failing in middleware), never
    the recorded exception of the view, which the framework already handled.
    """

    __slots__ = ("closed", "context", "exception")

    def __init__(
        self,
        data_manager: DataManager[Any, Any],
        meta: Mapping[str, Any] | Meta | None,
        lazy_meta: dict[str, Any] | None = None,
        loaders: Mapping[str, Any] | None = None,
        source: Any = None,
    ) -> None:
        """Create the request's context with ``meta``.

        ``lazy_meta`` holds entries computed on first read (the user, say):
        each a :class:`~polydatum.lazy` or a plain zero-argument callable.
        Passing them apart saves looking for them in ``meta``. The scope takes
        both dicts over. ``loaders`` and ``source`` go to
        ``DataManager.context`` (loaders shared by every request, called with
        the source on first read; ``meta`` then a dict of plain values).
        """
        if lazy_meta:
            meta = new_meta(meta, lazy_meta)  # type: ignore[arg-type]
        # Positional: keyword arguments cost a little more, on every request.
        self.context: DataAccessContext = data_manager.context(meta, loaders, source)
        self.exception: BaseException | None = None
        #: True once the context has been closed (or closing has started); read only.
        self.closed = False

    @property
    def awaits(self) -> bool:
        """True when closing must await: an async middleware or resource was set up."""
        return self.context._state == _AACTIVE

    def open(self) -> DataAccessContext:
        """Enter the context (sync)."""
        return self.context.__enter__()

    def aopen(self) -> Awaitable[DataAccessContext]:
        """Enter the context (async): ``await scope.aopen()``."""
        return self.context.__aenter__()

    def record(self, exc: BaseException) -> None:
        """Remember the first exception of the request; it is thrown into the context at close."""
        if self.exception is None:
            self.exception = exc

    def close(self, exc: BaseException | None = None) -> None:
        """Close the context once, with the recorded (or given) exception.

        Raises:
            BaseException: an error raised while closing (e.g. a failed commit).
        """
        if self.closed:
            return
        self.closed = True
        if exc is not None:
            self.record(exc)
        error = self.exception
        # __exit__ lets the exception it was given pass without raising it, and
        # raises only an error of its own (a failed commit): what close promises.
        if error is None:
            self.context.__exit__(None, None, None)
        else:
            self.context.__exit__(type(error), error, error.__traceback__)

    def aclose(self, exc: BaseException | None = None) -> Awaitable[Any]:
        """Async twin of :meth:`close`: ``await scope.aclose()``."""
        if self.closed:
            return _closed()
        self.closed = True
        if exc is not None:
            self.record(exc)
        error = self.exception
        # __aexit__ lets the exception it was given pass without raising it, and
        # raises only an error of its own (a failed commit): what aclose promises.
        if error is None:
            return self.context.__aexit__(None, None, None)
        return self.context.__aexit__(type(error), error, error.__traceback__)

    def close_quietly(self, exc: BaseException | None = None) -> BaseException | None:
        """Close like :meth:`close`, but log and return an error instead of raising it.

        For cleanup paths that must not raise (teardown hooks, after the
        response started).
        """
        try:
            self.close(exc)
        except Exception as err:
            logger.error("Closing the data context failed (logged, not raised)", exc_info=err)
            return err
        return None

    async def aclose_quietly(self, exc: BaseException | None = None) -> BaseException | None:
        """Async twin of :meth:`close_quietly` (cancellation still propagates)."""
        try:
            await self.aclose(exc)
        except Exception as err:
            logger.error("Closing the data context failed (logged, not raised)", exc_info=err)
            return err
        return None

    def detach(self) -> None:
        """Leave the context open but inactive (the view returned; a body will stream)."""
        self.context._detach()

    def iterate(self, body: Iterable[Any]) -> Iterator[Any]:
        """Yield ``body``'s chunks with the context active; close once it ends, fails or closes.

        The result has a ``close()`` that also works before the first chunk
        (a server answering HEAD closes the body without reading it). A body
        closed before its end throws ``GeneratorExit`` into the context. When
        closing fails after the last chunk (a commit), the error is logged and
        raised by that final ``next()``, so the server drops the connection
        rather than end the body as if the write had been saved.
        """
        return _ScopedBody(self, body)

    def aiterate(self, body: AsyncIterable[Any]) -> AsyncIterator[Any]:
        """Async twin of :meth:`iterate`; its ``aclose()`` also works before the first chunk.

        A failed close after the last chunk is raised by the final ``__anext__``.
        """
        return _AsyncScopedBody(self, body)
