"""The example apps' JSON API, one suite for every app under its real server, on both databases.

Each app (Flask and Django under gunicorn, Django and Starlette under uvicorn)
runs once per module and database through ``python -m example_apps``; the
tests talk to it over HTTP and look at the database directly.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from example_apps._test_hooks import FAIL_COMMIT_HEADER
from example_apps.notes import MAX_BODY_BYTES, issue_token
from example_apps.notes.wiring import make_engine

from ._apps import APPS, note_rows, postgres_schema, serve

BACKENDS = ["sqlite", "postgresql"]


@dataclass
class Api:
    """A served app, a client for each of two users, and the database behind it."""

    ann: httpx.Client
    bob: httpx.Client
    anonymous: httpx.Client
    engine: Engine
    url: str
    token: str

    def create(self, title: str = "Buy milk", body: str = "oat") -> dict[str, Any]:
        response = self.ann.post("/notes", json={"title": title, "body": body})
        assert response.status_code == 201, response.text
        note: dict[str, Any] = response.json()
        return note


@pytest.fixture(
    scope="module",
    params=[(app, backend) for backend in BACKENDS for app in APPS],
    ids=lambda param: "-".join(param),
)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One app under its server on one database, with tokens for ann and bob."""
    app, backend = request.param
    with ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp(app) / 'notes.sqlite3'}"
        else:
            prefix = f"polydatum_examples_e2e_{app.replace('-', '_')}"
            url, _ = stack.enter_context(postgres_schema(prefix))
        server = stack.enter_context(serve(app, url))
        tokens = {name: issue_token(url, name) for name in ("ann", "bob")}
        engine = make_engine(url)
        clients = {
            name: httpx.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            for name, token in tokens.items()
        }
        anonymous = httpx.Client(base_url=server.url, timeout=30)
        try:
            yield Api(clients["ann"], clients["bob"], anonymous, engine, server.url, tokens["ann"])
        finally:
            for client in (*clients.values(), anonymous):
                client.close()
            engine.dispose()


# -- the API -----------------------------------------------------------------


def test_create_answers_201_with_the_note(api: Api) -> None:
    """POST /notes stores the note and answers 201 with its id, title, body and no word count."""
    response = api.ann.post("/notes", json={"title": "Buy milk", "body": "oat"})
    assert response.status_code == 201
    note = response.json()
    assert note == {"id": note["id"], "title": "Buy milk", "body": "oat", "words": None}
    assert (note["id"], "Buy milk", "oat") in [(r[0], r[2], r[3]) for r in note_rows(api.engine)]


def test_create_without_body_field_stores_an_empty_body(api: Api) -> None:
    """``body`` is optional and defaults to an empty string."""
    response = api.ann.post("/notes", json={"title": "Call Ann"})
    assert (response.status_code, response.json()["body"]) == (201, "")


def test_read_answers_the_users_note(api: Api) -> None:
    """GET /notes/{id} answers 200 with the note its owner created."""
    note = api.create("Read me")
    response = api.ann.get(f"/notes/{note['id']}")
    assert (response.status_code, response.json()) == (200, note)


def test_list_answers_the_users_notes_oldest_first(api: Api) -> None:
    """GET /notes lists the user's notes in creation order."""
    created = [api.create(f"list {n}") for n in range(3)]
    listed = api.ann.get("/notes", params={"after": created[0]["id"] - 1}).json()["notes"]
    assert listed[:3] == created


def test_list_pages_with_after_and_limit(api: Api) -> None:
    """``after`` skips ids up to it and ``limit`` caps the page."""
    created = [api.create(f"page {n}") for n in range(3)]
    page = api.ann.get("/notes", params={"after": created[0]["id"], "limit": 1}).json()
    assert page == {"notes": [created[1]]}


def test_update_replaces_title_and_body(api: Api) -> None:
    """PUT /notes/{id} replaces the note's fields and answers the new note."""
    note = api.create("Old", "old body")
    response = api.ann.put(f"/notes/{note['id']}", json={"title": "New", "body": "new body"})
    expected = {"id": note["id"], "title": "New", "body": "new body", "words": None}
    assert (response.status_code, response.json()) == (200, expected)
    assert api.ann.get(f"/notes/{note['id']}").json() == expected


def test_delete_answers_204_and_the_note_is_gone(api: Api) -> None:
    """DELETE /notes/{id} answers 204 with no body; the note then reads as 404."""
    note = api.create("Delete me")
    response = api.ann.delete(f"/notes/{note['id']}")
    assert (response.status_code, response.content) == (204, b"")
    assert api.ann.get(f"/notes/{note['id']}").status_code == 404


def test_unknown_url_answers_404_in_json(api: Api) -> None:
    """A URL outside the API answers 404 with a JSON error."""
    response = api.ann.get("/nothing-here")
    assert response.status_code == 404
    assert isinstance(response.json()["error"], str)


# -- authorisation between two users ---------------------------------------------


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PUT", {"title": "Taken over"}), ("DELETE", None)],
)
def test_another_users_note_is_not_found(api: Api, method: str, body: object) -> None:
    """Bob reading, replacing or deleting Ann's note gets 404 (not 403) and nothing changes."""
    note = api.create("Ann's secret")
    before = note_rows(api.engine)
    response = api.bob.request(method, f"/notes/{note['id']}", json=body)
    assert response.status_code == 404
    assert response.json() == {"error": f"No note {note['id']}."}
    assert note_rows(api.engine) == before


def test_list_shows_only_the_users_own_notes(api: Api) -> None:
    """Bob's list never contains Ann's notes."""
    ann_note = api.create("Ann only")
    bob_note = api.bob.post("/notes", json={"title": "Bob only"}).json()
    bob_ids = {note["id"] for note in api.bob.get("/notes", params={"limit": 100}).json()["notes"]}
    assert bob_note["id"] in bob_ids
    assert ann_note["id"] not in bob_ids


# -- bad input: the right 4xx, a JSON error, no row changed ----------------------------

_BAD_TOKEN = {"Authorization": "Bearer not-a-known-token"}
_TOO_BIG = json.dumps({"title": "big", "body": "x" * MAX_BODY_BYTES}).encode()

# (case id, method, path ("{id}" is an existing note of Ann), headers, raw body, status)
_BAD_REQUESTS: list[tuple[str, str, str, dict[str, str] | None, bytes | None, int]] = [
    ("no-token-list", "GET", "/notes", {"Authorization": ""}, None, 401),
    ("no-token-create", "POST", "/notes", {"Authorization": ""}, b'{"title": "x"}', 401),
    ("no-token-delete", "DELETE", "/notes/{id}", {"Authorization": ""}, None, 401),
    ("basic-scheme", "GET", "/notes/{id}", {"Authorization": "Basic YW5uOnB3"}, None, 401),
    ("empty-bearer", "GET", "/notes/{id}", {"Authorization": "Bearer"}, None, 401),
    ("unknown-token-read", "GET", "/notes/{id}", _BAD_TOKEN, None, 401),
    ("unknown-token-update", "PUT", "/notes/{id}", _BAD_TOKEN, b'{"title": "x"}', 401),
    ("not-json", "POST", "/notes", None, b"title=x", 400),
    ("not-utf8", "POST", "/notes", None, b'{"title": "\xff"}', 400),
    ("empty-body", "POST", "/notes", None, b"", 400),
    ("json-array", "POST", "/notes", None, b'["x"]', 400),
    ("missing-title", "POST", "/notes", None, b'{"body": "x"}', 400),
    ("missing-title-put", "PUT", "/notes/{id}", None, b'{"body": "x"}', 400),
    ("title-not-string", "POST", "/notes", None, b'{"title": 42}', 400),
    ("title-null", "PUT", "/notes/{id}", None, b'{"title": null}', 400),
    ("body-not-string", "POST", "/notes", None, b'{"title": "x", "body": ["y"]}', 400),
    ("blank-title", "POST", "/notes", None, b'{"title": "   "}', 400),
    ("title-too-long", "POST", "/notes", None, json.dumps({"title": "x" * 201}).encode(), 400),
    ("unknown-field", "POST", "/notes", None, b'{"title": "x", "owner_id": 1}', 400),
    # The server may close the connection after a 413 rather than read the body's rest.
    ("oversize-create", "POST", "/notes", {"Connection": "close"}, _TOO_BIG, 413),
    ("oversize-update", "PUT", "/notes/{id}", {"Connection": "close"}, _TOO_BIG, 413),
    ("id-not-a-number", "GET", "/notes/abc", None, None, 400),
    ("id-zero", "DELETE", "/notes/0", None, None, 400),
    ("id-negative", "PUT", "/notes/-1", None, b'{"title": "x"}', 400),
    ("id-too-large", "GET", "/notes/99999999999", None, None, 400),
    ("id-absent", "DELETE", "/notes/2147483647", None, None, 404),
    ("limit-zero", "GET", "/notes?limit=0", None, None, 400),
    ("limit-too-large", "GET", "/notes?limit=101", None, None, 400),
    ("after-not-a-number", "GET", "/notes?after=x", None, None, 400),
]


@pytest.mark.parametrize(
    ("method", "path", "headers", "content", "status"),
    [case[1:] for case in _BAD_REQUESTS],
    ids=[case[0] for case in _BAD_REQUESTS],
)
def test_bad_request_answers_4xx_and_changes_nothing(
    api: Api,
    method: str,
    path: str,
    headers: dict[str, str] | None,
    content: bytes | None,
    status: int,
) -> None:
    """Each bad request gets its 4xx with a JSON error message, and no row changes."""
    note = api.create("Untouched")
    before = note_rows(api.engine)
    response = api.ann.request(
        method, path.replace("{id}", str(note["id"])), headers=headers, content=content
    )
    assert response.status_code == status, response.text
    assert isinstance(response.json()["error"], str)
    assert note_rows(api.engine) == before


def test_unauthorized_asks_for_a_bearer_token(api: Api) -> None:
    """A 401 carries ``WWW-Authenticate: Bearer`` and says how to send the token."""
    response = api.anonymous.get("/notes")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer <token>" in response.json()["error"]


# -- a transaction that fails --------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/notes", {"title": "Lost"}),
        ("PUT", "/notes/{id}", {"title": "Lost"}),
        ("DELETE", "/notes/{id}", None),
    ],
)
def test_failed_commit_answers_500_and_writes_nothing(
    api: Api, method: str, path: str, body: object
) -> None:
    """When the request's commit fails the client gets a 500 and the database is unchanged."""
    note = api.create("Kept")
    before = note_rows(api.engine)
    response = api.ann.request(
        method,
        path.replace("{id}", str(note["id"])),
        json=body,
        headers={FAIL_COMMIT_HEADER: "1"},
    )
    assert response.status_code == 500
    assert response.json() == {"error": "Internal Server Error"}
    assert note_rows(api.engine) == before


# -- hostile input: a 400 naming the problem, nothing written ----------------------

_DEEP = b"[" * 5000 + b"]" * 5000  # 10 KB

# (case id, method, path, raw body, a word the error must hold)
_HOSTILE: list[tuple[str, str, str, bytes, str]] = [
    ("nul-title-create", "POST", "/notes", b'{"title": "a\\u0000b"}', "NUL"),
    ("nul-body-update", "PUT", "/notes/{id}", b'{"title": "a", "body": "\\u0000"}', "NUL"),
    ("surrogate-title-create", "POST", "/notes", b'{"title": "\\ud800"}', "surrogate"),
    (
        "surrogate-body-update",
        "PUT",
        "/notes/{id}",
        b'{"title": "a", "body": "x\\udfff"}',
        "surrogate",
    ),
    ("deep-array-create", "POST", "/notes", _DEEP, "nested"),
    ("deep-array-update", "PUT", "/notes/{id}", _DEEP, "nested"),
    ("deep-field-create", "POST", "/notes", b'{"title": "a", "body": ' + _DEEP + b"}", "nested"),
    ("huge-int-create", "POST", "/notes", b'{"title": "a", "n": ' + b"9" * 5000 + b"}", "digits"),
    ("huge-int-update", "PUT", "/notes/{id}", b'{"n": ' + b"9" * 5000 + b"}", "digits"),
    ("surrogate-field-name", "POST", "/notes", b'{"title": "a", "\\ud800\\u0000": 1}', "Unknown"),
]


@pytest.mark.parametrize(
    ("method", "path", "content", "word"),
    [case[1:] for case in _HOSTILE],
    ids=[case[0] for case in _HOSTILE],
)
def test_hostile_input_answers_400_naming_the_problem(
    api: Api, method: str, path: str, content: bytes, word: str
) -> None:
    """NUL, lone surrogates, deep nesting and huge numbers get a 400 whose error names them."""
    note = api.create("Untouched")
    before = note_rows(api.engine)
    headers = {"Content-Type": "application/json"}
    url = path.replace("{id}", str(note["id"]))
    response = api.ann.request(method, url, headers=headers, content=content)
    assert response.status_code == 400, response.text
    assert word in response.json()["error"]
    assert note_rows(api.engine) == before


@pytest.mark.parametrize("ensure_ascii", [True, False], ids=["ascii-escapes", "utf-8"])
def test_the_largest_valid_note_fits_in_either_encoding(api: Api, ensure_ascii: bool) -> None:
    """200 + 5,000 emoji (12 bytes each as json.dumps escapes them) are stored, not refused."""
    title, body = "\N{GRINNING FACE}" * 200, "\N{PILE OF POO}" * 5000
    raw = json.dumps({"title": title, "body": body}, ensure_ascii=ensure_ascii).encode()
    headers = {"Content-Type": "application/json"}
    response = api.ann.post("/notes", content=raw, headers=headers)
    assert response.status_code == 201, response.text[:200]
    note_id = response.json()["id"]
    assert [(r[2], r[3]) for r in note_rows(api.engine) if r[0] == note_id] == [(title, body)]


# -- bodies sent in chunks, and bodies over the limit ---------------------------------


def test_a_chunked_note_is_created(api: Api) -> None:
    """A valid note sent with ``Transfer-Encoding: chunked`` is created like any other."""
    parts = [b'{"title": "Chu', b'nked", "bo', b'dy": "in parts"}']
    response = api.ann.post("/notes", content=iter(parts))
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 201, response.text
    assert (response.json()["title"], response.json()["body"]) == ("Chunked", "in parts")


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _answer_to_a_body_cut_short(api: Api, method: str, path: str, framing: bytes) -> Any:
    """Send a request whose body never ends; return the response the app gives meanwhile.

    Only ``2 * MAX_BODY_BYTES`` bytes of the body are sent, and then nothing (no last
    chunk, or fewer bytes than declared): an app that reads the whole body before
    answering waits for the rest until the socket's timeout fails the test.
    """
    host, port = api.url.removeprefix("http://").split(":")
    sent = b'{"title": "big", "body": "' + b"x" * (2 * MAX_BODY_BYTES)
    head = (
        (
            f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {api.token}\r\n"
            "Content-Type: application/json\r\n"
        ).encode()
        + framing
        + b"\r\n"
    )
    body = b"".join(_chunk(sent[i : i + 16384]) for i in range(0, len(sent), 16384))
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(head + (body if b"chunked" in framing else sent))
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, json.loads(response.read())


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize(
    "framing",
    [b"Transfer-Encoding: chunked\r\n", b"Content-Length: 10485760\r\n"],
    ids=["chunked", "declared-10MB"],
)
def test_an_oversize_body_gets_413_before_it_is_read(api: Api, method: str, framing: bytes) -> None:
    """A body over the limit, chunked or declared 10 MB, is refused with 413 without reading on."""
    note = api.create("Untouched")
    before = note_rows(api.engine)
    path = "/notes" if method == "POST" else f"/notes/{note['id']}"
    status, body = _answer_to_a_body_cut_short(api, method, path, framing)
    assert (status, body) == (
        413,
        {"error": f"The request body must be at most {MAX_BODY_BYTES} bytes."},
    )
    assert note_rows(api.engine) == before


def test_a_wrong_method_answers_405_in_json(api: Api) -> None:
    """A method the URL does not take answers 405 with a JSON error and the ``Allow`` header."""
    note = api.create("Not patched")
    response = api.ann.request("PATCH", f"/notes/{note['id']}", json={"title": "x"})
    assert response.status_code == 405
    assert response.json() == {"error": "Method Not Allowed"}
    allowed = set(response.headers["allow"].replace(" ", "").split(","))
    assert {"GET", "PUT", "DELETE"} <= allowed  # HEAD and OPTIONS may be there too
    assert "PATCH" not in allowed


# -- the connection after a 500 ------------------------------------------------------


def test_after_a_500_the_connection_serves_the_next_request(api: Api) -> None:
    """A keep-alive client's next request after a 500 is answered, unless the 500 said close."""
    note = api.create("Kept")
    host, port = api.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=20)
    auth = {"Authorization": f"Bearer {api.token}"}
    try:
        conn.request(
            "POST", "/notes", body=b'{"title": "Lost"}', headers={**auth, FAIL_COMMIT_HEADER: "1"}
        )
        failed = conn.getresponse()
        assert (failed.status, json.loads(failed.read())) == (
            500,
            {"error": "Internal Server Error"},
        )
        if failed.will_close:
            # The server said so: a client opens a new connection, nothing is lost.
            assert failed.getheader("Connection", "").lower() == "close"
            return
        sock = conn.sock
        conn.request("GET", f"/notes/{note['id']}", headers=auth)
        response = conn.getresponse()
        assert (response.status, json.loads(response.read())) == (200, note)
        assert conn.sock is sock  # the same connection served it
    finally:
        conn.close()
