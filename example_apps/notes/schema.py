"""The tables (SQLAlchemy Core): users, their API tokens, and notes owned by users."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    text,
)

__all__ = ["api_tokens", "create_schema", "metadata", "notes", "users"]

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
)

# Only a SHA-256 of each token is stored: a leaked table gives no usable token.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
)

notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("owner_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
    # Counted by the count_words task after each write; NULL until then (or without a worker).
    Column("words", Integer, nullable=True),
    # The id of a deleted note is never handed out again (SQLite reuses it otherwise).
    sqlite_autoincrement=True,
)


def create_schema(engine: Engine) -> None:
    """Create the tables that do not exist yet (run once, before the servers start)."""
    metadata.create_all(engine)
    # A database made before notes had a word count gets the column.
    columns = {column["name"] for column in inspect(engine).get_columns("notes")}
    if "words" not in columns:
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE notes ADD COLUMN words INTEGER"))
