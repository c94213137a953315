"""Views and URLs of the Django override tests."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django_datum import get_dal


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse(get_dal(request).greeter.hello())


async def ahello(request: HttpRequest) -> HttpResponse:
    return HttpResponse(get_dal(request).greeter.hello())


urlpatterns = [path("sync/hello", hello), path("async/hello", ahello)]
