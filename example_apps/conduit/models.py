"""What the services return: plain typed records, turned into the spec's JSON by ``render``."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

__all__ = ["Article", "ArticlePage", "Comment", "Profile", "User"]


class User(NamedTuple):
    """A logged-in user, with the token they are known by (``meta.user`` in a request)."""

    id: int
    username: str
    email: str
    bio: str
    image: str
    token: str


class Profile(NamedTuple):
    """A user as others see them; ``following``: whether the reader follows them."""

    username: str
    bio: str
    image: str
    following: bool


class Article(NamedTuple):
    """An article as a reader sees it; ``body`` is None in lists (the spec leaves it out)."""

    slug: str
    title: str
    description: str
    body: str | None
    tags: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    favorited: bool
    favorites_count: int
    author: Profile


class ArticlePage(NamedTuple):
    """A page of a list of articles, newest first, and how many the whole list has."""

    articles: list[Article]
    total: int


class Comment(NamedTuple):
    """A comment on an article."""

    id: int
    created_at: datetime
    updated_at: datetime
    body: str
    author: Profile
