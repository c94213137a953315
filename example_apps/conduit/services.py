"""The Conduit services: all the logic and every statement, on the context's ``db`` connection.

One set for every app: Flask and Django call them in their request threads,
FastAPI in its thread pool (sync path operations). A request is one
transaction (``TransactionMiddleware``): what a service wrote is committed
when the request ends cleanly and rolled back when anything raises, so an
article and its tags, or a favourite and the article's count, are stored
together or not at all.

The reader is ``meta.user``: a :class:`~.models.User` loaded from the
request's token on first read, or None for an anonymous request (see
``wiring.user_meta``). Getters return None for what does not exist; actions
on something missing raise ``NotFound``; acting on another user's article or
comment raises ``Forbidden``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from polydatum import Context, Layer, NotFound, Service
from sqlalchemy import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from . import statements as sql
from .errors import Forbidden, Unauthorized, Unprocessable
from .models import Article, ArticlePage, Comment, Profile, User
from .security import Tokens, check_password, hash_password
from .validation import (
    ArticleChanges,
    ArticleFilters,
    Credentials,
    NewArticle,
    NewComment,
    NewUser,
    Page,
    UserChanges,
    comment_id,
    is_slug,
    is_username,
)

__all__ = [
    "Articles",
    "Comments",
    "ConduitContext",
    "ConduitDal",
    "ConduitService",
    "Profiles",
    "Tags",
    "Users",
]

_SCHEMES = ("token", "bearer")  # the spec's "Token <jwt>"; "Bearer <jwt>" works too
_LOGIN_AGAIN = "log in again (POST /api/users/login)"


class ConduitContext(Context["ConduitDal", User | None]):
    """A Conduit context: ``db`` is the request's connection, ``meta.user`` the reader."""

    db: Connection


class ConduitService(Service["ConduitDal", ConduitContext]):
    """What every Conduit service reads: the connection and the reader."""

    @property
    def _db(self) -> Connection:
        return self._ctx.db

    def _reader(self) -> User | None:
        """The logged-in user, or None (a bad token raises ``Unauthorized`` from here)."""
        user = self._ctx.meta.user
        return user if isinstance(user, User) else None

    def _user(self) -> User:
        """The logged-in user; ``Unauthorized`` for an anonymous request."""
        user = self._reader()
        if user is None:
            raise Unauthorized(
                "This needs a logged-in user: send 'Authorization: Token <token>' "
                "(the token of POST /api/users or /api/users/login)."
            )
        return user

    def _one(self, statement: Any) -> RowMapping | None:
        row: RowMapping | None = self._db.execute(statement).mappings().first()
        return row


class Users(ConduitService):
    """Registration, login and the logged-in user's account."""

    def __init__(self, tokens: Tokens) -> None:
        super().__init__()
        self._tokens = tokens

    def authenticate(self, authorization: str | None) -> User | None:
        """Return the user whose token the ``Authorization`` header carries; None without one.

        Raises:
            Unauthorized: not ``Token <jwt>``, or a token that is expired, forged
                or of a user that no longer exists.
        """
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() not in _SCHEMES or not token:
            raise Unauthorized("The Authorization header must be 'Token <token>'.")
        row = self._one(sql.user_by_id(self._tokens.user_id(token)))
        if row is None:
            raise Unauthorized(f"The token's user does not exist (any more): {_LOGIN_AGAIN}.")
        return sql.user_from(row, token)

    def register(self, new: NewUser) -> User:
        """Create a user and return them with a new token.

        Raises:
            Unprocessable: the username or the email is taken.
        """
        self._refuse_taken(new.username, new.email)
        statement = sql.insert_user(new, hash_password(new.password))
        try:
            user_id: int = self._db.execute(statement).scalar_one()
        except IntegrityError:  # taken by a request that committed since the check
            raise Unprocessable("username or email has already been taken") from None
        return User(user_id, new.username, new.email, "", "", self._tokens.issue(user_id))

    def login(self, credentials: Credentials) -> User:
        """Return the user with these credentials and a new token.

        Raises:
            Unauthorized: no user has this email, or the password is wrong.
        """
        row = self._one(sql.login_row(credentials.email))
        if not check_password(credentials.password, None if row is None else row["password_hash"]):
            raise Unauthorized("The email or the password is wrong.")
        assert row is not None
        return sql.user_from(row, self._tokens.issue(row["id"]))

    def current(self) -> User:
        """Return the logged-in user."""
        return self._user()

    def update(self, changes: UserChanges) -> User:
        """Change the logged-in user's fields given in ``changes``; return the user.

        Raises:
            Unprocessable: the new username or email belongs to another user.
        """
        user = self._user()
        if changes.username is not None or changes.email is not None:
            self._refuse_taken(changes.username, changes.email, but=user.id)
        values = {
            name: value
            for name, value in changes._asdict().items()
            if value is not None and name != "password"
        }
        if changes.password is not None:
            values["password_hash"] = hash_password(changes.password)
        try:
            row = self._db.execute(sql.update_user(user.id, values)).mappings().one()
        except IntegrityError:  # taken by a request that committed since the check
            raise Unprocessable("username or email has already been taken") from None
        return sql.user_from(row, user.token)

    def _refuse_taken(
        self, username: str | None, email: str | None, but: int | None = None
    ) -> None:
        rows = self._db.execute(sql.taken(username, email, but)).all()
        problems = [
            f"{field} has already been taken"
            for field, value in (("username", username), ("email", email))
            if value is not None and any(getattr(row, field) == value for row in rows)
        ]
        if problems:
            raise Unprocessable(*problems)


class Profiles(ConduitService):
    """Users as others see them, and following."""

    def get(self, username: str) -> Profile | None:
        """Return ``username``'s profile, or None when there is no such user."""
        row = self._row(username)
        return None if row is None else sql.profile_from(row)

    def follow(self, username: str) -> Profile:
        """Make the logged-in user follow ``username``; return the profile."""
        return self._set_following(username, True)

    def unfollow(self, username: str) -> Profile:
        """Make the logged-in user stop following ``username``; return the profile."""
        return self._set_following(username, False)

    def _row(self, username: str) -> RowMapping | None:
        if not is_username(username):
            return None
        reader = self._reader()
        return self._one(sql.profile(username, None if reader is None else reader.id))

    def _set_following(self, username: str, following: bool) -> Profile:
        user = self._user()
        row = self._row(username)
        if row is None:
            raise NotFound(f"No user {username!r}.")
        if following:
            if row["id"] == user.id:
                raise Unprocessable("You can not follow yourself.")
            self._db.execute(sql.insert_follow(self._db.dialect.name, user.id, row["id"]))
        else:
            self._db.execute(sql.delete_follow(user.id, row["id"]))
        return sql.profile_from(row, following)


class Articles(ConduitService):
    """Articles: lists, the feed, writing them, favourites."""

    def list(self, filters: ArticleFilters, page: Page) -> ArticlePage:
        """Return a page of the articles matching ``filters``, newest first."""
        return self._page(sql.list_filters(filters), page)

    def feed(self, page: Page) -> ArticlePage:
        """Return a page of the articles by authors the logged-in user follows, newest first."""
        return self._page(sql.feed_filter(self._user().id), page)

    def get(self, slug: str) -> Article | None:
        """Return article ``slug``, or None when there is none."""
        row = self._row(slug)
        return None if row is None else sql.article_from(row, self._tags(row["id"]))

    def create(self, new: NewArticle) -> Article:
        """Write an article of the logged-in user, tagged with ``new.tags``; return it.

        Its slug is the title's; when another article has it, a random suffix is added.
        """
        user = self._user()
        at = sql.now()
        values = {
            "title": new.title,
            "description": new.description,
            "body": new.body,
            "created_at": at,
            "updated_at": at,
        }
        slug, dialect = sql.slugify(new.title), self._db.dialect.name
        article_id = self._db.execute(sql.insert_article(dialect, user.id, slug, values)).scalar()
        while article_id is None:  # the slug is taken: another, with a suffix
            slug = sql.suffixed(sql.slugify(new.title))
            article_id = self._db.execute(
                sql.insert_article(dialect, user.id, slug, values)
            ).scalar()
        self._tag(article_id, new.tags)
        author = Profile(user.username, user.bio, user.image, following=False)
        return Article(
            slug, new.title, new.description, new.body, tuple(sorted(new.tags)),
            at, at, favorited=False, favorites_count=0, author=author,
        )  # fmt: skip

    def update(self, slug: str, changes: ArticleChanges) -> Article:
        """Change the logged-in user's article ``slug``; return it (a new title, a new slug).

        Raises:
            NotFound: there is no article ``slug``.
            Forbidden: the article is another user's.
        """
        row = self._own(slug)
        values: dict[str, Any] = {
            name: value
            for name, value in changes._asdict().items()
            if value is not None and name != "tags"
        }
        values["updated_at"] = sql.now()
        if changes.title is not None and changes.title != row["title"]:
            slug = sql.slugify(changes.title)
            if slug != row["slug"] and self._one(sql.slug_taken(slug)) is not None:
                slug = sql.suffixed(slug)
            values["slug"] = slug
        try:
            self._db.execute(sql.update_article(row["id"], values))
        except IntegrityError:  # another request took the new slug since the check
            raise Unprocessable("Another article got this title at the same time: retry.") from None
        if changes.tags is None:
            tag_names: tuple[str, ...] = self._tags(row["id"])
        else:
            self._db.execute(sql.unlink_tags(row["id"]))
            self._tag(row["id"], changes.tags)
            tag_names = changes.tags
        return sql.article_from(row, tag_names, **values)

    def delete(self, slug: str) -> None:
        """Delete the logged-in user's article ``slug`` with its comments and favourites.

        Raises:
            NotFound: there is no article ``slug``.
            Forbidden: the article is another user's.
        """
        self._db.execute(sql.delete_article(self._own(slug)["id"]))

    def favorite(self, slug: str) -> Article:
        """Make article ``slug`` a favourite of the logged-in user; return it."""
        user, row = self._user(), self._found(slug)
        inserted = self._db.execute(
            sql.insert_favorite(self._db.dialect.name, user.id, row["id"])
        ).first()
        return self._counted(row, favorited=True, delta=0 if inserted is None else 1)

    def unfavorite(self, slug: str) -> Article:
        """Remove article ``slug`` from the logged-in user's favourites; return it."""
        user, row = self._user(), self._found(slug)
        deleted = self._db.execute(sql.delete_favorite(user.id, row["id"])).first()
        return self._counted(row, favorited=False, delta=0 if deleted is None else -1)

    def _counted(self, row: RowMapping, *, favorited: bool, delta: int) -> Article:
        if delta:
            self._db.execute(sql.add_favorites(row["id"], delta))
        count = row["favorites_count"] + delta
        return sql.article_from(
            row, self._tags(row["id"]), favorited=favorited, favorites_count=count
        )

    def _page(self, conditions: Sequence[Any], page: Page) -> ArticlePage:
        reader = self._reader()
        total: int = self._db.execute(sql.count_articles(conditions)).scalar_one()
        statement = sql.article_page(conditions, None if reader is None else reader.id, page)
        rows = self._db.execute(statement).mappings().all()
        tags: dict[int, list[str]] = {row["id"]: [] for row in rows}
        if rows:
            for article_id, name in self._db.execute(sql.tags_of(tags)):
                tags[article_id].append(name)
        return ArticlePage([sql.article_from(row, tags[row["id"]]) for row in rows], total)

    def _row(self, slug: str) -> RowMapping | None:
        if not is_slug(slug):
            return None
        reader = self._reader()
        return self._one(sql.article_by_slug(slug, None if reader is None else reader.id))

    def _found(self, slug: str) -> RowMapping:
        row = self._row(slug)
        if row is None:
            raise NotFound(f"No article {slug!r}.")
        return row

    def _own(self, slug: str) -> RowMapping:
        user = self._user()
        row = self._found(slug)
        if row["author_id"] != user.id:
            raise Forbidden("Only the article's author can change or delete it.")
        return row

    def _tags(self, article_id: int) -> tuple[str, ...]:
        return tuple(name for _, name in self._db.execute(sql.tags_of([article_id])))

    def _tag(self, article_id: int, names: tuple[str, ...]) -> None:
        if names:
            self._db.execute(sql.insert_tags(self._db.dialect.name, names))
            self._db.execute(sql.link_tags(article_id, names))


class Comments(ConduitService):
    """Comments on articles."""

    def list(self, slug: str) -> list[Comment]:
        """Return the comments on article ``slug``, newest first.

        Raises:
            NotFound: there is no article ``slug``.
        """
        reader = self._reader()
        article_id = self._article(slug)
        rows = self._db.execute(
            sql.comments_of(article_id, None if reader is None else reader.id)
        ).mappings()
        return [sql.comment_from(row) for row in rows]

    def add(self, slug: str, new: NewComment) -> Comment:
        """Add the logged-in user's comment to article ``slug``; return it."""
        user = self._user()
        at = sql.now()
        statement = sql.insert_comment(self._article(slug), user.id, new.body, at)
        new_id: int = self._db.execute(statement).scalar_one()
        author = Profile(user.username, user.bio, user.image, following=False)
        return Comment(new_id, at, at, new.body, author)

    def delete(self, slug: str, comment: str) -> None:
        """Delete the logged-in user's comment ``comment`` on article ``slug``.

        Raises:
            NotFound: there is no such comment on that article.
            Forbidden: the comment is another user's.
        """
        user = self._user()
        number = comment_id(comment)
        author = None
        if number is not None and is_slug(slug):
            author = self._db.execute(sql.comment_author(slug, number)).scalar()
        if number is None or author is None:
            raise NotFound(f"No comment {comment!r} on article {slug!r}.")
        if author != user.id:
            raise Forbidden("Only the comment's author can delete it.")
        self._db.execute(sql.delete_comment(number))

    def _article(self, slug: str) -> int:
        row = self._one(sql.article_id(slug)) if is_slug(slug) else None
        if row is None:
            raise NotFound(f"No article {slug!r}.")
        article_id: int = row["id"]
        return article_id


class Tags(ConduitService):
    """The tags articles have."""

    def list(self) -> list[str]:
        """Return the names of the tags in use, by name."""
        return list(self._db.execute(sql.used_tags()).scalars())


class ConduitDal(Layer):
    """The Conduit DAL: every web app's endpoints call these services."""

    users: Users
    profiles: Profiles
    articles: Articles
    comments: Comments
    tags: Tags
