"""Django: ``request: DatumHttpRequest[Dal]`` and ``get_dal(request, Dal)`` (run: a test client)."""

from __future__ import annotations

from typing import assert_type

import django
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django_datum import DatumHttpRequest, get_dal
from notes_app import Dal, Notes, User, build
from polydatum import DataAccessLayer


def note_meta(request: HttpRequest) -> dict[str, User]:
    return {"user": User(request.headers.get("X-User", "ann"))}


def create_note(request: DatumHttpRequest[Dal]) -> JsonResponse:
    assert_type(request.dal, Dal)
    assert_type(request.dal.notes, Notes)
    note_id = request.dal.notes.create(request.body.decode())
    assert_type(note_id, int)
    return JsonResponse({"id": note_id}, status=201)


def read_note(request: HttpRequest, note_id: int) -> HttpResponse:
    dal = get_dal(request, Dal)
    assert_type(dal, Dal)
    return HttpResponse(dal.notes.title(note_id))


async def aread_note(request: DatumHttpRequest[Dal], note_id: int) -> HttpResponse:
    return HttpResponse(request.dal.notes.title(note_id))


def untyped(request: HttpRequest) -> HttpResponse:
    dal = get_dal(request)
    assert_type(dal, DataAccessLayer)
    title: str = dal.notes.title(dal.notes.create("x"))
    return HttpResponse(title)


urlpatterns = [
    path("notes", create_note),
    path("notes/<int:note_id>", read_note),
    path("anotes/<int:note_id>", aread_note),
    path("untyped", untyped),
]


def main() -> None:
    settings.configure(
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["testserver"],
        MIDDLEWARE=["django_datum.middleware.DatumMiddleware"],
        DATUM={"DATA_MANAGER": build(), "META": note_meta},
    )
    django.setup()
    from django.test import Client

    client = Client()
    created = client.post("/notes", data="milk", content_type="text/plain")
    assert created.status_code == 201, created.content
    # Each context has a database of its own: note 1 is gone, and NotFound is a 404.
    assert client.get("/notes/1").status_code == 404
    assert client.get("/anotes/1").status_code == 404
    assert client.get("/untyped").content == b"x"


if __name__ == "__main__":
    main()
