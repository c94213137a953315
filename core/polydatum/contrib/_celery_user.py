"""The user on whose behalf a Celery task runs (see ``polydatum.contrib.celery``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from polydatum.context import Meta, lazy
from polydatum.errors import PolydatumException
from polydatum.util import describe

__all__ = ["USER_HEADER", "USER_KEY", "USER_REF_KEY", "UserCodec", "UserReferenceError"]

#: The message header that carries the user reference from the enqueuing context.
USER_HEADER = "polydatum_user"
#: Meta key of the user (resolved lazily from the reference).
USER_KEY = "user"
#: Meta key of the reference itself (serialisable, read without loading the user).
USER_REF_KEY = "user_ref"

_SCALARS = (str, int, float, bool)


class UserReferenceError(PolydatumException, LookupError):
    """The user reference a task was enqueued with could not be resolved to a user."""


def _is_serialisable(value: Any) -> bool:
    """Return True for JSON-compatible data: scalars, lists and str-keyed dicts of them."""
    if value is None or isinstance(value, _SCALARS):
        return True
    if isinstance(value, list | tuple):
        return all(_is_serialisable(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_serialisable(v) for k, v in value.items())
    return False


def _identity(value: Any) -> Any:
    return value


class UserCodec:
    """Turns a context's user into a message-safe reference, and a reference back into a user.

    ``user_ref(user)`` must return JSON-compatible data (an id, a username);
    ``load_user(ref)`` returns the user, or None when there is none
    (a LookupError it raises counts as none too). ``aload_user`` is an async
    twin used by ``await meta.aget("user")``. Both loaders run inside the
    task's context, so they can use the DAL.
    """

    __slots__ = ("aload_user", "load_user", "user_ref")

    def __init__(
        self,
        user_ref: Callable[[Any], Any] | None = None,
        load_user: Callable[[Any], Any] | None = None,
        aload_user: Callable[[Any], Awaitable[Any]] | None = None,
    ) -> None:
        for name, fn in (("user_ref", user_ref), ("load_user", load_user)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be a function of one argument; got {fn!r}.")
        if aload_user is not None and not callable(aload_user):
            raise TypeError(f"aload_user must be an async function; got {aload_user!r}.")
        self.user_ref = user_ref or _identity
        self.load_user = load_user or _identity
        self.aload_user = aload_user

    def reference(self, meta: Meta) -> Any:
        """Return the reference to carry for the user in ``meta`` (None when there is no user).

        Raises:
            TypeError: ``user_ref`` gave something that can not travel in a message.
        """
        ref = meta.get(USER_REF_KEY)
        if ref is not None:
            return ref
        user = meta.get(USER_KEY)
        if user is None:
            return None
        ref = self.user_ref(user)
        if not _is_serialisable(ref):
            raise TypeError(
                f"The user {user!r} can not travel with a task: {describe(self.user_ref)} "
                f"turned it into {ref!r}, which is not JSON data. Pass user_ref= (e.g. "
                "lambda user: user.id) and load_user= (the reverse) to DatumTask."
            )
        return ref

    def lazy_user(self, ref: Any, task_name: str, task_id: str | None) -> lazy:
        """Return a lazy meta value that loads the user of ``ref`` on first read."""

        def load() -> Any:
            try:
                user = self.load_user(ref)
            except LookupError as exc:
                raise _unresolved(ref, task_name, task_id, self.load_user, exc) from exc
            if user is None:
                raise _unresolved(ref, task_name, task_id, self.load_user, None)
            return user

        aload = None
        if self.aload_user is not None:
            aload_user = self.aload_user

            async def aload() -> Any:
                try:
                    user = await aload_user(ref)
                except LookupError as exc:
                    raise _unresolved(ref, task_name, task_id, aload_user, exc) from exc
                if user is None:
                    raise _unresolved(ref, task_name, task_id, aload_user, None)
                return user

        return lazy(load, aload)


def _unresolved(
    ref: Any, task_name: str, task_id: str | None, loader: Any, exc: BaseException | None
) -> UserReferenceError:
    why = f"raised {exc!r}" if exc is not None else "returned None"
    return UserReferenceError(
        f"Task {task_name}[{task_id}] runs on behalf of the user reference {ref!r}, "
        f"which could not be resolved: {describe(loader)} {why}. The user may have been "
        "deleted since the task was enqueued, or load_user does not match user_ref."
    )
