"""The Flask extension: one polydatum data context per request.

How it hooks in, per app (``init_app``):

* ``app.full_dispatch_request`` is wrapped: the context opens before the
  ``before_request`` hooks and closes after the ``after_request`` hooks, while
  Flask can still turn a failure into its normal 500 response.
* ``app.handle_user_exception`` is wrapped: the first exception of the
  request is recorded (even when an ``errorhandler`` or ``abort()`` turns it
  into a response) and thrown into the context when it closes; unhandled
  ``ServiceError``\\ s become HTTP errors with their ``code``.
* ``app.async_to_sync`` is wrapped: when an async view set up async
  resources, the context closes inside that view's own event loop.
* ``app.request_class`` becomes a subclass of :class:`DatumRequest`.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Coroutine, Mapping
from functools import partial
from types import GeneratorType
from typing import Any

from flask import Flask, Response, current_app, has_request_context, request
from polydatum import DataAccessContext, DataManager, ServiceError, lazy
from polydatum.lifecycle import SOURCE, RequestScope, status_for
from werkzeug.exceptions import HTTPException, default_exceptions

from ._request import ENDED, SCOPE_ATTR, DatumRequest

__all__ = ["EXTENSION_KEY", "Datum", "MetaFactory", "get_data_manager"]

logger = logging.getLogger("polydatum")

#: Key of the extension's state in ``app.extensions``.
EXTENSION_KEY = "polydatum"

#: ``meta=``: called with the request, returns extra meta entries (or None).
MetaFactory = Callable[[DatumRequest], Mapping[str, object] | None]


def _user_loader(app: Flask) -> lazy:
    """Meta ``user`` of ``app``'s requests: Flask-Login's current user, else None.

    The same object serves every request (Meta caches the loaded value per
    context), so it costs nothing until a service reads ``meta.user``.
    """

    def load() -> Any:
        if getattr(app, "login_manager", None) is None:
            return None
        if not has_request_context():
            raise RuntimeError(
                "meta.user comes from Flask-Login's current_user, which needs the request: "
                "read it in the view, or stream with flask.stream_with_context."
            )
        # Imported here: apps without Flask-Login never need it installed.
        return importlib.import_module("flask_login").current_user._get_current_object()

    return lazy(load)


class _State:
    """What ``init_app`` stored for one app."""

    __slots__ = ("data_manager", "map_service_errors", "meta")

    def __init__(
        self,
        data_manager: DataManager[Any, Any],
        meta: MetaFactory | None,
        map_service_errors: bool,
    ) -> None:
        self.data_manager = data_manager
        self.meta = meta
        self.map_service_errors = map_service_errors


class Datum:
    """Open one data context per request of a Flask app; ``request.dal`` is its DAL.

    ``Datum(app, dm)``, or ``datum = Datum(); datum.init_app(app, dm)`` in an
    app factory. One ``Datum`` may serve several apps; the app is never
    stored on it.

    Args:
        app: the app to set up now (optional).
        data_manager: the DataManager whose contexts requests get.
        meta: called with each request; returns extra meta entries (they
            override the defaults ``request`` and ``user``).
        map_service_errors: turn a ``ServiceError`` the app has no handler
            for into an HTTP error with its ``code`` (500 is left to Flask).
    """

    def __init__(
        self,
        app: Flask | None = None,
        data_manager: DataManager[Any, Any] | None = None,
        *,
        meta: MetaFactory | None = None,
        map_service_errors: bool = True,
    ) -> None:
        self.data_manager = data_manager
        self.meta = meta
        self.map_service_errors = map_service_errors
        if app is not None:
            self.init_app(app)

    def init_app(
        self,
        app: Flask,
        data_manager: DataManager[Any, Any] | None = None,
        *,
        meta: MetaFactory | None = None,
        map_service_errors: bool | None = None,
    ) -> None:
        """Set up ``app``; arguments left out fall back to the ones given to ``Datum()``.

        Raises:
            TypeError: no DataManager was given, or ``meta`` is not callable.
            RuntimeError: ``app`` is set up already.
            RegistrationError: a service or resource the DataManager's classes
                declare is not registered (see ``DataManager.check``).
        """
        dm = data_manager if data_manager is not None else self.data_manager
        if not isinstance(dm, DataManager):
            raise TypeError(
                "flask_datum needs a polydatum DataManager: pass it as "
                "Datum(app, data_manager) or datum.init_app(app, data_manager)"
                + ("." if dm is None else f"; got {dm!r}.")
            )
        meta = meta if meta is not None else self.meta
        if meta is not None and not callable(meta):
            raise TypeError(
                "meta= must be a callable taking the request and returning a mapping; "
                f"got {meta!r}."
            )
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(
                f"flask_datum is already set up on app {app.name!r}; call init_app once per app."
            )
        dm.check()  # what the app declares is registered: fail now, not on a request
        state = _State(
            dm, meta, self.map_service_errors if map_service_errors is None else map_service_errors
        )
        app.extensions[EXTENSION_KEY] = state
        if not issubclass(app.request_class, DatumRequest):
            base = app.request_class
            app.request_class = (
                DatumRequest
                if base is DatumRequest.__base__
                else type(base.__name__, (DatumRequest, base), {})
            )
        _install(app, state)

    def context(
        self, app: Flask | None = None, meta: Mapping[str, object] | None = None
    ) -> DataAccessContext:
        """Return a new data context of ``app``'s DataManager, for work outside requests.

        ``with datum.context(app, meta={"user": "cli"}) as ctx:`` (``app``
        defaults to the current app).
        """
        return get_data_manager(app).context(meta)


def get_data_manager(app: Flask | None = None) -> DataManager:
    """Return the DataManager of ``app`` (default: the current app).

    Outside requests: ``with get_data_manager(app).dal(meta=...) as dal:``.

    Raises:
        RuntimeError: the app is not set up with flask_datum.
    """
    target: Flask = app if app is not None else current_app._get_current_object()  # type: ignore[attr-defined]
    state = target.extensions.get(EXTENSION_KEY)
    if state is None:
        raise RuntimeError(
            f"App {target.name!r} is not set up with flask_datum; call Datum(app, data_manager)."
        )
    return state.data_manager  # type: ignore[no-any-return]


def _http_error(code: int, exc: ServiceError) -> HTTPException:
    cls = default_exceptions.get(code)
    error = cls(description=str(exc) or None) if cls is not None else HTTPException(str(exc))
    if cls is None:
        error.code = code
    error.__cause__ = exc
    return error


def _install(app: Flask, state: _State) -> None:
    """Wrap the app's dispatch, user-exception handling and async bridge (see module doc)."""
    dm = state.data_manager
    make_meta = state.meta
    map_errors = state.map_service_errors
    dispatch = app.full_dispatch_request
    handle_user_exception = app.handle_user_exception
    to_sync = app.async_to_sync
    current = request._get_current_object  # type: ignore[attr-defined]
    user = _user_loader(app)
    # The meta of a request without meta=: one mapping of loaders for every request, the
    # request itself and the user loaded on first read (no dict or lazy built per request).
    load_user = user.load
    loaders = {"request": SOURCE, "user": lambda req: load_user()}

    def full_dispatch_request() -> Response:
        req = current()
        if make_meta is None:
            # Positional: RequestScope(dm, meta, lazy_meta, loaders, source).
            scope = RequestScope(dm, None, None, loaders, req)
        else:
            values = {"request": req, "user": user}
            extra = make_meta(req)
            if extra:
                values.update(extra)
            scope = RequestScope(dm, values)
        scope.open()
        state = req.__dict__
        state[SCOPE_ATTR] = scope
        try:
            response = dispatch()
        except BaseException as exc:
            state[SCOPE_ATTR] = ENDED
            # The original error goes on to Flask; an error from closing is only logged.
            try:
                scope.close(exc)
            except Exception:
                logger.exception("Closing the data context failed while handling %r", exc)
            raise
        # Only a generator body needs the DAL later; error pages, files and
        # lists are done (werkzeug marks error responses as streamed too).
        if (
            type(response.response) is GeneratorType
            and scope.exception is None
            and not scope.closed  # an async view may have closed it in its own loop
        ):
            if not _whole_body_needed(req, response):
                scope.detach()
                response.response = scope.iterate(response.response)
                response.call_on_close(partial(state.__setitem__, SCOPE_ATTR, ENDED))
                return response
            try:
                response.set_data(b"".join(response.iter_encoded()))  # with its length
            except BaseException as exc:
                state[SCOPE_ATTR] = ENDED
                try:
                    scope.close(exc)
                except Exception:
                    logger.exception("Closing the data context failed while handling %r", exc)
                raise
        state[SCOPE_ATTR] = ENDED
        scope.close()
        return response

    def handle_exception(e: Exception) -> Any:
        scope: RequestScope | None = current().__dict__.get(SCOPE_ATTR)
        if scope is not None and scope is not ENDED:
            scope.record(e)
        if not map_errors or not isinstance(e, ServiceError):
            return handle_user_exception(e)
        try:
            return handle_user_exception(e)
        except ServiceError as err:
            code = status_for(err)
            if err is not e or code is None or code == 500:
                raise
            return handle_user_exception(_http_error(code, err))

    def async_to_sync(func: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
        async def run(*args: Any, **kwargs: Any) -> Any:
            try:
                rv = await func(*args, **kwargs)
            except BaseException as exc:
                # Async generators must be finished in the event loop that started them.
                scope = _open_scope()
                if scope is not None and scope.awaits:
                    await scope.aclose_quietly(exc)
                raise
            scope = _open_scope()
            if scope is not None and scope.awaits:
                await scope.aclose()
            return rv

        return to_sync(run)

    app.full_dispatch_request = full_dispatch_request  # type: ignore[method-assign]
    app.handle_user_exception = handle_exception  # type: ignore[method-assign]
    app.async_to_sync = async_to_sync  # type: ignore[method-assign]


def _whole_body_needed(req: DatumRequest, response: Response) -> bool:
    """Whether a generator body must be read whole before the commit: HTTP/1.0, no length.

    An HTTP/1.0 client has no chunked encoding: a body without a
    ``Content-Length`` ends when the connection closes, so one cut short by a
    failed commit would look complete. Such a body is read in the view's
    context, the commit follows, and the body goes out whole with its length
    (or a 500 does, if the body or the commit failed).
    """
    return req.environ.get("SERVER_PROTOCOL") == "HTTP/1.0" and response.content_length is None


def _open_scope() -> RequestScope | None:
    if not has_request_context():
        return None
    scope: RequestScope | None = request.__dict__.get(SCOPE_ATTR)
    return None if scope is None or scope is ENDED or scope.closed else scope
