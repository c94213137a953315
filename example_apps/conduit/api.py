"""The API's endpoints, written once for the three web apps: parse, call the DAL, render.

Each endpoint takes the request's DAL and a :class:`Call` (path parameters,
query parameters, body) and returns ``(status, JSON body or None)``. The web
apps (``flask_app``, ``django_app``, ``fastapi_app``) register every
:data:`ROUTES` entry under :data:`PREFIX` and call its ``answer``, with a few
lines of glue each: the
framework reads the request, polydatum's plugin opens the request's context
(one transaction) and puts the DAL on the request, and the app's error
handler answers a ``ServiceError`` in the spec's shape once it reached the
context. An endpoint never catches a service's error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple, TypeVar

from polydatum import NotFound

from . import render
from . import validation as parse
from .services import ConduitDal

__all__ = ["PREFIX", "ROUTES", "Call", "Endpoint", "Reply", "Route"]

#: Where the API lives (the spec's servers end in ``/api``).
PREFIX = "/api"


class Call(NamedTuple):
    """What an endpoint reads of a request."""

    params: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes


#: The status and the JSON body (None: no body, for 204).
Reply = tuple[int, dict[str, object] | None]
Endpoint = Callable[[ConduitDal, Call], Reply]


class Route(NamedTuple):
    """One endpoint: ``path`` is the spec's (``{name}`` marks a path parameter)."""

    method: str
    path: str
    endpoint: Endpoint
    #: Whether the endpoint reads the body (the apps read it, up to the size limit, only then).
    body: bool = False
    #: Whether it needs a logged-in user: an anonymous call gets its 401 before any 422.
    login: bool = False

    def answer(self, dal: ConduitDal, call: Call) -> Reply:
        """Run the endpoint (what the apps call)."""
        if self.login:
            dal.users.current()  # Unauthorized unless a user is logged in
        return self.endpoint(dal, call)


#: What an endpoint looks up.
T = TypeVar("T")


def _found(thing: T | None, what: str) -> T:
    if thing is None:
        raise NotFound(f"No {what}.")
    return thing


def register(dal: ConduitDal, call: Call) -> Reply:
    """``POST /users``."""
    return 201, render.user(dal.users.register(parse.parse_new_user(call.body)))


def login(dal: ConduitDal, call: Call) -> Reply:
    """``POST /users/login``."""
    return 200, render.user(dal.users.login(parse.parse_credentials(call.body)))


def current_user(dal: ConduitDal, call: Call) -> Reply:
    """``GET /user``."""
    return 200, render.user(dal.users.current())


def update_user(dal: ConduitDal, call: Call) -> Reply:
    """``PUT /user``."""
    return 200, render.user(dal.users.update(parse.parse_user_changes(call.body)))


def get_profile(dal: ConduitDal, call: Call) -> Reply:
    """``GET /profiles/{username}``."""
    username = call.params["username"]
    return 200, render.profile(_found(dal.profiles.get(username), f"user {username!r}"))


def follow(dal: ConduitDal, call: Call) -> Reply:
    """``POST /profiles/{username}/follow``."""
    return 200, render.profile(dal.profiles.follow(call.params["username"]))


def unfollow(dal: ConduitDal, call: Call) -> Reply:
    """``DELETE /profiles/{username}/follow``."""
    return 200, render.profile(dal.profiles.unfollow(call.params["username"]))


def list_articles(dal: ConduitDal, call: Call) -> Reply:
    """``GET /articles?tag=&author=&favorited=&limit=&offset=``."""
    filters, page = parse.parse_filters(call.query), parse.parse_page(call.query)
    return 200, render.articles(dal.articles.list(filters, page))


def feed(dal: ConduitDal, call: Call) -> Reply:
    """``GET /articles/feed?limit=&offset=``."""
    return 200, render.articles(dal.articles.feed(parse.parse_page(call.query)))


def create_article(dal: ConduitDal, call: Call) -> Reply:
    """``POST /articles``."""
    return 201, render.article(dal.articles.create(parse.parse_new_article(call.body)))


def get_article(dal: ConduitDal, call: Call) -> Reply:
    """``GET /articles/{slug}``."""
    slug = call.params["slug"]
    return 200, render.article(_found(dal.articles.get(slug), f"article {slug!r}"))


def update_article(dal: ConduitDal, call: Call) -> Reply:
    """``PUT /articles/{slug}``."""
    changes = parse.parse_article_changes(call.body)
    return 200, render.article(dal.articles.update(call.params["slug"], changes))


def delete_article(dal: ConduitDal, call: Call) -> Reply:
    """``DELETE /articles/{slug}``."""
    dal.articles.delete(call.params["slug"])
    return 204, None


def favorite(dal: ConduitDal, call: Call) -> Reply:
    """``POST /articles/{slug}/favorite``."""
    return 200, render.article(dal.articles.favorite(call.params["slug"]))


def unfavorite(dal: ConduitDal, call: Call) -> Reply:
    """``DELETE /articles/{slug}/favorite``."""
    return 200, render.article(dal.articles.unfavorite(call.params["slug"]))


def list_comments(dal: ConduitDal, call: Call) -> Reply:
    """``GET /articles/{slug}/comments``."""
    return 200, render.comments(dal.comments.list(call.params["slug"]))


def add_comment(dal: ConduitDal, call: Call) -> Reply:
    """``POST /articles/{slug}/comments`` (the spec answers 200, not 201)."""
    comment = parse.parse_new_comment(call.body)
    return 200, render.comment(dal.comments.add(call.params["slug"], comment))


def delete_comment(dal: ConduitDal, call: Call) -> Reply:
    """``DELETE /articles/{slug}/comments/{id}``."""
    dal.comments.delete(call.params["slug"], call.params["id"])
    return 204, None


def list_tags(dal: ConduitDal, call: Call) -> Reply:
    """``GET /tags``."""
    return 200, render.tags(dal.tags.list())


#: Every endpoint; ``/articles/feed`` comes before ``/articles/{slug}`` (first match wins).
ROUTES: tuple[Route, ...] = (
    Route("POST", "/users/login", login, body=True),
    Route("POST", "/users", register, body=True),
    Route("GET", "/user", current_user, login=True),
    Route("PUT", "/user", update_user, body=True, login=True),
    Route("GET", "/profiles/{username}", get_profile),
    Route("POST", "/profiles/{username}/follow", follow, login=True),
    Route("DELETE", "/profiles/{username}/follow", unfollow, login=True),
    Route("GET", "/articles/feed", feed, login=True),
    Route("GET", "/articles", list_articles),
    Route("POST", "/articles", create_article, body=True, login=True),
    Route("GET", "/articles/{slug}", get_article),
    Route("PUT", "/articles/{slug}", update_article, body=True, login=True),
    Route("DELETE", "/articles/{slug}", delete_article, login=True),
    Route("POST", "/articles/{slug}/favorite", favorite, login=True),
    Route("DELETE", "/articles/{slug}/favorite", unfavorite, login=True),
    Route("GET", "/articles/{slug}/comments", list_comments),
    Route("POST", "/articles/{slug}/comments", add_comment, body=True, login=True),
    Route("DELETE", "/articles/{slug}/comments/{id}", delete_comment, login=True),
    Route("GET", "/tags", list_tags),
)
