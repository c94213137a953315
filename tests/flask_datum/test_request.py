"""One data context per request, with the request and the user in meta, reached as request.dal."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import flask_login
import pytest
from flask import Flask, g, request
from flask_datum import Datum, get_context, get_dal
from polydatum import DataAccessContext
from polydatum.errors import NoActiveContextError

from .conftest import Recorder


def test_view_uses_request_dal(app: Flask, rec: Recorder) -> None:
    """A view reaches services through request.dal and the context commits."""
    app.get("/")(lambda: request.dal.notes.get(1))  # type: ignore[attr-defined]
    assert app.test_client().get("/").json == {"id": 1, "text": "first"}
    assert rec.events == ["begin", "conn:setup", "commit", "conn:teardown"]


def test_one_context_per_request(app: Flask, rec: Recorder) -> None:
    """Each request gets its own context, and none stays active afterwards."""
    seen: list[DataAccessContext] = []

    @app.get("/")
    def index() -> str:
        seen.append(request.datum_context)  # type: ignore[attr-defined]
        return "ok"

    client = app.test_client()
    client.get("/")
    client.get("/")
    assert len(seen) == 2
    assert seen[0] is not seen[1]
    assert rec.active() is None


def test_context_is_active_in_before_and_after_request_hooks(app: Flask, rec: Recorder) -> None:
    """before_request and after_request hooks see the same context as the view."""
    seen: list[DataAccessContext | None] = []
    app.before_request(lambda: seen.append(rec.active()))  # type: ignore[func-returns-value]

    @app.after_request
    def after(response: Any) -> Any:
        seen.append(rec.active())
        return response

    app.get("/")(lambda: str(seen.append(rec.active())))  # type: ignore[func-returns-value]
    app.test_client().get("/")
    assert seen[0] is not None
    assert seen == [seen[0]] * 3


def test_meta_holds_the_request(app: Flask) -> None:
    """meta.request is the real request object of the request."""
    app.get("/")(lambda: str(get_context().meta.request is request._get_current_object()))  # type: ignore[attr-defined]
    assert app.test_client().get("/").text == "True"


def test_user_is_none_without_flask_login(app: Flask) -> None:
    """Without Flask-Login, meta.user is None."""
    app.get("/")(lambda: repr(request.dal.notes.user()))  # type: ignore[attr-defined]
    assert app.test_client().get("/").text == "None"


def _login_app(rec: Recorder, loads: list[str], meta: Any = None) -> Flask:
    app = Flask(__name__)
    app.secret_key = "test"
    manager = flask_login.LoginManager(app)

    @manager.request_loader
    def load(req: Any) -> Any:
        name = req.headers.get("X-User")
        loads.append(name)
        if name is None:
            return None
        user = flask_login.UserMixin()
        user.id = name  # type: ignore[attr-defined]
        return user

    Datum(app, rec.dm, meta=meta)
    app.get("/user", endpoint="user")(lambda: str(request.dal.notes.user().id))  # type: ignore[attr-defined]
    app.get("/nothing", endpoint="nothing")(lambda: "ok")
    return app


def test_user_is_flask_login_current_user(rec: Recorder) -> None:
    """With Flask-Login, meta.user is the logged-in user of the request."""
    app = _login_app(rec, [])
    assert app.test_client().get("/user", headers={"X-User": "ada"}).text == "ada"


def test_user_is_loaded_only_when_read(rec: Recorder) -> None:
    """The user is not loaded for a request whose services never read it."""
    loads: list[str] = []
    _login_app(rec, loads).test_client().get("/nothing", headers={"X-User": "ada"})
    assert loads == []


def test_meta_callable_keeps_the_lazy_login_user(rec: Recorder) -> None:
    """With meta= adding other entries, meta.user is still Flask-Login's user, loaded on read."""
    loads: list[str] = []
    app = _login_app(rec, loads, meta=lambda req: {"tenant": "t1"})
    client = app.test_client()
    client.get("/nothing", headers={"X-User": "ada"})
    assert loads == []
    assert client.get("/user", headers={"X-User": "ada"}).text == "ada"
    assert loads == ["ada"]


def test_meta_callable_adds_entries(rec: Recorder) -> None:
    """meta= receives the request and its entries join (and override) the defaults."""
    app = Flask(__name__)
    Datum(app, rec.dm, meta=lambda req: {"user": req.headers["X-User"], "tenant": "t1"})
    app.get("/")(lambda: f"{request.dal.notes.user()}/{get_context().meta.tenant}")  # type: ignore[attr-defined]
    assert app.test_client().get("/", headers={"X-User": "bob"}).text == "bob/t1"


def test_get_dal_is_request_dal(app: Flask) -> None:
    """get_dal() returns the same DAL as request.dal."""
    app.get("/")(lambda: str(get_dal() is request.dal))  # type: ignore[attr-defined]
    assert app.test_client().get("/").text == "True"


def test_dal_outside_a_request_raises(app: Flask) -> None:
    """Using get_dal() with no request active raises Flask's clear error."""
    with pytest.raises(RuntimeError, match="request context"):
        get_dal()


def test_dal_in_undispatched_request_raises(app: Flask) -> None:
    """In a test_request_context that was never dispatched, request.dal says how to get one."""
    with app.test_request_context("/"), pytest.raises(NoActiveContextError, match="test_client"):
        request.dal  # type: ignore[attr-defined]  # noqa: B018


def test_dal_after_the_request_raises(app: Flask) -> None:
    """A request object kept after its request refuses request.dal."""
    kept: list[Any] = []
    app.get("/")(lambda: str(kept.append(request._get_current_object())))  # type: ignore[attr-defined,func-returns-value]
    app.test_client().get("/")
    with pytest.raises(NoActiveContextError, match="closed"):
        kept[0].dal  # noqa: B018


def test_dal_in_teardown_raises(app: Flask) -> None:
    """teardown_request runs after the context closed: request.dal raises there."""
    errors: list[BaseException] = []

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        try:
            request.dal  # type: ignore[attr-defined]  # noqa: B018
        except NoActiveContextError as err:
            errors.append(err)

    app.get("/")(lambda: "ok")
    app.test_client().get("/")
    assert len(errors) == 1


@pytest.fixture
def pushed(app: Flask) -> Iterator[Flask]:
    """An app context pushed for the whole test, as many test suites do."""
    with app.app_context():
        yield app


def test_requests_under_a_pushed_app_context(pushed: Flask, rec: Recorder) -> None:
    """With an app context already pushed (g shared), each request still gets its own context."""
    seen: list[DataAccessContext] = []

    @pushed.get("/")
    def index() -> str:
        g.count = g.get("count", 0) + 1
        seen.append(request.datum_context)  # type: ignore[attr-defined]
        request.dal.notes.get(1)  # type: ignore[attr-defined]
        return str(g.count)

    client = pushed.test_client()
    assert client.get("/").text == "1"
    assert client.get("/").text == "2"
    assert seen[0] is not seen[1]
    assert rec.count("conn:teardown") == 2
    assert rec.active() is None


def test_with_client_keeps_request_but_closes_context(app: Flask, rec: Recorder) -> None:
    """Inside `with client:` the request stays pushed after the response; its context is closed."""
    app.get("/")(lambda: "ok")
    with app.test_client() as client:
        client.get("/")
        assert rec.events == ["begin", "commit"]
        with pytest.raises(NoActiveContextError, match="closed"):
            request.dal  # type: ignore[attr-defined]  # noqa: B018
    assert rec.events == ["begin", "commit"]


def test_flask_login_user_outside_the_request_says_why(rec: Recorder) -> None:
    """A Flask-Login meta.user read after the request is gone raises an error saying what to do."""
    app = _login_app(rec, [])
    errors: list[str] = []

    @app.get("/stream", endpoint="stream")
    def stream() -> Any:
        dal = request.dal  # type: ignore[attr-defined]

        def body() -> Iterator[str]:
            try:
                dal.notes.user()
            except RuntimeError as err:
                errors.append(str(err))
            yield "done"

        return body()

    app.test_client().get("/stream", headers={"X-User": "ada"}).get_data()
    assert len(errors) == 1
    assert "stream_with_context" in errors[0]


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
def test_request_and_context_are_freed_without_gc(app: Flask, streamed: bool) -> None:
    """The request and its context leave no reference cycle: they are freed as soon as unused."""
    refs: list[weakref.ref[Any]] = []

    @app.get("/")
    def index() -> Any:
        refs.append(weakref.ref(request._get_current_object()))  # type: ignore[attr-defined]
        refs.append(weakref.ref(request.datum_context))  # type: ignore[attr-defined]
        return iter(["ok"]) if not streamed else (chunk for chunk in ["ok"])

    client = app.test_client()
    gc.collect()
    gc.disable()
    try:
        response = client.get("/")
        response.get_data()
        response.close()
        del response
        assert [ref() for ref in refs] == [None, None]
    finally:
        gc.enable()
