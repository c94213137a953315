"""The steps every context goes through: its states, and closing its generators."""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator, Generator
from typing import Any

_MISSING: Any = object()
_Gen = Generator[Any, None, None] | AsyncGenerator[Any, None]

# Context states
# A context is live (resources may be set up) in every state from _ACTIVE on;
# _AACTIVE: live and something async was set up, so closing must await.
_CREATED, _EXITING, _EXITED, _ACTIVE, _AACTIVE = range(5)
_STATE_NAMES = ("created", "exiting", "exited", "active", "active")


def _twice(gen: Generator[Any, None, None]) -> RuntimeError:
    gen.close()
    return RuntimeError(f"{gen} yielded more than once.")


def _finish_sync(gen: Generator[Any, None, None], exc: BaseException | None) -> bool:
    """Resume a set-up generator after the context; True if it suppressed ``exc``."""
    if exc is None:
        for _ in gen:
            raise _twice(gen)
        return False
    try:
        gen.throw(exc)
    except StopIteration as stop:
        # Suppressed, unless a StopIteration raised in the context came back.
        return stop is not exc
    except BaseException as err:
        if err is not exc:
            raise
        return False
    gen.close()
    raise RuntimeError(f"{gen} did not stop after throw().")


async def _finish_async(gen: AsyncGenerator[Any, None], exc: BaseException | None) -> bool:
    """Async twin of :func:`_finish_sync`."""
    if getattr(gen, "ag_frame", gen) is None:
        # Already finished: the event loop it ran in closed it when that loop shut down
        # (an async view's own loop under WSGI).
        return False
    if exc is None:
        try:
            await gen.__anext__()
        except StopAsyncIteration:
            return False
        await gen.aclose()
        raise RuntimeError(f"{gen} yielded more than once.")
    try:
        await gen.athrow(exc)
    except StopAsyncIteration as stop:
        return stop is not exc
    except BaseException as err:
        if err is not exc:
            raise
        return False
    await gen.aclose()
    raise RuntimeError(f"{gen} did not stop after athrow().")


def _entered_shield() -> Any:
    """Enter and return a cancel scope shielding async cleanup, when anyio is in use."""
    anyio = sys.modules.get("anyio")
    if anyio is None:
        return None
    scope = anyio.CancelScope(shield=True)
    scope.__enter__()
    return scope
