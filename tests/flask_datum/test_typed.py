"""A declared DAL in Flask: get_dal(request, Dal), and misconfiguration failing at init_app."""

from __future__ import annotations

import pytest
from flask import Flask, request
from flask_datum import Datum, get_dal
from polydatum import DataManager, Layer, Service
from polydatum.errors import RegistrationError


class Notes(Service):
    def title(self, note_id: int) -> str:
        return f"note {note_id}"


class Dal(Layer):
    notes: Notes


class OtherDal(Layer):
    notes: Notes


def typed_app(dal_class: type[Layer] = Dal) -> Flask:
    dm = DataManager(dal_class=Dal)
    dm.register_services(notes=Notes())
    app = Flask(__name__)
    Datum(app, dm)

    @app.get("/<int:note_id>")
    def note(note_id: int) -> str:
        dal = get_dal(request, dal_class)
        assert isinstance(dal, Dal)
        return dal.notes.title(note_id)

    return app


def test_get_dal_with_the_declared_class_gives_the_request_dal() -> None:
    """get_dal(request, Dal) is the request's DAL, an instance of the declared class."""
    assert typed_app().test_client().get("/3").text == "note 3"


def test_get_dal_with_another_class_says_how_to_declare_it() -> None:
    """Asking for a DAL class the DataManager was not built with is a TypeError saying why."""
    app = typed_app(OtherDal)
    app.testing = True
    with pytest.raises(TypeError, match=r"not a OtherDal: .*DataManager\(dal_class=OtherDal\)"):
        app.test_client().get("/3")


def test_init_app_fails_when_a_declared_service_is_not_registered() -> None:
    """Datum(app, dm) runs dm.check(): a declared service left unregistered fails at start-up."""
    with pytest.raises(RegistrationError, match=r"dal\.notes \(Notes\)"):
        Datum(Flask(__name__), DataManager(dal_class=Dal))
