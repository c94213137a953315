"""Mistakes in views that type checkers catch: each marked line must fail, with that error."""

from __future__ import annotations

from typing import Annotated

from django.http import HttpRequest, HttpResponse
from django_datum import DatumHttpRequest
from django_datum import get_dal as django_dal
from fastapi import Depends
from flask import request
from flask_datum import get_dal as flask_dal
from notes_app import Dal
from starlette.requests import Request
from starlette.responses import Response
from starlette_datum import get_dal as starlette_dal
from starlette_datum.fastapi import dal_dependency

AppDal = Annotated[Dal, Depends(dal_dependency)]


def flask_view() -> str:
    # expect: mypy[attr-defined] pyright[reportAttributeAccessIssue, reportUnknownMemberType]
    request.dal  # Flask's request class knows no dal: use get_dal(request, Dal)
    # expect: mypy[attr-defined] pyright[reportAttributeAccessIssue, reportUnknownMemberType]
    flask_dal(request, Dal).nottes
    # expect: mypy[arg-type] pyright[reportArgumentType]
    return flask_dal(request, Dal).notes.title("1")


def django_view(request: HttpRequest) -> HttpResponse:
    # expect: mypy[attr-defined] pyright[reportAttributeAccessIssue, reportUnknownMemberType]
    request.dal  # HttpRequest knows no dal: annotate DatumHttpRequest[Dal]
    # expect: mypy[arg-type] pyright[reportArgumentType]
    django_dal(request, Dal).notes.create(title=1)
    return HttpResponse()


def django_typed_view(request: DatumHttpRequest[Dal]) -> HttpResponse:
    # expect: mypy[attr-defined] pyright[reportAttributeAccessIssue, reportUnknownMemberType]
    request.dal.nottes
    # expect: mypy[assignment] pyright[reportAssignmentType]
    status: int = request.dal.notes.title(1)
    return HttpResponse(status=status)


async def starlette_endpoint(request: Request) -> Response:
    dal = starlette_dal(request, Dal)
    # expect: mypy[arg-type] pyright[reportArgumentType]
    dal.notes.create(title=1)
    # expect: mypy[type-var] pyright[reportArgumentType]
    starlette_dal(request, int)
    return Response()


async def fastapi_endpoint(dal: AppDal) -> int:
    # expect: mypy[attr-defined] pyright[reportAttributeAccessIssue, reportUnknownMemberType]
    dal.notes.craete("x")
    # expect: mypy[return-value] pyright[reportReturnType]
    return dal.notes.title(1)
