"""What the RealWorld suite does not check, against every Conduit server on both databases.

Each app (Flask and Django under gunicorn, Django and FastAPI under uvicorn)
runs once per module and database through ``python -m example_apps --app
conduit``; the tests talk to it over HTTP and compare the database's tables
before and after: a refused request changes nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import Engine, select

from example_apps._test_hooks import FAIL_COMMIT_HEADER
from example_apps.conduit.schema import metadata
from example_apps.conduit.validation import MAX_BODY_BYTES, MAX_LIMIT, MAX_TAGS
from example_apps.engines import make_engine

from ._apps import CONDUIT_APPS, CONDUIT_SECRET, fresh_database, serve

BACKENDS = ["sqlite", "postgresql"]


def errors(response: httpx.Response) -> list[str]:
    """The messages of an answer in the spec's error shape (fails on any other shape)."""
    body = response.json()
    assert list(body) == ["errors"]
    assert list(body["errors"]) == ["body"]
    messages: list[str] = body["errors"]["body"]
    assert messages
    assert all(isinstance(message, str) for message in messages)
    return messages


@dataclass
class Api:
    """A served Conduit, a client for each of two users and one anonymous, and its database."""

    url: str
    ann: httpx.Client
    bob: httpx.Client
    anonymous: httpx.Client
    engine: Engine

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table, to compare before and after a request."""
        with self.engine.connect() as conn:
            return {
                table.name: sorted(tuple(row) for row in conn.execute(select(table)))
                for table in metadata.sorted_tables
            }

    def client(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Token {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def register(self) -> tuple[str, httpx.Client]:
        """A new user: their name and a client logged in as them (close it after use)."""
        name = f"u{uuid.uuid4().hex[:10]}"
        user = {"username": name, "email": f"{name}@example.org", "password": "password"}
        response = self.anonymous.post("/api/users", json={"user": user})
        assert response.status_code == 201, response.text
        return name, self.client(response.json()["user"]["token"])

    def article(
        self,
        client: httpx.Client | None = None,
        title: str = "Dragons",
        tags: list[str] | None = None,
    ) -> dict[str, Any]:
        fields = {
            "title": title,
            "description": "How?",
            "body": "Carefully.",
            "tagList": tags or [],
        }
        response = (client or self.ann).post("/api/articles", json={"article": fields})
        assert response.status_code == 201, response.text
        article: dict[str, Any] = response.json()["article"]
        return article


@pytest.fixture(
    scope="module",
    params=[(app, backend) for backend in BACKENDS for app in CONDUIT_APPS],
    ids=lambda param: "-".join(param),
)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One Conduit app under its server on one database, with users ann and bob."""
    app, backend = request.param
    with ExitStack() as stack:
        name = f"e2e_{app.replace('-', '_')}"
        url = fresh_database(stack, backend, name, tmp_path_factory.mktemp(app))
        server = stack.enter_context(serve(app, url, secret=CONDUIT_SECRET))
        anonymous = stack.enter_context(httpx.Client(base_url=server.url, timeout=30))
        clients = {}
        for name in ("ann", "bob"):
            user = {"username": name, "email": f"{name}@example.org", "password": "password"}
            response = anonymous.post("/api/users", json={"user": user})
            assert response.status_code == 201, response.text
            headers = {"Authorization": f"Token {response.json()['user']['token']}"}
            clients[name] = stack.enter_context(
                httpx.Client(base_url=server.url, headers=headers, timeout=30)
            )
        engine = make_engine(url)
        stack.callback(engine.dispose)
        api = Api(server.url, clients["ann"], clients["bob"], anonymous, engine)
        yield api


# -- ownership -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "body"), [("PUT", {"article": {"title": "Taken over"}}), ("DELETE", None)]
)
def test_another_users_article_is_forbidden(api: Api, method: str, body: object) -> None:
    """Bob changing or deleting Ann's article gets 403 in the spec's shape; nothing changes."""
    slug = api.article()["slug"]
    before = api.snapshot()
    response = api.bob.request(method, f"/api/articles/{slug}", json=body)
    assert response.status_code == 403
    assert errors(response) == ["Only the article's author can change or delete it."]
    assert api.snapshot() == before


def test_another_users_comment_is_forbidden(api: Api) -> None:
    """Bob deleting Ann's comment (on Bob's own article) gets 403; the comment stays."""
    slug = api.article(api.bob)["slug"]
    added = api.ann.post(f"/api/articles/{slug}/comments", json={"comment": {"body": "Mine"}})
    before = api.snapshot()
    response = api.bob.delete(f"/api/articles/{slug}/comments/{added.json()['comment']['id']}")
    assert response.status_code == 403
    assert errors(response) == ["Only the comment's author can delete it."]
    assert api.snapshot() == before


def test_a_comment_is_found_only_under_its_own_article(api: Api) -> None:
    """Deleting a comment through another article's URL answers 404 and deletes nothing."""
    first, second = api.article()["slug"], api.article()["slug"]
    added = api.ann.post(f"/api/articles/{first}/comments", json={"comment": {"body": "Here"}})
    before = api.snapshot()
    response = api.ann.delete(f"/api/articles/{second}/comments/{added.json()['comment']['id']}")
    assert response.status_code == 404
    errors(response)
    assert api.snapshot() == before


def test_the_author_replaces_the_tags_of_their_article(api: Api) -> None:
    """An update with ``tagList`` replaces the article's tags, which read back sorted."""
    slug = api.article(tags=["old", "kept"])["slug"]
    response = api.ann.put(f"/api/articles/{slug}", json={"article": {"tagList": ["new", "kept"]}})
    assert (response.status_code, response.json()["article"]["tagList"]) == (200, ["kept", "new"])
    assert api.anonymous.get(f"/api/articles/{slug}").json()["article"]["tagList"] == [
        "kept",
        "new",
    ]


# -- users: duplicates, following --------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "email", "messages"),
    [
        ("ann", "someone@example.org", ["username has already been taken"]),
        ("someone", "ANN@example.org", ["email has already been taken"]),
        (
            "ann",
            "ann@example.org",
            ["username has already been taken", "email has already been taken"],
        ),
    ],
    ids=["username", "email-any-case", "both"],
)
def test_registering_a_taken_name_answers_422(
    api: Api, username: str, email: str, messages: list[str]
) -> None:
    """A taken username or email (emails in any case) answers 422 saying which; no user is added."""
    before = api.snapshot()
    user = {"username": username, "email": email, "password": "password"}
    response = api.anonymous.post("/api/users", json={"user": user})
    assert response.status_code == 422
    assert errors(response) == messages
    assert api.snapshot() == before


@pytest.mark.parametrize(("field", "value"), [("username", "bob"), ("email", "bob@example.org")])
def test_taking_another_users_name_answers_422(api: Api, field: str, value: str) -> None:
    """Ann changing her username or email to Bob's gets 422 and keeps hers."""
    before = api.snapshot()
    response = api.ann.put("/api/user", json={"user": {field: value}})
    assert response.status_code == 422
    assert errors(response) == [f"{field} has already been taken"]
    assert api.snapshot() == before


def test_a_user_keeps_their_own_name_when_updating(api: Api) -> None:
    """Sending one's own username and email with a new bio is no conflict."""
    user = {"username": "ann", "email": "ann@example.org", "bio": "Writes about dragons"}
    response = api.ann.put("/api/user", json={"user": user})
    assert (response.status_code, response.json()["user"]["bio"]) == (200, "Writes about dragons")


def test_a_new_password_replaces_the_old_one(api: Api) -> None:
    """After a password change, login works with the new password and not with the old one."""
    name, client = api.register()
    with client:
        assert (
            client.put("/api/user", json={"user": {"password": "new password"}}).status_code == 200
        )
    login = {"email": f"{name}@example.org"}
    old = api.anonymous.post("/api/users/login", json={"user": {**login, "password": "password"}})
    new = api.anonymous.post(
        "/api/users/login", json={"user": {**login, "password": "new password"}}
    )
    assert (old.status_code, new.status_code) == (401, 200)
    assert errors(old) == ["The email or the password is wrong."]


def test_the_feed_has_only_followed_authors(api: Api) -> None:
    """A user's feed lists the articles of the authors they follow, and nobody else's."""
    followed_name, followed = api.register()
    _, other = api.register()
    _, reader = api.register()
    with followed, other, reader:
        mine = api.article(followed, "Followed")["slug"]
        api.article(other, "Not followed")
        assert reader.post(f"/api/profiles/{followed_name}/follow").json()["profile"]["following"]
        feed = reader.get("/api/articles/feed").json()
        assert ([a["slug"] for a in feed["articles"]], feed["articlesCount"]) == ([mine], 1)
        assert feed["articles"][0]["author"]["following"] is True


def test_following_oneself_answers_422(api: Api) -> None:
    """A user can not follow themselves; nothing is stored."""
    before = api.snapshot()
    response = api.ann.post("/api/profiles/ann/follow")
    assert response.status_code == 422
    assert errors(response) == ["You can not follow yourself."]
    assert api.snapshot() == before


@pytest.mark.parametrize(
    "path", ["/api/profiles/nobody", "/api/profiles/%00", "/api/profiles/a%20b"]
)
def test_an_unknown_profile_answers_404(api: Api, path: str) -> None:
    """A username nobody has, or that no user can have, answers 404 in the spec's shape."""
    response = api.ann.get(path)
    assert response.status_code == 404
    errors(response)


# -- slugs --------------------------------------------------------------------------


def test_articles_with_the_same_title_get_their_own_slugs(api: Api) -> None:
    """A second article titled like another gets the title's slug with a suffix; both read back."""
    title = f"Same title {uuid.uuid4().hex[:6]}"
    first, second = api.article(title=title), api.article(api.bob, title=title)
    base = title.lower().replace(" ", "-")
    assert first["slug"] == base
    assert second["slug"].startswith(base + "-")
    assert len(second["slug"]) == len(base) + 9  # "-" and 8 hex digits
    for article in (first, second):
        read = api.anonymous.get(f"/api/articles/{article['slug']}").json()["article"]
        assert read["author"]["username"] == article["author"]["username"]


def test_a_new_title_taken_by_another_article_gets_a_slug_of_its_own(api: Api) -> None:
    """Retitling an article like another keeps both reachable, under different slugs."""
    title = f"Taken {uuid.uuid4().hex[:6]}"
    taken = api.article(api.bob, title=title)["slug"]
    mine = api.article(title="Something else")["slug"]
    response = api.ann.put(f"/api/articles/{mine}", json={"article": {"title": title}})
    renamed = response.json()["article"]["slug"]
    assert renamed.startswith(taken + "-")
    assert (
        api.anonymous.get(f"/api/articles/{taken}").json()["article"]["author"]["username"] == "bob"
    )
    assert api.anonymous.get(f"/api/articles/{renamed}").status_code == 200
    assert api.anonymous.get(f"/api/articles/{mine}").status_code == 404


def test_a_title_without_latin_letters_gets_a_slug(api: Api) -> None:
    """A title with no letter a slug can keep (``!!!``, Japanese) still gets one, ``article...``."""
    for title in ("!!!", "ドラゴン"):
        slug = api.article(title=title)["slug"]
        assert slug.startswith("article")
        assert api.anonymous.get(f"/api/articles/{slug}").json()["article"]["title"] == title


@pytest.mark.parametrize("slug", ["no-such-article", "%00", "UPPER", "x" * 200])
def test_an_unknown_article_answers_404(api: Api, slug: str) -> None:
    """A slug no article has, or that no article can have, answers 404 in the spec's shape."""
    for method in ("GET", "PUT", "DELETE"):
        body = {"article": {"body": "x"}} if method == "PUT" else None
        response = api.ann.request(method, f"/api/articles/{slug}", json=body)
        assert response.status_code == 404, (method, response.text)
        errors(response)


# -- favourites --------------------------------------------------------------------------


def test_favourites_are_counted_once_per_user(api: Api) -> None:
    """Favouriting twice counts once; each user's favourite counts; unfavouriting takes it back."""
    slug = api.article()["slug"]
    for client, expected in ((api.bob, 1), (api.bob, 1), (api.ann, 2)):
        article = client.post(f"/api/articles/{slug}/favorite").json()["article"]
        assert (article["favorited"], article["favoritesCount"]) == (True, expected)
    article = api.bob.delete(f"/api/articles/{slug}/favorite").json()["article"]
    assert (article["favorited"], article["favoritesCount"]) == (False, 1)
    read = api.anonymous.get(f"/api/articles/{slug}").json()["article"]
    assert (read["favorited"], read["favoritesCount"]) == (False, 1)
    assert api.ann.get(f"/api/articles/{slug}").json()["article"]["favorited"] is True


# -- pagination ------------------------------------------------------------------------------


def test_limit_and_offset_page_through_the_list_newest_first(api: Api) -> None:
    """``limit`` and ``offset`` cut the newest-first list; ``articlesCount`` counts all of it."""
    name, client = api.register()
    with client:
        slugs = [api.article(client, f"Page {n}")["slug"] for n in range(5)][::-1]
    listed = api.anonymous.get("/api/articles", params={"author": name}).json()
    assert ([a["slug"] for a in listed["articles"]], listed["articlesCount"]) == (slugs, 5)
    page = api.anonymous.get("/api/articles", params={"author": name, "limit": 2, "offset": 1})
    assert ([a["slug"] for a in page.json()["articles"]], page.json()["articlesCount"]) == (
        slugs[1:3],
        5,
    )
    beyond = api.anonymous.get("/api/articles", params={"author": name, "offset": 5}).json()
    assert beyond == {"articles": [], "articlesCount": 5}


def test_the_default_page_has_20_articles(api: Api) -> None:
    """Without ``limit`` a page holds the 20 newest; ``limit=100`` (the most) holds more."""
    name, client = api.register()
    with client:
        for n in range(21):
            api.article(client, f"Many {n}")
    assert len(api.anonymous.get("/api/articles", params={"author": name}).json()["articles"]) == 20
    bigger = api.anonymous.get("/api/articles", params={"author": name, "limit": MAX_LIMIT})
    assert len(bigger.json()["articles"]) == 21


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        f"limit={MAX_LIMIT + 1}",
        "limit=-1",
        "offset=-1",
        "limit=ten",
        "limit=%C2%B2",  # "²" is a digit to str.isdigit(), not to int()
        "offset=99999999999999999999",
        "limit=",
    ],
)
@pytest.mark.parametrize("path", ["/api/articles", "/api/articles/feed"])
def test_a_page_out_of_range_answers_422(api: Api, path: str, query: str) -> None:
    """``limit`` must be 1 to 100 and ``offset`` from 0 (whole numbers): else 422 saying so."""
    response = api.ann.get(f"{path}?{query}")
    assert response.status_code == 422
    [message] = errors(response)
    assert "must be a whole number from" in message


# -- bad bodies: 4xx, nothing written ---------------------------------------------------------

_ARTICLE = {"title": "T", "description": "D", "body": "B"}


def _json(wrapper: str, **fields: object) -> bytes:
    return json.dumps({wrapper: fields}).encode()


def _article(**fields: object) -> bytes:
    return _json("article", **{**_ARTICLE, **fields})


_TOO_BIG = _article(body="x" * MAX_BODY_BYTES)
_DEEP = b'{"article": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
_USER = {"username": "x1", "email": "x1@example.org", "password": "password"}
_TAGS = [str(n) for n in range(MAX_TAGS + 1)]

# (case id, method, path ("{slug}": an article of Ann's), raw body, status)
_BAD_BODIES: list[tuple[str, str, str, bytes, int]] = [
    ("not-json", "POST", "/api/articles", b"title=x", 422),
    ("not-utf8", "POST", "/api/articles", b'{"article": {"title": "\xff"}}', 422),
    ("empty", "POST", "/api/articles", b"", 422),
    ("array", "POST", "/api/articles", b"[]", 422),
    ("no-wrapper", "POST", "/api/articles", json.dumps(_ARTICLE).encode(), 422),
    ("wrapper-not-object", "POST", "/api/articles", b'{"article": "T"}', 422),
    ("missing-title", "POST", "/api/articles", _json("article", description="D", body="B"), 422),
    ("title-number", "POST", "/api/articles", _article(title=7), 422),
    ("title-null", "POST", "/api/articles", _article(title=None), 422),
    ("blank-title", "POST", "/api/articles", _article(title=" "), 422),
    ("nul-in-body", "POST", "/api/articles", _article(body="a\x00b"), 422),
    ("lone-surrogate", "POST", "/api/articles", _article(title="\ud800"), 422),
    ("deep-nesting", "POST", "/api/articles", _DEEP, 422),
    ("huge-number", "POST", "/api/articles", b'{"article": {"title": ' + b"9" * 5000 + b"}}", 422),
    ("tags-not-array", "POST", "/api/articles", _article(tagList="a"), 422),
    ("tag-not-string", "POST", "/api/articles", _article(tagList=[1]), 422),
    ("blank-tag", "POST", "/api/articles", _article(tagList=[" "]), 422),
    ("too-many-tags", "POST", "/api/articles", _article(tagList=_TAGS), 422),
    ("oversize-create", "POST", "/api/articles", _TOO_BIG, 413),
    ("oversize-update", "PUT", "/api/articles/{slug}", _TOO_BIG, 413),
    ("update-not-json", "PUT", "/api/articles/{slug}", b"{", 422),
    ("update-blank-body", "PUT", "/api/articles/{slug}", _json("article", body=""), 422),
    ("comment-missing-body", "POST", "/api/articles/{slug}/comments", _json("comment"), 422),
    ("comment-nul", "POST", "/api/articles/{slug}/comments", _json("comment", body="\x00"), 422),
    ("register-bad-email", "POST", "/api/users", _json("user", **{**_USER, "email": "no"}), 422),
    ("register-bad-name", "POST", "/api/users", _json("user", **{**_USER, "username": "a b"}), 422),
    (
        "register-no-password",
        "POST",
        "/api/users",
        _json("user", username="x1", email="x@x.org"),
        422,
    ),
    ("login-not-json", "POST", "/api/users/login", b"\x00", 422),
    ("update-user-nothing", "PUT", "/api/user", _json("user"), 422),
    ("update-user-bio-number", "PUT", "/api/user", _json("user", bio=1), 422),
]


@pytest.mark.parametrize(
    ("method", "path", "content", "status"),
    [case[1:] for case in _BAD_BODIES],
    ids=[case[0] for case in _BAD_BODIES],
)
def test_a_bad_body_answers_4xx_and_writes_nothing(
    api: Api, method: str, path: str, content: bytes, status: int
) -> None:
    """Each bad body gets its 4xx in the spec's shape, and no row of any table changes."""
    slug = api.article()["slug"]
    before = api.snapshot()
    headers = {"Content-Type": "application/json"}
    if status == 413:
        # The server may close the connection after a 413 rather than read the body's rest
        # (gunicorn drains at most 64 KiB, then closes a connection it answered as keep-alive).
        headers["Connection"] = "close"
    response = api.ann.request(
        method, path.replace("{slug}", slug), content=content, headers=headers
    )
    assert response.status_code == status, response.text
    errors(response)
    assert api.snapshot() == before


# -- tokens ------------------------------------------------------------------------------------


def _token(secret: str = CONDUIT_SECRET, **claims: Any) -> str:
    now = datetime.now(UTC)
    return jwt.encode({"sub": "1", "exp": now + timedelta(hours=1), **claims}, secret, "HS256")


_PAST = datetime.now(UTC) - timedelta(seconds=1)
_BAD_AUTHORIZATION = {
    "expired": f"Token {_token(exp=_PAST)}",
    "forged": f"Token {_token(secret='another secret of at least 32 characters!')}",
    "unsigned": "Token "
    + jwt.encode({"sub": "1", "exp": _PAST + timedelta(hours=2)}, None, "none"),
    "no-expiry": "Token " + jwt.encode({"sub": "1"}, CONDUIT_SECRET, "HS256"),
    "gone-user": f"Token {_token(sub='2147483647')}",
    "subject-not-a-number": f"Token {_token(sub='ann')}",
    "garbage": "Token not.a.jwt",
    "scheme-only": "Token",
    "basic-scheme": "Basic YW5uOnBhc3N3b3Jk",
}


def _refused(api: Api, authorization: str, method: str, path: str, body: object = None) -> None:
    before = api.snapshot()
    headers = {"Authorization": authorization}
    response = api.anonymous.request(method, path, json=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Token"
    errors(response)
    assert api.snapshot() == before


@pytest.mark.parametrize("authorization", _BAD_AUTHORIZATION.values(), ids=_BAD_AUTHORIZATION)
def test_a_bad_token_answers_401(api: Api, authorization: str) -> None:
    """Expired, forged, unsigned or malformed tokens answer 401 (``WWW-Authenticate: Token``)."""
    _refused(api, authorization, "GET", "/api/user")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("POST", "/api/articles", {"article": _ARTICLE}), ("GET", "/api/articles", None)],
    ids=["write", "optional-login"],
)
def test_a_forged_token_is_refused_where_login_is_optional_or_writes(
    api: Api, method: str, path: str, body: object
) -> None:
    """A forged token gets 401 on a write (nothing written) and where login is optional."""
    _refused(api, _BAD_AUTHORIZATION["forged"], method, path, body)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/user"),
        ("PUT", "/api/user"),
        ("GET", "/api/articles/feed"),
        ("POST", "/api/articles"),
        ("POST", "/api/profiles/ann/follow"),
    ],
)
def test_no_token_answers_401_where_one_is_needed(api: Api, method: str, path: str) -> None:
    """An anonymous request to an endpoint that needs a user answers 401 saying how to log in."""
    response = api.anonymous.request(method, path, json={"user": {"bio": "x"}})
    assert response.status_code == 401
    [message] = errors(response)
    assert "Authorization: Token <token>" in message


def test_bearer_works_like_token(api: Api) -> None:
    """``Authorization: Bearer <token>`` is accepted as well as the spec's ``Token <token>``."""
    token = api.ann.headers["Authorization"].split()[1]
    response = api.anonymous.get("/api/user", headers={"Authorization": f"Bearer {token}"})
    assert (response.status_code, response.json()["user"]["username"]) == (200, "ann")


# -- one transaction per request -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/articles", {"article": {**_ARTICLE, "tagList": ["lost-tag"]}}),
        ("POST", "/api/articles/{slug}/favorite", None),
        ("PUT", "/api/articles/{slug}", {"article": {"title": "Lost", "tagList": ["lost"]}}),
        (
            "POST",
            "/api/users",
            {"user": {"username": "lost", "email": "l@x.org", "password": "password"}},
        ),
    ],
    ids=["create-with-tags", "favourite", "update-with-tags", "register"],
)
def test_a_failed_commit_answers_500_and_writes_nothing(
    api: Api, method: str, path: str, body: object
) -> None:
    """When the request's commit fails, the client gets a 500 and no row of it is stored."""
    slug = api.article()["slug"]
    before = api.snapshot()
    response = api.ann.request(
        method,
        path.replace("{slug}", slug),
        json=body,
        # uvicorn drops the connection after an app error, even one answered with a 500.
        headers={FAIL_COMMIT_HEADER: "1", "Connection": "close"},
    )
    assert response.status_code == 500
    assert errors(response) == ["Internal Server Error"]
    assert api.snapshot() == before


# -- the rest of HTTP ------------------------------------------------------------------------------


def test_an_unknown_url_answers_404_in_the_specs_shape(api: Api) -> None:
    """A URL outside the API answers 404 with an error body of the spec's shape."""
    response = api.anonymous.get("/api/nothing-here")
    assert response.status_code == 404
    errors(response)


def test_a_wrong_method_answers_405_in_the_specs_shape(api: Api) -> None:
    """A method a path does not take answers 405 with an error body of the spec's shape."""
    response = api.ann.patch("/api/articles")
    assert response.status_code == 405
    errors(response)
