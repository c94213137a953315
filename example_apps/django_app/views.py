"""The views: HTTP in, one service call, JSON out. Errors are raised, never caught here.

A ``ServiceError`` raised here reaches ``DatumMiddleware`` (the request's
transaction rolls back) and then ``ServiceErrorMiddleware`` (the JSON answer).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django_datum import DatumHttpRequest

from example_apps.notes import body_too_large
from example_apps.notes.services import NotesDal

View = Callable[..., HttpResponse]


def allow_methods(methods: list[str]) -> Callable[[View], View]:
    """Django's ``require_http_methods``, answering a 405 in JSON like every error of the API.

    Django's own answers with an empty ``text/html`` body.
    """
    allow = ", ".join(methods)

    def decorate(view: View) -> View:
        @wraps(view)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                error = {"error": "Method Not Allowed"}
                return JsonResponse(error, status=405, headers={"Allow": allow})
            return view(request, *args, **kwargs)

        return checked

    return decorate


def _body(request: HttpRequest) -> bytes:
    try:
        return request.body  # refused over DATA_UPLOAD_MAX_MEMORY_SIZE
    except RequestDataTooBig:
        raise body_too_large() from None


@allow_methods(["GET", "POST"])
def notes(request: DatumHttpRequest[NotesDal]) -> HttpResponse:
    """``GET /notes`` (``?after=&limit=``) and ``POST /notes``."""
    dal = request.dal  # a NotesDal
    if request.method == "POST":
        return JsonResponse(dal.notes.create(_body(request)), status=201)
    query = request.GET
    return JsonResponse(dal.notes.list(query.get("after"), query.get("limit")))


@allow_methods(["GET", "PUT", "DELETE"])
def note(request: DatumHttpRequest[NotesDal], note_id: str) -> HttpResponse:
    """``GET``, ``PUT`` and ``DELETE /notes/{id}``."""
    dal = request.dal
    if request.method == "PUT":
        return JsonResponse(dal.notes.update(note_id, _body(request)))
    if request.method == "DELETE":
        dal.notes.delete(note_id)
        return HttpResponse(status=204)
    return JsonResponse(dal.notes.read(note_id))
