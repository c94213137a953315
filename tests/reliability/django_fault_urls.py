"""Views and URLs of the Django fault matrix; they use whatever DataManager DATUM names."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import path
from django_datum import get_dal


def work(request: HttpRequest) -> HttpResponse:
    return HttpResponse(get_dal(request).work.run())


async def awork(request: HttpRequest) -> HttpResponse:
    return HttpResponse(await get_dal(request).work.arun())


def stream(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(get_dal(request).work.chunks())


async def astream(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(get_dal(request).work.achunks())


urlpatterns = [
    path("sync/work", work),
    path("async/work", awork),
    path("sync/stream", stream),
    path("async/stream", astream),
]
