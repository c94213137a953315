"""Celery for polydatum: one data context per task, with the user of the context that sent it.

Make :class:`DatumTask`, configured with your DataManager, the base class of
your app's tasks::

    class AppTask(DatumTask, data_manager=dm, user_ref=lambda u: u.id, load_user=load_user):
        pass

    app = Celery("notes", task_cls=AppTask)  # or @app.task(base=AppTask) per task

Every task then runs inside its own context, opened before the body runs and
closed *before* Celery stores the result: a failing commit fails the task,
and the task's ``autoretry_for`` policy applies to it as to any error of the
body. The context's meta holds ``task_name``, ``task_id``, ``retries`` and,
for a task sent from inside a context that has a user, ``user`` (loaded
lazily in the worker from a reference carried in a message header) and
``user_ref`` (that reference). Async task bodies (``async def``) run with
``asyncio.run`` inside an async context.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, Generic, ParamSpec, TypeVar

from celery import Task, current_task

from polydatum.dal import DataAccessLayer, DataManager
from polydatum.lifecycle import RequestScope

from ._celery_commit import OnCommitMiddleware, pending_sends
from ._celery_run import apply_retry_policy, has_async_body, run_async
from ._celery_user import USER_HEADER, USER_KEY, USER_REF_KEY, UserCodec, UserReferenceError

if TYPE_CHECKING:
    from celery import Celery
    from celery.app.task import Context
    from celery.result import AsyncResult

__all__ = [
    "RETRIES_KEY",
    "TASK_ID_KEY",
    "TASK_NAME_KEY",
    "USER_HEADER",
    "USER_KEY",
    "USER_REF_KEY",
    "DatumTask",
    "OnCommitMiddleware",
    "UserReferenceError",
]

#: Meta key of the task's registered name.
TASK_NAME_KEY = "task_name"
#: Meta key of the task's id (None when the task is called directly, as a function).
TASK_ID_KEY = "task_id"
#: Meta key of how many times the task was retried before this run.
RETRIES_KEY = "retries"

_P = ParamSpec("_P")
_R = TypeVar("_R")


if TYPE_CHECKING:
    _GenericTask = Task
else:

    class _GenericTask(Task, Generic[_P, _R]):
        """Celery's Task, subscriptable at run time (``Task[P, R]`` needs Celery 5.7+)."""


class DatumTask(_GenericTask[_P, _R]):
    """A Celery task whose body runs inside a data context of ``data_manager``.

    Configure it once, with class keywords, in a subclass you make the base of
    your tasks:

    - ``data_manager``: the DataManager whose contexts the tasks run in.
    - ``user_ref(user) -> ref``: turns the enqueuing context's ``meta.user``
      into JSON data that travels in the message (default: the user itself).
    - ``load_user(ref) -> user``: the reverse, run in the worker on the first
      read of ``meta.user``; None (or a LookupError) fails the task with a
      :class:`UserReferenceError` naming the reference. Default: the reference.
    - ``aload_user``: async twin of ``load_user`` for ``await meta.aget("user")``.

    Override :meth:`datum_meta` to add meta of your own.
    """

    data_manager: ClassVar[DataManager[Any, Any] | None] = None
    _datum_codec: ClassVar[UserCodec] = UserCodec()

    def __init_subclass__(
        cls,
        *,
        data_manager: DataManager[Any, Any] | None = None,
        user_ref: Callable[[Any], Any] | None = None,
        load_user: Callable[[Any], Any] | None = None,
        aload_user: Callable[[Any], Awaitable[Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if data_manager is not None:
            if not isinstance(data_manager, DataManager):
                raise TypeError(
                    f"{cls.__name__}(DatumTask, data_manager=...) needs a polydatum "
                    f"DataManager; got {data_manager!r}."
                )
            cls.data_manager = data_manager
        if user_ref is not None or load_user is not None or aload_user is not None:
            cls._datum_codec = UserCodec(user_ref, load_user, aload_user)

    @classmethod
    def bind(cls, app: Celery) -> Celery:
        """Bind the task to ``app``; refuse a task class with no DataManager (at start-up).

        Raises:
            TypeError: the task class has no DataManager.
            RegistrationError: a service or resource the DataManager's classes
                declare is not registered (see ``DataManager.check``).
        """
        if cls.data_manager is None:
            raise TypeError(
                f"Task {cls.name or cls.__name__} is a DatumTask without a DataManager. "
                "Configure the base class once: class AppTask(DatumTask, data_manager=dm): ..."
                " and use Celery(..., task_cls=AppTask) or @app.task(base=AppTask)."
            )
        cls.data_manager.check()
        return super().bind(app)

    @property
    def dal(self) -> DataAccessLayer:
        """The DAL of the task's DataManager: ``self.dal.notes.count(...)`` in a bound task."""
        dm = self.data_manager
        if dm is None:
            raise TypeError(f"Task {self.name} is a DatumTask without a DataManager.")
        dal: DataAccessLayer = dm.get_dal()
        return dal

    def datum_meta(self) -> dict[str, Any]:
        """Return the meta of this run's context (override to add keys; call super)."""
        request = self.request
        meta: dict[str, Any] = {
            TASK_NAME_KEY: self.name,
            TASK_ID_KEY: request.id,
            RETRIES_KEY: request.retries or 0,
        }
        if request.called_directly:
            # Called as a plain function inside a context: that context's user.
            outer = self.data_manager.get_active_context() if self.data_manager else None
            ref = self._datum_codec.reference(outer.meta) if outer is not None else None
        else:
            ref = _carried_ref(request)
        if ref is not None:
            meta[USER_REF_KEY] = ref
            meta[USER_KEY] = self._datum_codec.lazy_user(ref, self.name, request.id)
        return meta

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        """Run the body inside a new context; close it before the result is stored.

        Raises:
            Exception: what the body raised, or an error raised while closing
                the context (a failed commit), after the retry policy had its say.
        """
        dm = self.data_manager
        if dm is None:
            raise TypeError(f"Task {self.name} is a DatumTask without a DataManager.")
        meta = self.datum_meta()
        if has_async_body(self):
            try:
                result: _R = run_async(
                    self, dm, meta, lambda: super(DatumTask, self).__call__(*args, **kwargs)
                )
            except Exception as exc:
                # Celery's autoretry never sees inside the coroutine.
                apply_retry_policy(self, exc)
                raise
            return result
        scope = RequestScope(dm, meta)
        scope.open()
        try:
            result = super().__call__(*args, **kwargs)
        except BaseException as exc:
            scope.close(exc)
            raise
        try:
            scope.close()
        except Exception as exc:
            apply_retry_policy(self, exc)
            raise
        return result

    def apply_async(
        self,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        *rest: Any,
        **options: Any,
    ) -> AsyncResult[_R]:
        """Send the task; from inside a context with a user, carry a reference to that user.

        ``delay()``, signatures and retries all come through here. Pass
        ``headers={USER_HEADER: None}`` to send a task on behalf of nobody.

        Raises:
            TypeError: ``user_ref`` gave a reference that is not JSON data.
        """
        headers = options.get("headers")
        if not headers or USER_HEADER not in headers:
            dm = self.data_manager
            ctx = dm.get_active_context() if dm is not None else None
            if ctx is not None:
                ref = self._datum_codec.reference(ctx.meta)
            else:
                # Chain links and callbacks go out after the running task's context
                # closed: they carry that task's user.
                # current_task is a proxy, falsy when no task is running.
                ref = _carried_ref(current_task.request) if current_task else None
            if ref is not None:
                options["headers"] = {**(headers or {}), USER_HEADER: ref}
        return super().apply_async(args, kwargs, *rest, **options)

    def delay_on_commit(self, *args: _P.args, **kwargs: _P.kwargs) -> None:
        """Like ``delay()``, but inside a context the task goes out once the context committed.

        Needs :class:`OnCommitMiddleware` registered; see :meth:`apply_async_on_commit`.
        """
        self.apply_async_on_commit(args, kwargs)

    def apply_async_on_commit(
        self,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        """Like ``apply_async()``, but inside a context the task waits for the commit.

        The task is sent when the context ends cleanly, and dropped when it
        ends with an exception (or its commit fails). Outside a context it is
        sent at once. A context of another DataManager that has
        OnCommitMiddleware (an async web app's, sending tasks that run on a
        sync one) counts too: the task waits for that context's commit; pass
        the user header yourself then, as the task's DataManager has no
        context to read the user from. Returns None, as the task may not be
        sent yet.

        Raises:
            RuntimeError: a context is active but OnCommitMiddleware is not registered.
        """
        dm = self.data_manager
        pending = pending_sends()
        if pending is None and (dm is None or dm.get_active_context() is None):
            self.apply_async(args, kwargs, **options)
            return
        if pending is None:
            raise RuntimeError(
                f"{self.name}.delay_on_commit() needs OnCommitMiddleware; register it before "
                "the transaction middleware: dm.register_context_middleware(OnCommitMiddleware(),"
                ' TransactionMiddleware("db")).'
            )
        pending.append(partial(self.apply_async, args, kwargs, **options))


def _carried_ref(request: Context) -> Any:
    """Return the user reference a task's message carried, or None."""
    headers = request.headers
    if headers and USER_HEADER in headers:
        return headers[USER_HEADER]
    # A worker also puts every message header on the request itself.
    return getattr(request, USER_HEADER, None)
