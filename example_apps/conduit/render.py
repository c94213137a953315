"""The spec's JSON of what the services return (``camelCase``, ISO 8601 times in UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

from .models import Article, ArticlePage, Comment, Profile, User

__all__ = ["article", "articles", "comment", "comments", "profile", "tags", "timestamp", "user"]


def timestamp(moment: datetime) -> str:
    """``2024-05-01T12:30:00.123Z``: milliseconds, UTC (SQLite gives times without a zone)."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def user(found: User) -> dict[str, object]:
    """``{"user": {...}}``: the logged-in user, with their token."""
    fields = ("email", "token", "username", "bio", "image")
    return {"user": {name: getattr(found, name) for name in fields}}


def _profile(found: Profile) -> dict[str, object]:
    return found._asdict()


def profile(found: Profile) -> dict[str, object]:
    """``{"profile": {"username", "bio", "image", "following"}}``."""
    return {"profile": _profile(found)}


def _article(found: Article) -> dict[str, object]:
    fields = {
        "slug": found.slug,
        "title": found.title,
        "description": found.description,
        "tagList": list(found.tags),
        "createdAt": timestamp(found.created_at),
        "updatedAt": timestamp(found.updated_at),
        "favorited": found.favorited,
        "favoritesCount": found.favorites_count,
        "author": _profile(found.author),
    }
    if found.body is not None:
        fields["body"] = found.body
    return fields


def article(found: Article) -> dict[str, object]:
    """``{"article": {...}}``."""
    return {"article": _article(found)}


def articles(page: ArticlePage) -> dict[str, object]:
    """``{"articles": [...], "articlesCount": n}`` (the items without their bodies)."""
    return {"articles": [_article(item) for item in page.articles], "articlesCount": page.total}


def _comment(found: Comment) -> dict[str, object]:
    return {
        "id": found.id,
        "createdAt": timestamp(found.created_at),
        "updatedAt": timestamp(found.updated_at),
        "body": found.body,
        "author": _profile(found.author),
    }


def comment(found: Comment) -> dict[str, object]:
    """``{"comment": {...}}``."""
    return {"comment": _comment(found)}


def comments(found: list[Comment]) -> dict[str, object]:
    """``{"comments": [...]}``."""
    return {"comments": [_comment(item) for item in found]}


def tags(names: list[str]) -> dict[str, object]:
    """``{"tags": [...]}``."""
    return {"tags": names}
