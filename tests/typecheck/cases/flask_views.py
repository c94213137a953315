"""Flask: ``get_dal(request, Dal)`` is the app's DAL in a view (run: through the test client)."""

from __future__ import annotations

from typing import assert_type

from flask import Flask, request
from flask_datum import Datum, get_dal, get_data_manager
from notes_app import Dal, Notes, User, build
from polydatum import DataAccessLayer, DataManager


def create_app() -> Flask:
    app = Flask(__name__)
    dm = build()
    Datum(app, dm, meta=lambda req: {"user": User(req.headers.get("X-User", "ann"))})

    @app.post("/notes")
    def create_note() -> tuple[dict[str, int], int]:
        dal = get_dal(request, Dal)
        assert_type(dal, Dal)
        assert_type(dal.notes, Notes)
        note_id = dal.notes.create(request.get_data(as_text=True))
        assert_type(note_id, int)
        return {"id": note_id, "again": dal.notes.create("again")}, 201

    @app.get("/untyped")
    def untyped() -> str:
        dal = get_dal()
        assert_type(dal, DataAccessLayer)  # the untyped spelling: every name is Any
        title: str = dal.notes.title(dal.notes.create("x"))
        return title

    return app


def main() -> None:
    app = create_app()
    assert_type(get_data_manager(app), DataManager)
    client = app.test_client()
    created = client.post("/notes", data="milk")
    assert created.status_code == 201, created.text
    assert created.json == {"id": 1, "again": 2}
    assert client.get("/untyped").text == "x"


if __name__ == "__main__":
    main()
