"""The request class that carries the data context: ``request.dal``, ``request.datum_context``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, overload

from flask import Request, request
from polydatum import Layer
from polydatum.errors import NoActiveContextError

if TYPE_CHECKING:
    from polydatum import DataAccessContext, DataAccessLayer
    from polydatum.lifecycle import RequestScope

#: The app's declared DAL class.
D = TypeVar("D", bound=Layer)

__all__ = ["ENDED", "SCOPE_ATTR", "DatumRequest", "get_context", "get_dal"]

#: Attribute of the request object that holds its RequestScope (then ENDED).
SCOPE_ATTR = "_datum_scope"

#: Replaces the scope on the request once it closed: the scope's meta holds the
#: request, so keeping the scope would make a reference cycle per request.
ENDED: Any = object()

_NOT_OPENED = (
    "This request has no data context: it was not dispatched by an app set up with "
    "flask_datum (call Datum(app, data_manager) or datum.init_app(app, data_manager)). "
    "A bare app.test_request_context() does not dispatch; use app.test_client(), or open "
    "a context yourself with `with get_data_manager(app).dal(meta=...) as dal:`."
)
_CLOSED = (
    "The data context of this request is closed: request.dal and request.datum_context "
    "work while the request is handled (before_request, the view, after_request, error "
    "handlers, a streamed body), not after it. Outside a request open a context with "
    "`with get_data_manager(app).dal(meta=...) as dal:`."
)


class DatumRequest(Request):
    """Flask's request with the data context of the request attached.

    ``init_app`` makes the app's ``request_class`` a subclass of this class.
    """

    @property
    def datum_context(self) -> DataAccessContext:
        """The data context of this request.

        Raises:
            NoActiveContextError: the request has no open context (not
                dispatched through flask_datum, or already finished).
        """
        scope: RequestScope | None = self.__dict__.get(SCOPE_ATTR)
        if scope is None:
            raise NoActiveContextError(_NOT_OPENED)
        if scope is ENDED or scope.closed:
            raise NoActiveContextError(_CLOSED)
        return scope.context

    @property
    def dal(self) -> DataAccessLayer:
        """The DAL of this request's data context (see :attr:`datum_context`)."""
        scope: RequestScope | None = self.__dict__.get(SCOPE_ATTR)
        if scope is None:
            raise NoActiveContextError(_NOT_OPENED)
        if scope is ENDED or scope.closed:
            raise NoActiveContextError(_CLOSED)
        return scope.context.dal


def _current(req: Request | None) -> Request:
    return req if req is not None else request._get_current_object()  # type: ignore[attr-defined]


def get_context(req: Request | None = None) -> DataAccessContext:
    """Return the data context of ``req`` (default: the current request).

    A typed spelling of ``request.datum_context``.

    Raises:
        NoActiveContextError: the request has no open data context.
        RuntimeError: no request is active and none was given.
    """
    req = _current(req)
    if not isinstance(req, DatumRequest):
        raise NoActiveContextError(_NOT_OPENED)
    return req.datum_context


@overload
def get_dal(req: Request | None = None) -> DataAccessLayer: ...
@overload
def get_dal(req: Request | None, dal_class: type[D]) -> D: ...
def get_dal(req: Request | None = None, dal_class: type[Any] | None = None) -> Any:
    """Return the DAL of ``req``'s data context; a typed spelling of ``request.dal``.

    ``get_dal(request, Dal)`` gives the app's declared DAL class
    (``DataManager(dal_class=Dal)``), so ``get_dal(request, Dal).notes`` is a
    ``Notes`` for type checkers.

    Raises:
        NoActiveContextError: the request has no open data context.
        RuntimeError: no request is active and none was given.
        TypeError: the DAL is not a ``dal_class``.
    """
    dal = get_context(req).dal
    if dal_class is not None and not isinstance(dal, dal_class):
        raise TypeError(wrong_dal(dal, dal_class))
    return dal


def wrong_dal(dal: object, dal_class: type[Any]) -> str:
    """The message for a DAL that is not of the class a view asked for."""
    name = dal_class.__qualname__
    return (
        f"The DAL of this request is a {type(dal).__qualname__}, not a {name}: build the "
        f"app's DataManager with DataManager(dal_class={name}), or ask for its own class."
    )
