"""Failures: the view's exception reaches the context, a failed commit becomes the app's 500."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, abort, request
from flask_datum import Datum
from polydatum import DataAccessContext, DataManager, NotFound, ServiceError
from werkzeug.exceptions import InternalServerError

from .conftest import CommitFailed, Recorder


class Conflict(ServiceError):
    code = 409


class Odd(ServiceError):
    code = 499


def _use_conn() -> None:
    request.dal.notes.get(1)  # type: ignore[attr-defined]


def test_failed_commit_goes_through_custom_500_handler(app: Flask, rec: Recorder) -> None:
    """A commit that fails after a 2xx view gives the app's own 500 response, never the 2xx."""
    rec.fail_commit = True
    app.get("/")(lambda: str(_use_conn()))
    app.register_error_handler(
        500, lambda e: (f"custom:{type(e.original_exception).__name__}", 500)
    )
    response = app.test_client().get("/")
    assert (response.status_code, response.text) == (500, "custom:CommitFailed")


def test_failed_commit_gives_default_500(app: Flask, rec: Recorder) -> None:
    """Without a 500 handler, a failed commit gives Flask's default 500 page."""
    rec.fail_commit = True
    app.get("/")(lambda: "ok")
    assert app.test_client().get("/").status_code == 500


def test_failed_commit_propagates_when_testing(app: Flask, rec: Recorder) -> None:
    """With TESTING on, a failed commit is raised to the test, like any unhandled error."""
    app.config["TESTING"] = True
    rec.fail_commit = True
    app.get("/")(lambda: "ok")
    with pytest.raises(CommitFailed):
        app.test_client().get("/")


def test_handled_view_exception_reaches_middleware(app: Flask, rec: Recorder) -> None:
    """An exception an errorhandler turns into a response still rolls the context back."""

    @app.get("/")
    def index() -> str:
        raise KeyError("missing")

    app.register_error_handler(KeyError, lambda e: ("handled", 422))
    response = app.test_client().get("/")
    assert (response.status_code, response.text) == (422, "handled")
    assert rec.events == ["begin", "rollback:KeyError"]


def test_abort_reaches_middleware(app: Flask, rec: Recorder) -> None:
    """abort() gives its response and the context rolls back with the HTTP exception."""
    app.get("/")(lambda: abort(403))
    assert app.test_client().get("/").status_code == 403
    assert rec.events == ["begin", "rollback:Forbidden"]


def test_before_request_exception_reaches_middleware(app: Flask, rec: Recorder) -> None:
    """An exception from a before_request hook, handled by an errorhandler, rolls back."""

    @app.before_request
    def deny() -> None:
        raise PermissionError

    app.register_error_handler(PermissionError, lambda e: ("no", 401))
    app.get("/")(lambda: "ok")
    assert app.test_client().get("/").status_code == 401
    assert rec.events == ["begin", "rollback:PermissionError"]


def test_unhandled_exception_rolls_back_and_gives_500(app: Flask, rec: Recorder) -> None:
    """An unhandled view error rolls back and the client gets a 500."""
    app.get("/")(lambda: str(1 / 0))
    assert app.test_client().get("/").status_code == 500
    assert rec.events == ["begin", "rollback:ZeroDivisionError"]


def test_unhandled_exception_propagates_when_testing(app: Flask, rec: Recorder) -> None:
    """With PROPAGATE_EXCEPTIONS on, the view's error reaches the test after the rollback."""
    app.config["PROPAGATE_EXCEPTIONS"] = True
    app.get("/")(lambda: str(1 / 0))
    with pytest.raises(ZeroDivisionError):
        app.test_client().get("/")
    assert rec.events == ["begin", "rollback:ZeroDivisionError"]


def test_service_not_found_becomes_404(app: Flask, rec: Recorder) -> None:
    """An unhandled NotFound from a service becomes a 404 carrying its message."""
    app.get("/")(lambda: request.dal.notes.get(7))  # type: ignore[attr-defined]
    response = app.test_client().get("/")
    assert response.status_code == 404
    assert "No note 7." in response.text
    assert rec.events[-2:] == ["rollback:NotFound", "conn:teardown"]


@pytest.mark.parametrize(("error", "status"), [(Conflict, 409), (Odd, 499)])
def test_service_error_becomes_its_code(app: Flask, error: type[ServiceError], status: int) -> None:
    """A ServiceError subclass becomes a response with its code, known to werkzeug or not."""

    @app.get("/")
    def index() -> str:
        raise error("nope")

    assert app.test_client().get("/").status_code == status


def test_app_handler_for_service_error_wins(app: Flask) -> None:
    """A handler the app registered for a ServiceError class is used instead of the mapping."""
    app.get("/")(lambda: request.dal.notes.get(7))  # type: ignore[attr-defined]
    app.register_error_handler(NotFound, lambda e: ("mine", 410))
    assert app.test_client().get("/").status_code == 410


def test_app_status_handler_renders_mapped_error(app: Flask) -> None:
    """A mapped service error goes through the app's handler for that HTTP status."""
    app.get("/")(lambda: request.dal.notes.get(7))  # type: ignore[attr-defined]
    app.register_error_handler(404, lambda e: (f"page:{type(e.__cause__).__name__}", 404))
    assert app.test_client().get("/").text == "page:NotFound"


def test_mapping_can_be_switched_off(rec: Recorder) -> None:
    """With map_service_errors=False an unhandled NotFound is an ordinary 500."""
    app = Flask(__name__)
    Datum(app, rec.dm, map_service_errors=False)
    app.get("/")(lambda: request.dal.notes.get(7))  # type: ignore[attr-defined]
    assert app.test_client().get("/").status_code == 500


def test_service_error_500_takes_flasks_unhandled_path(app: Flask) -> None:
    """A plain ServiceError (code 500) reaches the 500 handler as the original exception."""
    seen: list[BaseException | None] = []

    @app.get("/")
    def index() -> str:
        raise ServiceError("broken")

    @app.errorhandler(500)
    def on_500(e: InternalServerError) -> tuple[str, int]:
        seen.append(e.original_exception)
        return "down", 500

    assert app.test_client().get("/").status_code == 500
    assert type(seen[0]) is ServiceError


def test_middleware_setup_failure_gives_500_and_no_active_context() -> None:
    """A middleware that fails while opening the context gives a 500 and leaves nothing active."""
    dm = DataManager()

    def broken(ctx: DataAccessContext) -> Any:
        raise ConnectionError("database down")
        yield

    dm.register_context_middleware(broken)
    app = Flask(__name__)
    Datum(app, dm)
    app.get("/")(lambda: "ok")
    assert app.test_client().get("/").status_code == 500
    assert dm.get_active_context() is None


def _raise_in_view(app: Flask, rec: Recorder) -> None:
    @app.get("/")
    def index() -> str:
        _use_conn()
        raise KeyError("x")


def _handled(app: Flask, rec: Recorder) -> None:
    _raise_in_view(app, rec)
    app.register_error_handler(KeyError, lambda e: ("handled", 400))


def _testing(app: Flask, rec: Recorder) -> None:
    _raise_in_view(app, rec)
    app.config["TESTING"] = True


def _abort(app: Flask, rec: Recorder) -> None:
    app.get("/")(lambda: (_use_conn(), abort(409)))


def _commit(app: Flask, rec: Recorder) -> None:
    rec.fail_commit = True
    app.get("/")(lambda: str(_use_conn()))


def _commit_testing(app: Flask, rec: Recorder) -> None:
    _commit(app, rec)
    app.config["TESTING"] = True


def _after_request(app: Flask, rec: Recorder) -> None:
    app.get("/")(lambda: str(_use_conn()))

    @app.after_request
    def broken(response: Any) -> Any:
        raise RuntimeError("after_request failed")


def _service_error(app: Flask, rec: Recorder) -> None:
    app.get("/")(lambda: request.dal.notes.get(7))  # type: ignore[attr-defined]


def _stream_error(app: Flask, rec: Recorder) -> None:
    @app.get("/")
    def index() -> Any:
        dal = request.dal  # type: ignore[attr-defined]

        def body() -> Any:
            dal.notes.get(1)
            yield "a"
            raise KeyError("lost")

        return body()


FAILURES: dict[str, Callable[[Flask, Recorder], None]] = {
    "handled view error": _handled,
    "unhandled view error": _raise_in_view,
    "view error under TESTING": _testing,
    "abort": _abort,
    "failed commit": _commit,
    "failed commit under TESTING": _commit_testing,
    "after_request error": _after_request,
    "service error": _service_error,
    "error while streaming": _stream_error,
}


@pytest.mark.parametrize("failure", FAILURES.values(), ids=FAILURES.keys())
def test_every_failure_tears_down_once(
    app: Flask, rec: Recorder, failure: Callable[[Flask, Recorder], None]
) -> None:
    """After any kind of failure the connection was torn down once and no context is active."""
    failure(app, rec)
    client = app.test_client()
    try:
        response = client.get("/")
        response.get_data()
        response.close()
    except Exception:
        pass
    assert rec.count("conn:setup") == 1
    assert rec.count("conn:teardown") == 1
    assert rec.active() is None


def test_routing_error_reaches_middleware(app: Flask, rec: Recorder) -> None:
    """A URL with no route gives Flask's 404 and the context rolls back with it."""
    assert app.test_client().get("/missing").status_code == 404
    assert rec.events == ["begin", "rollback:NotFound"]
