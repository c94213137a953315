"""The notes API on Flask (sync): ``gunicorn 'example_apps.flask_app:create_app()'``.

The views only turn HTTP into service calls; a ``ServiceError`` they raise
reaches the request's context (its transaction rolls back) and is answered
in JSON by the app's error handler.
"""

from __future__ import annotations

from flask import Blueprint, Flask, request
from flask_datum import Datum, get_dal
from polydatum import DataManager, ServiceError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from . import config
from .notes import MAX_BODY_BYTES, body_too_large, error_response, user_meta
from .notes.services import NotesContext, NotesDal
from .notes.statements import NoteJson, NotesPage

__all__ = ["create_app", "notes"]

#: A view's JSON (or empty) body; alone (status 200), or with its status and, for errors,
#: headers. A 200 goes alone: Flask sets its status once, where a tuple sets it again.
Body = NoteJson | NotesPage | dict[str, str] | str
Reply = tuple[Body, int] | tuple[Body, int, dict[str, str]]

notes = Blueprint("notes", __name__)


@notes.post("/notes")
def create_note() -> Reply:
    """``POST /notes``: create a note from the JSON body."""
    return get_dal(request, NotesDal).notes.create(request.get_data()), 201


@notes.get("/notes")
def list_notes() -> NotesPage:
    """``GET /notes?after=&limit=``: a page of the user's notes."""
    return get_dal(request, NotesDal).notes.list(
        request.args.get("after"), request.args.get("limit")
    )


@notes.get("/notes/<note_id>")
def read_note(note_id: str) -> NoteJson:
    """``GET /notes/{id}``."""
    return get_dal(request, NotesDal).notes.read(note_id)


@notes.put("/notes/<note_id>")
def update_note(note_id: str) -> NoteJson:
    """``PUT /notes/{id}``: replace its title and body."""
    return get_dal(request, NotesDal).notes.update(note_id, request.get_data())


@notes.delete("/notes/<note_id>")
def delete_note(note_id: str) -> Reply:
    """``DELETE /notes/{id}``."""
    get_dal(request, NotesDal).notes.delete(note_id)
    return "", 204


def service_error(exc: ServiceError) -> Reply:
    """A service's error (400, 401, 404, 413) in JSON; the context has rolled back."""
    status, body, headers = error_response(exc)
    return body, status, headers


def http_error(exc: HTTPException) -> Reply:
    """Unknown URLs, wrong methods, oversize bodies and 500s (a failed commit), in JSON."""
    if isinstance(exc, RequestEntityTooLarge):
        return service_error(body_too_large())
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        return {"error": exc.name}, 405, {"Allow": ", ".join(exc.valid_methods)}
    return {"error": exc.name}, exc.code or 500


def create_app(data_manager: DataManager[NotesDal, NotesContext] | None = None) -> Flask:
    """Return the app, on ``data_manager`` or the one ``$DATABASE_URL`` names."""
    dm = data_manager or config.data_manager()
    dal = dm.get_dal()
    app = Flask(__name__)
    # werkzeug answers 413 to a declared Content-Length over this, but stops reading a
    # chunked body at this many bytes and returns them as if that were all: one byte
    # over the limit lets parse_note tell a body too large (413) from one that fits.
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES + 1
    Datum(app, dm, meta=lambda req: user_meta(dal, req.headers.get("Authorization")))
    app.register_blueprint(notes)
    app.register_error_handler(ServiceError, service_error)
    app.register_error_handler(HTTPException, http_error)
    return app
