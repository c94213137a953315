"""Views and URLs of the Django isolation tests."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django_datum import get_dal


def who(request: HttpRequest) -> HttpResponse:
    return HttpResponse(get_dal(request).who.echo())


async def awho(request: HttpRequest) -> HttpResponse:
    return HttpResponse(await get_dal(request).who.aecho())


urlpatterns = [path("sync/who", who), path("async/who", awho)]
