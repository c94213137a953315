"""The SQL of the services (SQLAlchemy Core: values are always bound parameters) and row mapping.

A list of articles is three statements whatever its length: the count, the
page (each row joined to its author, with the favourite count, whether the
reader favourited it and follows its author, as columns), then the tags of
all the page's articles at once. Inserts that may meet an existing row
(``tags``, ``follows``, ``favorites``, an article's slug) use
``ON CONFLICT DO NOTHING``, which SQLite and PostgreSQL both have, so two
requests racing for the same row never fail and never abort the transaction.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Delete,
    Executable,
    Insert,
    Integer,
    RowMapping,
    Select,
    Table,
    Update,
    delete,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from .models import Article, Comment, Profile, User
from .schema import article_tags, articles, comments, favorites, follows, tags, users
from .validation import ArticleFilters, NewUser, Page

__all__ = [
    "add_favorites",
    "article_by_slug",
    "article_from",
    "article_id",
    "article_page",
    "comment_author",
    "comment_from",
    "comments_of",
    "count_articles",
    "delete_article",
    "delete_comment",
    "delete_favorite",
    "delete_follow",
    "feed_filter",
    "insert_article",
    "insert_comment",
    "insert_favorite",
    "insert_follow",
    "insert_tags",
    "insert_user",
    "link_tags",
    "list_filters",
    "login_row",
    "now",
    "profile",
    "profile_from",
    "slug_taken",
    "slugify",
    "suffixed",
    "tags_of",
    "taken",
    "unlink_tags",
    "update_article",
    "update_user",
    "used_tags",
    "user_by_id",
    "user_from",
]

_INSERTS: dict[str, Callable[[Table], Any]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}
_USER = (users.c.id, users.c.username, users.c.email, users.c.bio, users.c.image)
_AUTHOR = (users.c.username, users.c.bio, users.c.image)


def now() -> datetime:
    """The time of a write, in UTC."""
    return datetime.now(UTC)


def _insert_new(dialect: str, table: Table, *keys: str) -> Any:
    """An INSERT into ``table`` that does nothing when a row with the same ``keys`` exists."""
    try:
        insert = _INSERTS[dialect]
    except KeyError:
        raise RuntimeError(f"Conduit runs on SQLite and PostgreSQL, not {dialect}.") from None
    return insert(table).on_conflict_do_nothing(index_elements=list(keys))


def _following(viewer_id: int | None, author_id: Any) -> ColumnElement[bool]:
    """Whether ``viewer_id`` follows ``author_id`` (false for anonymous readers)."""
    if viewer_id is None:
        return false()
    return exists().where(follows.c.follower_id == viewer_id, follows.c.followed_id == author_id)


# -- users and profiles -----------------------------------------------------------


def user_by_id(user_id: int) -> Select[Any]:
    """Select user ``user_id`` (``id, username, email, bio, image``)."""
    return select(*_USER).where(users.c.id == user_id)


def login_row(email: str) -> Select[Any]:
    """Select the user with ``email``, with the password hash."""
    return select(*_USER, users.c.password_hash).where(users.c.email == email)


def taken(username: str | None, email: str | None, but: int | None = None) -> Select[Any]:
    """Select the users other than ``but`` that already have ``username`` or ``email``."""
    query = select(users.c.username, users.c.email).where(
        or_(users.c.username == username, users.c.email == email)
    )
    return query if but is None else query.where(users.c.id != but)


def insert_user(new: NewUser, password_hash: str) -> Insert:
    """Insert a new user (no bio, no image yet), returning their id."""
    values = {"username": new.username, "email": new.email, "password_hash": password_hash}
    return users.insert().values({**values, "bio": "", "image": ""}).returning(users.c.id)


def update_user(user_id: int, values: dict[str, str]) -> Update:
    """Set ``values`` on user ``user_id``, returning the user."""
    return update(users).where(users.c.id == user_id).values(values).returning(*_USER)


def user_from(row: RowMapping, token: str) -> User:
    """The logged-in user of a ``user_by_id`` / ``login_row`` row."""
    return User(row["id"], row["username"], row["email"], row["bio"], row["image"], token)


def profile(username: str, viewer_id: int | None) -> Select[Any]:
    """Select the id and profile of ``username``, and whether ``viewer_id`` follows them."""
    return select(users.c.id, *_AUTHOR, _following(viewer_id, users.c.id).label("following")).where(
        users.c.username == username
    )


def profile_from(row: RowMapping, following: bool | None = None) -> Profile:
    """The profile in ``row`` (its ``username``, ``bio``, ``image``, ``following``)."""
    follows_now = bool(row["following"]) if following is None else following
    return Profile(row["username"], row["bio"], row["image"], follows_now)


def insert_follow(dialect: str, follower_id: int, followed_id: int) -> Insert:
    """Make ``follower_id`` follow ``followed_id`` (nothing if they already do)."""
    statement = _insert_new(dialect, follows, "follower_id", "followed_id")
    result: Insert = statement.values(follower_id=follower_id, followed_id=followed_id)
    return result


def delete_follow(follower_id: int, followed_id: int) -> Delete:
    """Make ``follower_id`` stop following ``followed_id``."""
    return delete(follows).where(
        follows.c.follower_id == follower_id, follows.c.followed_id == followed_id
    )


# -- articles ---------------------------------------------------------------------


def slugify(title: str) -> str:
    """Return the slug of ``title``: lower-case ASCII words joined by ``-``, or ``article``."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:100].rstrip("-")
    return slug or "article"


def suffixed(slug: str) -> str:
    """Return ``slug`` with a random suffix: the slug of an article whose title's slug is taken."""
    return f"{slug}-{secrets.token_hex(4)}"


def _article_columns(viewer_id: int | None, *, body: bool) -> list[Any]:
    columns: list[Any] = [
        articles.c.id,
        articles.c.slug,
        articles.c.title,
        articles.c.description,
        articles.c.created_at,
        articles.c.updated_at,
        articles.c.favorites_count,
        articles.c.author_id,
        *_AUTHOR,
        _following(viewer_id, articles.c.author_id).label("following"),
    ]
    if body:
        columns.append(articles.c.body)
    if viewer_id is None:
        columns.append(false().label("favorited"))
    else:
        favourite = exists().where(
            favorites.c.article_id == articles.c.id, favorites.c.user_id == viewer_id
        )
        columns.append(favourite.label("favorited"))
    return columns


def article_by_slug(slug: str, viewer_id: int | None) -> Select[Any]:
    """Select the article ``slug`` with its body, its author and the reader's flags."""
    columns = _article_columns(viewer_id, body=True)
    return (
        select(*columns)
        .join(users, users.c.id == articles.c.author_id)
        .where(articles.c.slug == slug)
    )


def list_filters(filters: ArticleFilters) -> list[ColumnElement[bool]]:
    """The WHERE conditions of ``GET /articles``' filters."""
    conditions: list[ColumnElement[bool]] = []
    if filters.tag is not None:
        tagged = select(article_tags.c.article_id).join(tags, tags.c.id == article_tags.c.tag_id)
        conditions.append(articles.c.id.in_(tagged.where(tags.c.name == filters.tag)))
    if filters.author is not None:
        author = select(users.c.id).where(users.c.username == filters.author)
        conditions.append(articles.c.author_id.in_(author))
    if filters.favorited is not None:
        fans = select(favorites.c.article_id).join(users, users.c.id == favorites.c.user_id)
        conditions.append(articles.c.id.in_(fans.where(users.c.username == filters.favorited)))
    return conditions


def feed_filter(viewer_id: int) -> list[ColumnElement[bool]]:
    """The WHERE condition of the feed: articles by authors ``viewer_id`` follows."""
    followed = select(follows.c.followed_id).where(follows.c.follower_id == viewer_id)
    return [articles.c.author_id.in_(followed)]


def count_articles(conditions: Sequence[ColumnElement[bool]]) -> Select[Any]:
    """Count the articles meeting ``conditions``."""
    return select(func.count()).select_from(articles).where(*conditions)


def article_page(
    conditions: Sequence[ColumnElement[bool]], viewer_id: int | None, page: Page
) -> Select[Any]:
    """Select a page of the articles meeting ``conditions``, newest first, without bodies."""
    return (
        select(*_article_columns(viewer_id, body=False))
        .join(users, users.c.id == articles.c.author_id)
        .where(*conditions)
        .order_by(articles.c.created_at.desc(), articles.c.id.desc())
        .limit(page.limit)
        .offset(page.offset)
    )


def tags_of(article_ids: Iterable[int]) -> Select[Any]:
    """Select ``(article_id, name)`` of every tag of ``article_ids``, by name."""
    return (
        select(article_tags.c.article_id, tags.c.name)
        .join(tags, tags.c.id == article_tags.c.tag_id)
        .where(article_tags.c.article_id.in_(list(article_ids)))
        .order_by(tags.c.name)
    )


def article_from(row: RowMapping, tag_names: Iterable[str], **changed: Any) -> Article:
    """The article of an ``article_by_slug`` / ``article_page`` row, ``changed`` fields replaced."""
    article = Article(
        slug=row["slug"],
        title=row["title"],
        description=row["description"],
        body=row.get("body"),
        tags=tuple(sorted(tag_names)),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        favorited=bool(row["favorited"]),
        favorites_count=row["favorites_count"],
        author=profile_from(row),
    )
    return article._replace(**changed)


def article_id(slug: str) -> Select[Any]:
    """Select the id and author of article ``slug``."""
    return select(articles.c.id, articles.c.author_id).where(articles.c.slug == slug)


def insert_article(dialect: str, author_id: int, slug: str, values: dict[str, Any]) -> Insert:
    """Insert an article under ``slug`` returning its id, or nothing when the slug is taken."""
    row = {**values, "slug": slug, "author_id": author_id, "favorites_count": 0}
    result: Insert = _insert_new(dialect, articles, "slug").values(row).returning(articles.c.id)
    return result


def slug_taken(slug: str) -> Select[Any]:
    """Select 1 if an article has ``slug``."""
    return select(articles.c.id).where(articles.c.slug == slug)


def update_article(article_id: int, values: dict[str, Any]) -> Update:
    """Set ``values`` on article ``article_id``."""
    return update(articles).where(articles.c.id == article_id).values(values)


def delete_article(article_id: int) -> Delete:
    """Delete article ``article_id`` (its tag links, favourites and comments go with it)."""
    return delete(articles).where(articles.c.id == article_id)


def insert_tags(dialect: str, names: Sequence[str]) -> Insert:
    """Insert the tags of ``names`` that do not exist yet, in one statement."""
    statement = _insert_new(dialect, tags, "name").values([{"name": name} for name in names])
    result: Insert = statement
    return result


def link_tags(article_id: int, names: Sequence[str]) -> Insert:
    """Tag article ``article_id`` with ``names`` (tags that exist), in one statement."""
    chosen = select(literal(article_id, Integer), tags.c.id).where(tags.c.name.in_(list(names)))
    return article_tags.insert().from_select(["article_id", "tag_id"], chosen)


def unlink_tags(article_id: int) -> Delete:
    """Remove every tag of article ``article_id``."""
    return delete(article_tags).where(article_tags.c.article_id == article_id)


def used_tags() -> Select[Any]:
    """Select the names of the tags at least one article has, by name."""
    used = exists().where(article_tags.c.tag_id == tags.c.id)
    return select(tags.c.name).where(used).order_by(tags.c.name)


# -- favourites -------------------------------------------------------------------


def insert_favorite(dialect: str, user_id: int, article_id: int) -> Insert:
    """Make ``user_id`` favourite ``article_id``, returning a row only if they did not yet."""
    statement = _insert_new(dialect, favorites, "user_id", "article_id")
    values = statement.values(user_id=user_id, article_id=article_id)
    result: Insert = values.returning(favorites.c.article_id)
    return result


def delete_favorite(user_id: int, article_id: int) -> Executable:
    """Remove ``user_id``'s favourite of ``article_id``, returning a row if there was one."""
    return (
        delete(favorites)
        .where(favorites.c.user_id == user_id, favorites.c.article_id == article_id)
        .returning(favorites.c.article_id)
    )


def add_favorites(article_id: int, delta: int) -> Update:
    """Add ``delta`` (1 or -1) to the favourite count of ``article_id``."""
    count = articles.c.favorites_count
    return update(articles).where(articles.c.id == article_id).values(favorites_count=count + delta)


# -- comments ---------------------------------------------------------------------


def comments_of(article_id: int, viewer_id: int | None) -> Select[Any]:
    """Select the comments on ``article_id`` with their authors, newest first."""
    return (
        select(
            comments.c.id,
            comments.c.created_at,
            comments.c.updated_at,
            comments.c.body,
            *_AUTHOR,
            _following(viewer_id, comments.c.author_id).label("following"),
        )
        .join(users, users.c.id == comments.c.author_id)
        .where(comments.c.article_id == article_id)
        .order_by(comments.c.created_at.desc(), comments.c.id.desc())
    )


def insert_comment(article_id: int, author_id: int, body: str, at: datetime) -> Insert:
    """Insert a comment, returning its id."""
    values = {"article_id": article_id, "author_id": author_id, "body": body}
    return (
        comments.insert()
        .values({**values, "created_at": at, "updated_at": at})
        .returning(comments.c.id)
    )


def comment_from(row: RowMapping) -> Comment:
    """The comment of a ``comments_of`` row."""
    return Comment(row["id"], row["created_at"], row["updated_at"], row["body"], profile_from(row))


def comment_author(slug: str, comment_id: int) -> Select[Any]:
    """Select the author of comment ``comment_id`` if it is on article ``slug``."""
    return (
        select(comments.c.author_id)
        .join(articles, articles.c.id == comments.c.article_id)
        .where(comments.c.id == comment_id, articles.c.slug == slug)
    )


def delete_comment(comment_id: int) -> Delete:
    """Delete comment ``comment_id``."""
    return delete(comments).where(comments.c.id == comment_id)
