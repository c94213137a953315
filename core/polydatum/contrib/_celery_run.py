"""Running a task body inside its context (see ``polydatum.contrib.celery``)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celery.exceptions import Ignore, Reject, Retry
from celery.utils.time import get_exponential_backoff_interval

from polydatum.lifecycle import RequestScope

if TYPE_CHECKING:
    from celery import Task

    from polydatum.dal import DataManager

__all__ = ["apply_retry_policy", "has_async_body", "run_async"]


def has_async_body(task: Task[Any, Any]) -> bool:
    """Return True when the task's body is a coroutine function (checked once per task class)."""
    cls = type(task)
    cached: bool | None = cls.__dict__.get("_datum_async_body")
    if cached is None:
        # autoretry_for wraps ``run`` and keeps the body under ``_orig_run``.
        body = getattr(task, "_orig_run", None) or task.run
        cached = inspect.iscoroutinefunction(body)
        cls._datum_async_body = cached  # type: ignore[attr-defined]
    return cached


def apply_retry_policy(task: Task[Any, Any], exc: Exception) -> None:
    """Retry ``task`` for ``exc`` as its ``autoretry_for`` policy says; return if it does not apply.

    Celery applies the policy to what the body raises only; an error raised
    while closing the context (a failed commit) or by an async body comes
    after that, so it gets the same treatment here: same options, same backoff.

    Raises:
        Retry: the task was sent again.
        Exception: ``exc`` itself, once the task is out of retries.
    """
    autoretry_for = tuple(getattr(task, "autoretry_for", ()))
    if not autoretry_for or isinstance(exc, Ignore | Retry | Reject):
        return
    if isinstance(exc, tuple(getattr(task, "dont_autoretry_for", ()))):
        return
    if not isinstance(exc, autoretry_for):
        return
    options = dict(getattr(task, "retry_kwargs", {}))
    backoff = float(getattr(task, "retry_backoff", False))
    if backoff:
        options["countdown"] = get_exponential_backoff_interval(
            factor=int(max(1.0, backoff)),
            retries=task.request.retries,
            maximum=int(getattr(task, "retry_backoff_max", 600)),
            full_jitter=getattr(task, "retry_jitter", True),
        )
    raise task.retry(exc=exc, **options)


def run_async(
    task: Task[Any, Any],
    data_manager: DataManager[Any, Any],
    meta: dict[str, Any],
    body: Callable[[], Any],
) -> Any:
    """Run an async body with ``asyncio.run`` inside an async context of ``data_manager``.

    Raises:
        RuntimeError: an event loop is already running in this thread (an
            eager task called from async code): ``asyncio.run`` can not nest.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            f"Task {task.name} has an async body, which runs in its own event loop "
            "(asyncio.run); it can not be called from code already running in one. Send it "
            "to a worker, or call it from sync code (task_always_eager from an async view "
            "hits this)."
        )
    return asyncio.run(_in_context(data_manager, meta, body))


async def _in_context(
    data_manager: DataManager[Any, Any], meta: dict[str, Any], body: Callable[[], Any]
) -> Any:
    scope = RequestScope(data_manager, meta)
    await scope.aopen()
    try:
        result = await body()
    except BaseException as exc:
        await scope.aclose(exc)
        raise
    await scope.aclose()
    return result
