"""``DatumHttpRequest[Dal]``: the request of a view, with ``request.dal`` typed as the app's DAL."""

from __future__ import annotations

from typing import Generic, TypeVar

from django.http import HttpRequest
from polydatum import Layer

__all__ = ["DatumHttpRequest"]

#: The app's declared DAL class.
D = TypeVar("D", bound=Layer)


class DatumHttpRequest(HttpRequest, Generic[D]):
    """An ``HttpRequest`` whose ``dal`` is the app's DAL, for annotating views.

    ``def notes(request: DatumHttpRequest[Dal]) -> HttpResponse:`` makes
    ``request.dal`` a ``Dal`` (``DataManager(dal_class=Dal)``) for type
    checkers, as django-stubs suggests for ``request.user``. Django never
    builds one: views get Django's own request, on which ``DatumMiddleware``
    sets ``dal``. For a view annotated ``HttpRequest``, use
    ``get_dal(request, Dal)``.
    """

    #: The DAL of the request's data context (set by ``DatumMiddleware``).
    dal: D
