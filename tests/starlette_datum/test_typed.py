"""A declared DAL in Starlette: get_dal(request, Dal), and misconfiguration failing at start-up."""

from __future__ import annotations

import httpx
import pytest
from polydatum import DataManager, Layer, Service
from polydatum.errors import RegistrationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette_datum import DatumMiddleware, get_dal

pytestmark = pytest.mark.anyio


class Notes(Service):
    def title(self, note_id: int) -> str:
        return f"note {note_id}"


class Dal(Layer):
    notes: Notes


class OtherDal(Layer):
    notes: Notes


def typed_app(dm: DataManager[Dal], dal_class: type[Layer] = Dal) -> Starlette:
    async def note(request: Request) -> PlainTextResponse:
        dal = get_dal(request, dal_class)
        assert isinstance(dal, Dal)
        return PlainTextResponse(dal.notes.title(request.path_params["id"]))

    return Starlette(
        routes=[Route("/{id:int}", note)],
        middleware=[Middleware(DatumMiddleware, data_manager=dm)],
    )


def registered() -> DataManager[Dal]:
    dm = DataManager(dal_class=Dal)
    dm.register_services(notes=Notes())
    return dm


async def test_get_dal_with_the_declared_class_gives_the_request_dal() -> None:
    """get_dal(request, Dal) is the request's DAL, an instance of the declared class."""
    transport = httpx.ASGITransport(app=typed_app(registered()))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/3")).text == "note 3"


async def test_get_dal_with_another_class_says_how_to_declare_it() -> None:
    """Asking for a DAL class the DataManager was not built with is a TypeError saying why."""
    transport = httpx.ASGITransport(app=typed_app(registered(), OtherDal))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        with pytest.raises(TypeError, match=r"not a OtherDal: .*DataManager\(dal_class=OtherDal\)"):
            await client.get("/3")


def test_a_declared_service_left_unregistered_fails_when_the_app_starts() -> None:
    """DatumMiddleware runs dm.check() when Starlette builds it: at start-up (the lifespan)."""
    app = typed_app(DataManager(dal_class=Dal))
    with pytest.raises(RegistrationError, match=r"dal\.notes \(Notes\)"), TestClient(app):
        pass
