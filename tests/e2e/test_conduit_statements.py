"""Conduit's statements per request: a fixed number for each endpoint, whatever the page holds.

The Flask and FastAPI apps run in process (their test clients), on SQLite and
PostgreSQL, with the statements the engine sends counted
(``example_apps._test_hooks.sent_statements``): no N+1 on lists, and the
figures docs/examples.md gives for each endpoint.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine
from starlette.testclient import TestClient

from example_apps._test_hooks import sent_statements
from example_apps.conduit import build_data_manager, fastapi_app, flask_app, prepare_database

from ._apps import CONDUIT_SECRET, fresh_database


class Client:
    """One in-process app's client, answering ``(status, JSON)`` for the tests."""

    def __init__(self, request: Callable[..., Any], decode: Callable[[Any], Any]) -> None:
        self._request = request
        self._decode = decode

    def call(
        self, method: str, path: str, token: str | None = None, body: object = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Token {token}"} if token else {}
        response = self._request(method, f"/api{path}", json=body, headers=headers)
        return response.status_code, self._decode(response)


@dataclass
class Conduit:
    """An app in process, its engine, and two users' tokens."""

    client: Client
    engine: Engine
    ann: str
    bob: str

    def counted(
        self, method: str, path: str, token: str | None = None, body: object = None
    ) -> tuple[int, Any, int]:
        """Make one request; return its status, its JSON and how many statements it sent."""
        with sent_statements(self.engine) as sent:
            status, reply = self.client.call(method, path, token, body)
        return status, reply, len(sent)

    def register(self) -> tuple[str, str]:
        name = f"u{uuid.uuid4().hex[:10]}"
        user = {"username": name, "email": f"{name}@example.org", "password": "password"}
        status, reply = self.client.call("POST", "/users", body={"user": user})
        assert status == 201, reply
        return name, reply["user"]["token"]

    def article(self, token: str, tags: tuple[str, ...] = ("dragons", "training")) -> str:
        fields = {"title": "Dragons", "description": "How?", "body": "Carefully."}
        status, reply = self.client.call(
            "POST", "/articles", token, {"article": {**fields, "tagList": list(tags)}}
        )
        assert status == 201, reply
        slug: str = reply["article"]["slug"]
        return slug


def _client(framework: str, url: str, stack: ExitStack) -> tuple[Client, Engine]:
    dm = build_data_manager(url, CONDUIT_SECRET)
    engine: Engine = dm.get_resource("db").engine  # type: ignore[union-attr]
    stack.callback(engine.dispose)
    if framework == "flask":
        app: Flask = flask_app.create_app(dm)
        flask_client = app.test_client()

        def request(method: str, path: str, **options: Any) -> Any:
            return flask_client.open(path, method=method, **options)

        return Client(request, lambda response: response.get_json(silent=True)), engine
    test_client = stack.enter_context(TestClient(fastapi_app.create_app(dm)))
    return Client(test_client.request, lambda r: r.json() if r.content else None), engine


@pytest.fixture(
    scope="module",
    params=[(f, b) for b in ("sqlite", "postgresql") for f in ("flask", "fastapi")],
    ids=lambda param: "-".join(param),
)
def conduit(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Conduit]:
    """An in-process app on a fresh database, with users ann and bob."""
    framework, backend = request.param
    with ExitStack() as stack:
        name = f"statements_{framework}"
        url = fresh_database(stack, backend, name, tmp_path_factory.mktemp(framework))
        prepare_database(url)
        client, engine = _client(framework, url, stack)
        app = Conduit(client, engine, "", "")
        app.ann, app.bob = app.register()[1], app.register()[1]
        yield app


def test_the_article_list_sends_as_many_statements_for_20_articles_as_for_one(
    conduit: Conduit,
) -> None:
    """Listing 20 articles (authors, tags, favourites, follows) costs what listing one does."""
    name, token = conduit.register()
    conduit.article(token)
    path = f"/articles?author={name}"
    one = [conduit.counted("GET", path, reader)[2] for reader in (None, conduit.bob)]
    for n in range(19):
        slug = conduit.article(token, tags=(f"tag{n}", "dragons"))
        if n % 2:
            conduit.client.call("POST", f"/articles/{slug}/favorite", conduit.bob)
    conduit.client.call("POST", f"/profiles/{name}/follow", conduit.bob)
    status, reply, _ = conduit.counted("GET", path, conduit.bob)
    assert (status, len(reply["articles"]), reply["articlesCount"]) == (200, 20, 20)
    assert reply["articles"][1]["favorited"]
    assert reply["articles"][1]["author"]["following"]
    twenty = [conduit.counted("GET", path, reader)[2] for reader in (None, conduit.bob)]
    # count + page + tags; a logged-in reader adds the lookup of their user.
    assert one == twenty == [3, 4]


def test_the_feed_and_the_comments_do_not_grow_with_their_length(conduit: Conduit) -> None:
    """The feed and an article's comments cost as many statements for ten items as for one."""
    name, token = conduit.register()
    _, reader = conduit.register()
    conduit.client.call("POST", f"/profiles/{name}/follow", reader)
    slug = conduit.article(token)
    conduit.client.call("POST", f"/articles/{slug}/comments", reader, {"comment": {"body": "1"}})
    paths = ("/articles/feed", f"/articles/{slug}/comments")
    first = [conduit.counted("GET", path, reader)[2] for path in paths]
    for n in range(9):
        conduit.article(token)
        comment = {"comment": {"body": f"{n}"}}
        conduit.client.call("POST", f"/articles/{slug}/comments", token, comment)
    status, reply, _ = conduit.counted("GET", "/articles/feed", reader)
    assert (status, reply["articlesCount"]) == (200, 10)
    ten = [conduit.counted("GET", path, reader)[2] for path in paths]
    assert first == ten == [4, 3]


# (id, method, path, who ("ann", "bob" or None), body, statements). "{slug}" is an article
# of Ann's with two tags, "{comment}" a comment of Ann's on it, "{new}" a fresh name (no
# slug collision: a colliding title costs one more statement, the retried insert).
_NEW_USER = {"user": {"username": "{new}", "email": "{new}@x.org", "password": "password"}}
_LOGIN = {"user": {"email": "{ann_email}", "password": "password"}}
_ARTICLE = {"title": "{new}", "description": "D", "body": "B"}
_RETITLED = {"article": {"title": "{new}", "tagList": ["x"]}}
_TAGGED = {"article": {**_ARTICLE, "tagList": ["a", "b", "c"]}}
_ENDPOINTS: list[tuple[str, str, str, str | None, Any, int]] = [
    ("register", "POST", "/users", None, _NEW_USER, 2),
    ("login", "POST", "/users/login", None, _LOGIN, 1),
    ("current-user", "GET", "/user", "ann", None, 1),
    ("update-bio", "PUT", "/user", "ann", {"user": {"bio": "Hi"}}, 2),
    ("update-username", "PUT", "/user", "ann", {"user": {"username": "{new}"}}, 3),
    ("profile", "GET", "/profiles/{ann}", None, None, 1),
    ("profile-logged-in", "GET", "/profiles/{ann}", "bob", None, 2),
    ("follow", "POST", "/profiles/{ann}/follow", "bob", None, 3),
    ("unfollow", "DELETE", "/profiles/{ann}/follow", "bob", None, 3),
    ("list", "GET", "/articles", None, None, 3),
    ("list-logged-in", "GET", "/articles?tag=dragons", "bob", None, 4),
    ("feed", "GET", "/articles/feed", "bob", None, 4),
    ("create", "POST", "/articles", "ann", {"article": _ARTICLE}, 2),
    ("create-with-tags", "POST", "/articles", "ann", _TAGGED, 4),
    ("article", "GET", "/articles/{slug}", None, None, 2),
    ("article-logged-in", "GET", "/articles/{slug}", "bob", None, 3),
    ("update-article", "PUT", "/articles/{slug}", "ann", {"article": {"body": "B2"}}, 4),
    ("retitle-and-retag", "PUT", "/articles/{slug}", "ann", _RETITLED, 7),
    ("delete-article", "DELETE", "/articles/{slug}", "ann", None, 3),
    ("favourite", "POST", "/articles/{slug}/favorite", "bob", None, 5),
    ("unfavourite", "DELETE", "/articles/{slug}/favorite", "ann", None, 4),
    ("comments", "GET", "/articles/{slug}/comments", None, None, 2),
    ("comment", "POST", "/articles/{slug}/comments", "bob", {"comment": {"body": "Hi"}}, 3),
    ("delete-comment", "DELETE", "/articles/{slug}/comments/{comment}", "ann", None, 3),
    ("tags", "GET", "/tags", None, None, 1),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "who", "body", "statements"),
    [case[1:] for case in _ENDPOINTS],
    ids=[case[0] for case in _ENDPOINTS],
)
def test_each_endpoint_sends_its_fixed_number_of_statements(
    conduit: Conduit, method: str, path: str, who: str | None, body: Any, statements: int
) -> None:
    """Each endpoint succeeds with the number of statements docs/examples.md gives for it."""
    ann_token = conduit.ann
    ann = conduit.client.call("GET", "/user", ann_token)[1]["user"]["username"]  # it may change
    slug = conduit.article(ann_token)
    comment = {"comment": {"body": "x"}}
    _, reply = conduit.client.call("POST", f"/articles/{slug}/comments", ann_token, comment)
    values = {
        "{ann}": ann,
        "{ann_email}": conduit.client.call("GET", "/user", ann_token)[1]["user"]["email"],
        "{slug}": slug,
        "{comment}": str(reply["comment"]["id"]),
        "{new}": f"n{uuid.uuid4().hex[:10]}",
    }

    def filled(text: str) -> str:
        for key, value in values.items():
            text = text.replace(key, value)
        return text

    data = None if body is None else json.loads(filled(json.dumps(body)))
    token = {"ann": ann_token, "bob": conduit.bob, None: None}[who]
    status, reply, sent = conduit.counted(method, filled(path), token, data)
    assert status in (200, 201, 204), reply
    assert sent == statements, sent
