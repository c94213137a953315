"""An override made with ``datum_override`` is seen by requests each framework's test client makes.

Also when the client serves the request in another thread (Starlette's
``TestClient``) and, once the override is gone, requests see the original.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.test import AsyncClient, Client
from flask import Flask, request
from flask_datum import Datum
from polydatum import DataManager, Service
from polydatum.pytest_plugin import Overrides
from polydatum.testing import override
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette_datum import DatumMiddleware, get_dal

from .django_project import project


class Greeter(Service):
    def hello(self) -> str:
        return f"hello {self._ctx.meta.user}"


class FakeGreeter(Service):
    def hello(self) -> str:
        return f"fake hello {self._ctx.meta.user}"


@pytest.fixture
def datum_manager() -> DataManager:
    """The DataManager every app of this module serves."""
    dm = DataManager()
    dm.register_services(greeter=Greeter())
    return dm


@pytest.fixture
def fake(datum_override: Overrides) -> Service:
    """The greeter replaced for the test."""
    return datum_override.service("greeter", FakeGreeter())


def flask_app(dm: DataManager) -> Flask:
    app = Flask(__name__)
    Datum(app, dm, meta=lambda req: {"user": req.headers.get("x-user")})

    @app.get("/hello")
    def hello() -> str:
        return str(request.dal.greeter.hello())  # type: ignore[attr-defined]

    return app


def starlette_app(dm: DataManager) -> Starlette:
    async def hello(request: Request) -> Response:
        return PlainTextResponse(get_dal(request).greeter.hello())

    meta: Any = lambda req: {"user": req.headers.get("x-user")}  # noqa: E731
    return Starlette(
        routes=[Route("/hello", hello)],
        middleware=[Middleware(DatumMiddleware, data_manager=dm, meta=meta)],
    )


@pytest.fixture
def django_project(datum_manager: DataManager) -> Iterator[None]:
    """Django settings serving the greeter at /sync/hello and /async/hello."""
    with project(datum_manager, "tests.reliability.django_hello_urls"):
        yield


def test_flask_test_client_sees_the_override(datum_manager: DataManager, fake: Service) -> None:
    """A request made with Flask's test client during the test uses the overriding service."""
    client = flask_app(datum_manager).test_client()
    assert client.get("/hello", headers={"x-user": "ann"}).text == "fake hello ann"


def test_django_client_sees_the_override(django_project: None, fake: Service) -> None:
    """A request made with Django's test client during the test uses the overriding service."""
    response: Any = Client().get("/sync/hello", headers={"x-user": "ann"})
    assert response.content == b"fake hello ann"


@pytest.mark.anyio
async def test_django_async_client_sees_the_override(django_project: None, fake: Service) -> None:
    """A request made with Django's AsyncClient (async view) uses the overriding service."""
    response: Any = await AsyncClient().get("/async/hello", headers={"x-user": "ann"})
    assert response.content == b"fake hello ann"


@pytest.mark.anyio
async def test_httpx_asgi_client_sees_the_override(
    datum_manager: DataManager, fake: Service
) -> None:
    """A request made with httpx over ASGITransport uses the overriding service."""
    transport = httpx.ASGITransport(app=starlette_app(datum_manager))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/hello", headers={"x-user": "ann"})
    assert response.text == "fake hello ann"


def test_starlette_testclient_sees_the_override(datum_manager: DataManager, fake: Service) -> None:
    """Starlette's TestClient serves from another thread and still sees the override."""
    with TestClient(starlette_app(datum_manager)) as client:
        assert client.get("/hello", headers={"x-user": "ann"}).text == "fake hello ann"


def test_requests_see_the_original_once_the_override_ends(datum_manager: DataManager) -> None:
    """After the override's block, the same app's requests use the original service again."""
    client = flask_app(datum_manager).test_client()
    with override(datum_manager, services={"greeter": FakeGreeter()}):
        assert client.get("/hello", headers={"x-user": "ann"}).text == "fake hello ann"
    assert client.get("/hello", headers={"x-user": "ann"}).text == "hello ann"
