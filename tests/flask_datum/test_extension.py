"""Datum follows Flask's extension conventions."""

from __future__ import annotations

import pytest
from flask import Flask, Request, request
from flask_datum import EXTENSION_KEY, Datum, DatumRequest, get_data_manager

from .conftest import Recorder


def test_state_is_stored_in_app_extensions(rec: Recorder) -> None:
    """init_app keeps state in app.extensions[EXTENSION_KEY], never the app on the extension."""
    app = Flask(__name__)
    datum = Datum(app, rec.dm)
    assert app.extensions[EXTENSION_KEY].data_manager is rec.dm
    assert app not in vars(datum).values()


def test_second_init_app_raises(app: Flask, rec: Recorder) -> None:
    """Setting up the same app twice is refused with a message."""
    with pytest.raises(RuntimeError, match="already set up"):
        Datum().init_app(app, rec.dm)


def test_missing_data_manager_fails_at_init_app() -> None:
    """init_app without a DataManager says what to pass."""
    with pytest.raises(TypeError, match=r"Datum\(app, data_manager\)"):
        Datum(Flask(__name__))


def test_wrong_data_manager_type_fails_at_init_app() -> None:
    """A value that is not a DataManager is refused at init_app."""
    with pytest.raises(TypeError, match="got 'db'"):
        Datum().init_app(Flask(__name__), "db")  # type: ignore[arg-type]


def test_meta_must_be_callable(rec: Recorder) -> None:
    """A meta= that is not callable is refused at init_app."""
    with pytest.raises(TypeError, match="meta= must be a callable"):
        Datum(Flask(__name__), rec.dm, meta={"user": "x"})  # type: ignore[arg-type]


def test_app_factory_pattern(rec: Recorder) -> None:
    """A Datum made without an app sets up apps later with its DataManager."""
    datum = Datum(data_manager=rec.dm)

    def create_app() -> Flask:
        app = Flask(__name__)
        datum.init_app(app)

        @app.get("/")
        def index() -> str:
            return str(request.dal.notes.get(1)["text"])  # type: ignore[attr-defined]

        return app

    assert create_app().test_client().get("/").text == "first"


def test_one_datum_serves_apps_with_different_data_managers() -> None:
    """Each app set up by one Datum gets the DataManager given to its init_app."""
    first, second = Recorder(), Recorder()
    datum = Datum()
    app1, app2 = Flask("one"), Flask("two")
    datum.init_app(app1, first.dm)
    datum.init_app(app2, second.dm)
    for app in (app1, app2):
        app.get("/")(lambda: str(request.datum_context.data_manager is get_data_manager()))  # type: ignore[attr-defined]
    assert app1.test_client().get("/").text == "True"
    assert app2.test_client().get("/").text == "True"
    assert get_data_manager(app1) is first.dm
    assert get_data_manager(app2) is second.dm


def test_get_data_manager_of_app_without_datum_raises() -> None:
    """get_data_manager on an app that was not set up says how to set it up."""
    with pytest.raises(RuntimeError, match=r"call Datum\(app, data_manager\)"):
        get_data_manager(Flask(__name__))


def test_request_class_becomes_datum_request(app: Flask) -> None:
    """The app's request class gains request.dal and request.datum_context."""
    assert issubclass(app.request_class, DatumRequest)


def test_custom_request_class_is_kept(rec: Recorder) -> None:
    """An app's own request class is kept as a base of the new request class."""

    class MyRequest(Request):
        custom = True

    app = Flask(__name__)
    app.request_class = MyRequest
    Datum(app, rec.dm)
    assert issubclass(app.request_class, MyRequest)
    assert issubclass(app.request_class, DatumRequest)


def test_context_outside_requests(app: Flask, rec: Recorder) -> None:
    """datum.context(app, meta=...) opens a context of the app's DataManager outside requests."""
    with Datum().context(app, meta={"user": "cron"}) as ctx:
        assert rec.dm.get_dal().notes.user() == "cron"
        assert ctx.data_manager is rec.dm
    assert rec.events == ["begin", "commit"]


def test_get_data_manager_defaults_to_current_app(app: Flask, rec: Recorder) -> None:
    """Inside an app context get_data_manager() needs no argument."""
    with app.app_context(), get_data_manager().dal(meta={"user": "job"}) as dal:
        assert dal.notes.user() == "job"


def test_cli_command_opens_its_own_context(app: Flask, rec: Recorder) -> None:
    """A `flask` CLI command reaches the DAL with get_data_manager().dal(meta=...)."""

    @app.cli.command("first-note")
    def first_note() -> None:
        with get_data_manager().dal(meta={"user": "cli"}) as dal:
            print(dal.notes.get(1)["text"], dal.notes.user())

    result = app.test_cli_runner().invoke(args=["first-note"])
    assert result.output == "first cli\n"
    assert rec.events == ["begin", "conn:setup", "commit", "conn:teardown"]


def test_init_app_arguments_override_the_datums(rec: Recorder) -> None:
    """meta= and map_service_errors= given to init_app win over those given to Datum()."""
    datum = Datum(data_manager=rec.dm, meta=lambda req: {"user": "default"})
    app = Flask(__name__)
    datum.init_app(app, meta=lambda req: {"user": "app"}, map_service_errors=False)
    app.get("/")(lambda: str(request.dal.notes.user()))  # type: ignore[attr-defined]
    app.get("/missing", endpoint="missing")(lambda: request.dal.notes.get(7))  # type: ignore[attr-defined]
    client = app.test_client()
    assert client.get("/").text == "app"
    assert client.get("/missing").status_code == 500
