"""The tables (SQLAlchemy Core), the same on SQLite and PostgreSQL, created when the app starts.

Users follow users and favourite articles; articles have tags and comments.
Deleting an article deletes its tags' links, favourites and comments
(``ON DELETE CASCADE``; SQLite enforces it because ``example_apps.engines``
turns its foreign keys on). ``articles.favorites_count`` is kept by the
services in the same transaction as the ``favorites`` row it counts, so the
article list reads it without counting.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    inspect,
    select,
)
from sqlalchemy.schema import CreateIndex, CreateTable

__all__ = [
    "article_tags",
    "articles",
    "comments",
    "create_schema",
    "favorites",
    "follows",
    "metadata",
    "tags",
    "users",
]

metadata = MetaData()


def _user_ref(name: str, *, primary_key: bool = False, index: bool = False) -> Column[int]:
    key = ForeignKey("users.id", ondelete="CASCADE")
    return Column(name, key, nullable=False, primary_key=primary_key, index=index)


def _article_ref(*, primary_key: bool = False, index: bool = False) -> Column[int]:
    key = ForeignKey("articles.id", ondelete="CASCADE")
    return Column("article_id", key, nullable=False, primary_key=primary_key, index=index)


users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(40), nullable=False, unique=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("bio", Text, nullable=False),
    Column("image", Text, nullable=False),
    sqlite_autoincrement=True,
)

# follower follows followed.
follows = Table(
    "follows",
    metadata,
    _user_ref("follower_id", primary_key=True),
    _user_ref("followed_id", primary_key=True, index=True),
)

articles = Table(
    "articles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("slug", String(120), nullable=False, unique=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("body", Text, nullable=False),
    _user_ref("author_id", index=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("favorites_count", Integer, nullable=False),
    sqlite_autoincrement=True,
)

tags = Table(
    "tags",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(40), nullable=False, unique=True),
)

article_tags = Table(
    "article_tags",
    metadata,
    _article_ref(primary_key=True),
    Column(
        "tag_id",
        ForeignKey("tags.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=True,
        index=True,
    ),
)

favorites = Table(
    "favorites",
    metadata,
    _user_ref("user_id", primary_key=True),
    _article_ref(primary_key=True, index=True),
)

comments = Table(
    "comments",
    metadata,
    Column("id", Integer, primary_key=True),
    _article_ref(index=True),
    _user_ref("author_id"),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    sqlite_autoincrement=True,
)

# Any constant: the lock that keeps two processes from creating the tables at once.
_SCHEMA_LOCK = 7_201_608


def create_schema(engine: Engine) -> None:
    """Create the tables and indexes that do not exist yet; safe in several processes at once.

    Raises:
        RuntimeError: the database has a ``users`` table that is not Conduit's
            (another app's, e.g. the notes app's): Conduit needs a database of its own.
    """
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Server processes starting together: one creates, the others wait and find it done.
            connection.execute(select(func.pg_advisory_xact_lock(_SCHEMA_LOCK)))
        found = inspect(connection)
        if found.has_table("users"):
            columns = {column["name"] for column in found.get_columns("users")}
            if "username" not in columns:
                raise RuntimeError(
                    f"The database {engine.url.render_as_string(hide_password=True)} already "
                    "has a users table that is not Conduit's (another app's?): give Conduit "
                    "a database of its own ($DATABASE_URL)."
                )
        for table in metadata.sorted_tables:
            connection.execute(CreateTable(table, if_not_exists=True))
            for index in table.indexes:
                connection.execute(CreateIndex(index, if_not_exists=True))
