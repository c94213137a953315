"""Views of the test project: sync ones and their async twins."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django_datum import get_dal

from tests.django_datum.notes.models import DatumNote, DatumTag

#: Set by a test to make concurrent requests meet inside the view.
BARRIERS: dict[str, threading.Barrier | asyncio.Barrier] = {}
#: Set by a test to learn when a view reached its waiting point.
EVENTS: dict[str, asyncio.Event] = {}


def _raise(kind: str) -> None:
    if kind == "404":
        raise Http404("nothing here")
    if kind == "403":
        raise PermissionDenied("no")
    raise RuntimeError("view failed")


def noop(request: HttpRequest) -> HttpResponse:
    """Never reads the user."""
    return HttpResponse("ok")


def name(request: HttpRequest) -> HttpResponse:
    """Answers the user's name and path, read through services from meta."""
    dal = get_dal(request)
    barrier = BARRIERS.get("wsgi")
    if isinstance(barrier, threading.Barrier):
        barrier.wait(timeout=20)
    return HttpResponse(f"{dal.who.name()} {dal.who.path()}")


def tenant(request: HttpRequest) -> HttpResponse:
    """Answers the tenant a META hook added."""
    return HttpResponse(request.dal.who.tenant())  # type: ignore[attr-defined]


def conn(request: HttpRequest) -> HttpResponse:
    """Sets up the connection resource."""
    return HttpResponse(str(request.dal.who.connection()))  # type: ignore[attr-defined]


def fail(request: HttpRequest, kind: str) -> HttpResponse:
    """Raises after using the DAL: Http404, PermissionDenied or an error."""
    request.dal.who.connection()  # type: ignore[attr-defined]
    _raise(kind)
    return HttpResponse("unreachable")


def service_error(request: HttpRequest, code: str) -> HttpResponse:
    """Lets a ServiceError escape (NotFound or a 410)."""
    who = request.dal.who  # type: ignore[attr-defined]
    who.missing() if code == "404" else who.gone()
    return HttpResponse("unreachable")


def _chunks(request: HttpRequest, count: int) -> Iterator[str]:
    for _ in range(count):
        yield f"{request.dal.who.connection()}:{request.dal.who.path()};"  # type: ignore[attr-defined]


def stream(request: HttpRequest, count: int) -> StreamingHttpResponse:
    """Streams chunks that use the DAL while the body is produced."""
    return StreamingHttpResponse(_chunks(request, count))


def write_note(request: HttpRequest, outcome: str) -> HttpResponse:
    """Writes a note, then ends by outcome: ok, raise, 404, or dangling (commit fails)."""
    notes = DatumNote.objects.using(request.GET.get("db", "default"))
    note = notes.create(title=f"{outcome}-{request.GET.get('tag', '')}")
    if outcome == "raise":
        raise RuntimeError("after write")
    if outcome == "404":
        raise Http404("after write")
    if outcome == "dangling":
        DatumTag.objects.using(notes.db).create(note_id=note.pk + 10_000)
    return HttpResponse(str(note.pk))


async def anoop(request: HttpRequest) -> HttpResponse:
    """Async: never reads the user."""
    return HttpResponse("ok")


async def async_view_sync_name(request: HttpRequest) -> HttpResponse:
    """Async view, sync service: the service reads meta.user (docs/django.md's pattern)."""
    return HttpResponse(get_dal(request).who.name())


async def aname(request: HttpRequest) -> HttpResponse:
    """Async: the user's name (async loader) and path."""
    dal = get_dal(request)
    barrier = BARRIERS.get("asgi")
    if isinstance(barrier, asyncio.Barrier):
        async with asyncio.timeout(20):
            await barrier.wait()
    return HttpResponse(f"{await dal.who.aname()} {dal.who.path()}")


def thread(request: HttpRequest) -> HttpResponse:
    """Sync: the thread the view runs in (under ASGI, the request's sync thread)."""
    return HttpResponse(str(threading.get_ident()))


async def aconn(request: HttpRequest) -> HttpResponse:
    """Async: sets up the async resource."""
    context = request.datum_context  # type: ignore[attr-defined]
    return HttpResponse(str(await context.aget("async_connection")))


async def athread(request: HttpRequest) -> HttpResponse:
    """Async: the thread the view runs in and the thread the context was opened in."""
    return HttpResponse(f"{threading.get_ident()} {request.datum_opened_in}")  # type: ignore[attr-defined]


async def afail(request: HttpRequest, kind: str) -> HttpResponse:
    """Async: raises after using the DAL."""
    request.dal.who.connection()  # type: ignore[attr-defined]
    _raise(kind)
    return HttpResponse("unreachable")


async def aservice_error(request: HttpRequest, code: str) -> HttpResponse:
    """Async: lets a ServiceError escape."""
    who = request.dal.who  # type: ignore[attr-defined]
    who.missing() if code == "404" else who.gone()
    return HttpResponse("unreachable")


async def _achunks(request: HttpRequest, count: int) -> AsyncIterator[str]:
    for _ in range(count):
        await asyncio.sleep(0)
        yield f"{request.dal.who.connection()}:{request.dal.who.path()};"  # type: ignore[attr-defined]


async def astream(request: HttpRequest, count: int) -> StreamingHttpResponse:
    """Async: streams chunks that use the DAL."""
    return StreamingHttpResponse(_achunks(request, count))


async def ablock(request: HttpRequest) -> HttpResponse:
    """Async: uses the DAL, then waits until cancelled (client disconnect)."""
    request.dal.who.connection()  # type: ignore[attr-defined]
    started = EVENTS.get("block")
    if started is not None:
        started.set()
    await asyncio.Event().wait()
    return HttpResponse("unreachable")


async def awrite_note(request: HttpRequest, outcome: str) -> HttpResponse:
    """Async: writes a note with the async ORM, then ends by outcome like write_note."""
    notes = DatumNote.objects.using(request.GET.get("db", "default"))
    note = await notes.acreate(title=f"{outcome}-{request.GET.get('tag', '')}")
    if outcome == "raise":
        raise RuntimeError("after write")
    if outcome == "404":
        raise Http404("after write")
    if outcome == "dangling":
        await DatumTag.objects.using(notes.db).acreate(note_id=note.pk + 10_000)
    return HttpResponse(str(note.pk))
