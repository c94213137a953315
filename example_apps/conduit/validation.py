"""Input checks: pure functions from what the client sent to typed values, or a 422.

Bodies are the spec's JSON objects with one wrapper key (``{"user": {...}}``,
``{"article": {...}}``, ``{"comment": {...}}``); fields the API does not know
are ignored, as clients differ in what they send along. Every string is
checked for what a database would refuse or a reader would not expect: NUL
characters (PostgreSQL can not store them), lone surrogates (not encodable
as UTF-8), blank required values and lengths over the limits below. A body
that is not JSON, nested too deeply or over ``MAX_BODY_BYTES`` never reaches
a service.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from .errors import PayloadTooLarge, Unprocessable

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_BODY_BYTES",
    "MAX_LIMIT",
    "MAX_OFFSET",
    "MAX_TAGS",
    "ArticleChanges",
    "ArticleFilters",
    "Credentials",
    "NewArticle",
    "NewComment",
    "NewUser",
    "Page",
    "UserChanges",
    "body_too_large",
    "comment_id",
    "is_slug",
    "is_username",
    "parse_article_changes",
    "parse_credentials",
    "parse_filters",
    "parse_new_article",
    "parse_new_comment",
    "parse_new_user",
    "parse_page",
    "parse_user_changes",
]

#: Largest request body accepted (413 beyond).
MAX_BODY_BYTES = 64 * 1024
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
#: Ids and offsets are 32-bit on PostgreSQL (``serial``, ``int4``).
MAX_OFFSET = 2**31 - 1
MAX_TAGS = 20

_USERNAME = re.compile(r"[A-Za-z0-9_.-]{1,40}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_SLUG = re.compile(r"[a-z0-9-]{1,120}")
#: (most characters, may be blank) of each text field.
_LIMITS: dict[str, tuple[int, bool]] = {
    "email": (254, False),
    "password": (256, False),
    "bio": (2000, True),
    "image": (2000, True),
    "title": (200, False),
    "description": (1000, True),
    "body": (50_000, False),
    "comment": (5000, False),
    "tag": (40, False),
    "query": (200, False),
}
_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}


class NewUser(NamedTuple):
    """``POST /users``: who registers."""

    username: str
    email: str
    password: str


class Credentials(NamedTuple):
    """``POST /users/login``."""

    email: str
    password: str


class UserChanges(NamedTuple):
    """``PUT /user``: the fields to change (None: keep); at least one is set."""

    username: str | None
    email: str | None
    password: str | None
    bio: str | None
    image: str | None


class NewArticle(NamedTuple):
    """``POST /articles``; ``tags`` without duplicates, in the order given."""

    title: str
    description: str
    body: str
    tags: tuple[str, ...]


class ArticleChanges(NamedTuple):
    """``PUT /articles/{slug}``: the fields to change (None: keep)."""

    title: str | None
    description: str | None
    body: str | None
    tags: tuple[str, ...] | None


class NewComment(NamedTuple):
    """``POST /articles/{slug}/comments``."""

    body: str


class Page(NamedTuple):
    """``?limit=&offset=`` of a list of articles."""

    limit: int
    offset: int


class ArticleFilters(NamedTuple):
    """``GET /articles?tag=&author=&favorited=`` (None: no filter)."""

    tag: str | None
    author: str | None
    favorited: str | None


def body_too_large() -> PayloadTooLarge:
    """The error for a body over ``MAX_BODY_BYTES`` (the apps raise it before reading it all)."""
    return PayloadTooLarge(f"The request body must be at most {MAX_BODY_BYTES} bytes.")


def parse_new_user(raw: bytes) -> NewUser:
    """Decode ``{"user": {"username", "email", "password"}}``."""
    fields = _wrapped(raw, "user", '{"user": {"username": "ann", "email": "ann@x.org", ...}}')
    return NewUser(_username(fields), _email(fields), _text(fields, "password"))


def parse_credentials(raw: bytes) -> Credentials:
    """Decode ``{"user": {"email", "password"}}``."""
    fields = _wrapped(raw, "user", '{"user": {"email": "ann@x.org", "password": "..."}}')
    return Credentials(_email(fields), _text(fields, "password"))


def parse_user_changes(raw: bytes) -> UserChanges:
    """Decode ``{"user": {...}}`` with at least one of username, email, password, bio, image.

    ``null`` for bio or image clears it (some clients send back what they read).
    """
    fields = _wrapped(raw, "user", '{"user": {"bio": "I like to skateboard"}}')
    for nullable in ("bio", "image"):
        if nullable in fields and fields[nullable] is None:
            fields = {**fields, nullable: ""}
    changes = UserChanges(
        _username(fields) if "username" in fields else None,
        _email(fields) if "email" in fields else None,
        *(_optional(fields, name) for name in ("password", "bio", "image")),
    )
    if changes == UserChanges(None, None, None, None, None):
        raise Unprocessable("Give at least one of username, email, password, bio and image.")
    return changes


def parse_new_article(raw: bytes) -> NewArticle:
    """Decode ``{"article": {"title", "description", "body", "tagList"?}}``."""
    fields = _wrapped(raw, "article", '{"article": {"title": "...", "description": "...", ...}}')
    title, description, body = (_text(fields, name) for name in ("title", "description", "body"))
    return NewArticle(title, description, body, _tags(fields) or ())


def parse_article_changes(raw: bytes) -> ArticleChanges:
    """Decode ``{"article": {...}}`` with any of title, description, body and tagList."""
    fields = _wrapped(raw, "article", '{"article": {"body": "With two hands"}}')
    title, description, body = (
        _optional(fields, name) for name in ("title", "description", "body")
    )
    return ArticleChanges(title, description, body, _tags(fields))


def parse_new_comment(raw: bytes) -> NewComment:
    """Decode ``{"comment": {"body"}}``."""
    fields = _wrapped(raw, "comment", '{"comment": {"body": "Thank you so much!"}}')
    return NewComment(_text(fields, "body", limit="comment"))


def parse_page(query: Mapping[str, str]) -> Page:
    """Return ``?limit=`` (1 to 100, default 20) and ``?offset=`` (from 0, default 0)."""
    return Page(
        _number(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        _number(query, "offset", 0, 0, MAX_OFFSET),
    )


def parse_filters(query: Mapping[str, str]) -> ArticleFilters:
    """Return the ``tag``, ``author`` and ``favorited`` filters of the article list."""
    tag, author, favorited = (
        _text(query, name, limit="query") if name in query else None
        for name in ("tag", "author", "favorited")
    )
    return ArticleFilters(tag, author, favorited)


def is_username(text: str) -> bool:
    """Whether ``text`` can be a username (letters, digits, ``_.-``, at most 40)."""
    return _USERNAME.fullmatch(text) is not None


def is_slug(text: str) -> bool:
    """Whether ``text`` can be an article's slug (what ``statements.slugify`` makes)."""
    return _SLUG.fullmatch(text) is not None


def comment_id(text: str) -> int | None:
    """Return the comment id in a URL path segment, or None when it can not be one."""
    ok = text.isascii() and text.isdigit() and len(text) <= 10
    return int(text) if ok and 1 <= int(text) <= MAX_OFFSET else None


def _wrapped(raw: bytes, wrapper: str, example: str) -> dict[str, Any]:
    """Decode a JSON body and return the object under ``wrapper``."""
    if len(raw) > MAX_BODY_BYTES:
        raise body_too_large()
    try:
        data: Any = json.loads(raw)
    except RecursionError:
        raise Unprocessable("The JSON body is nested too deeply.") from None
    except ValueError:  # not JSON, not UTF-8, or an integer too long to read
        raise Unprocessable(f"The body must be JSON, e.g. {example}.") from None
    if not isinstance(data, dict) or not isinstance(data.get(wrapper), dict):
        raise Unprocessable(f"The body must be a JSON object like {example}.")
    fields: dict[str, Any] = data[wrapper]
    return fields


def _text(fields: Mapping[str, Any], name: str, *, limit: str | None = None) -> str:
    """Return the string field ``name``, checked against the limits of ``limit`` (or ``name``)."""
    if name not in fields:
        raise Unprocessable(f"{name} is missing.")
    value = fields[name]
    if not isinstance(value, str):
        kind = _JSON_TYPES.get(type(value), "null" if value is None else "a number")
        raise Unprocessable(f"{name} must be a string, got {kind}.")
    if "\x00" in value:
        raise Unprocessable(f"{name} must not contain NUL characters.")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise Unprocessable(
            f"{name} must be valid Unicode text (it has a lone surrogate)."
        ) from None
    most, may_be_blank = _LIMITS[limit or name]
    if not may_be_blank and not value.strip():
        raise Unprocessable(f"{name} must not be blank.")
    if len(value) > most:
        raise Unprocessable(f"{name} must be at most {most} characters.")
    return value


def _optional(fields: Mapping[str, Any], name: str) -> str | None:
    return _text(fields, name) if name in fields else None


def _username(fields: Mapping[str, Any]) -> str:
    username = _text(fields, "username", limit="query")
    if not is_username(username):
        raise Unprocessable(
            "username must be 1 to 40 letters, digits, '_', '.' or '-', got " + repr(username)
        )
    return username


def _email(fields: Mapping[str, Any]) -> str:
    email = _text(fields, "email").strip().lower()
    if _EMAIL.fullmatch(email) is None:
        raise Unprocessable(f"email must be an address like ann@example.org, got {email!r}.")
    return email


def _tags(fields: Mapping[str, Any]) -> tuple[str, ...] | None:
    if "tagList" not in fields:
        return None
    raw = fields["tagList"]
    if not isinstance(raw, list) or len(raw) > MAX_TAGS:
        raise Unprocessable(f"tagList must be an array of at most {MAX_TAGS} strings.")
    tags = [_text({"tag": tag}, "tag").strip() for tag in raw]
    return tuple(dict.fromkeys(tags))  # without duplicates, first one wins


def _number(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    # isdigit() alone accepts "²" and other digits int() refuses; isascii() keeps it to 0-9.
    if (
        text.isascii()
        and text.isdigit()
        and len(text) <= len(str(high))
        and low <= int(text) <= high
    ):
        return int(text)
    raise Unprocessable(f"{name} must be a whole number from {low} to {high}, got {text!r}.")
