"""The SQL of the services, shared by the sync and async ones: statements and row mapping.

Every statement is built with SQLAlchemy Core, so values travel as bound
parameters, never in the SQL text. Every statement on notes is scoped to an
owner: another user's note is simply not found.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple, TypedDict

from sqlalchemy import Executable, RowMapping, delete, insert, select, update

from .schema import api_tokens, notes, users
from .validation import NoteInput, Page

__all__ = [
    "NoteJson",
    "NotesPage",
    "User",
    "create_note",
    "delete_note",
    "find_user",
    "insert_token",
    "insert_user",
    "list_notes",
    "note_json",
    "select_note",
    "set_words",
    "token_sha256",
    "update_note",
    "user_by_id",
    "user_by_token",
]

_NOTE = (notes.c.id, notes.c.title, notes.c.body, notes.c.words)


class User(NamedTuple):
    """The authenticated user, as services find it in ``meta.user``."""

    id: int
    name: str


def token_sha256(token: str) -> str:
    """Return the hex SHA-256 of ``token``: what ``api_tokens`` stores and looks up."""
    return hashlib.sha256(token.encode()).hexdigest()


def user_by_token(token: str) -> Executable:
    """Select the user owning ``token``."""
    return (
        select(users.c.id, users.c.name)
        .join(api_tokens, api_tokens.c.user_id == users.c.id)
        .where(api_tokens.c.token_sha256 == token_sha256(token))
    )


def user_by_id(user_id: int) -> Executable:
    """Select the user ``user_id`` (a task's user, from the reference its message carried)."""
    return select(users.c.id, users.c.name).where(users.c.id == user_id)


def find_user(name: str) -> Executable:
    """Select the id of the user called ``name``."""
    return select(users.c.id).where(users.c.name == name)


def insert_user(name: str) -> Executable:
    """Insert a user called ``name``, returning its id."""
    return insert(users).values(name=name).returning(users.c.id)


def insert_token(user_id: int, token: str) -> Executable:
    """Store (the hash of) a new token of user ``user_id``."""
    return insert(api_tokens).values(token_sha256=token_sha256(token), user_id=user_id)


def create_note(owner: User, note: NoteInput) -> Executable:
    """Insert a note of ``owner``, returning it."""
    values = {"owner_id": owner.id, "title": note.title, "body": note.body}
    return insert(notes).values(values).returning(*_NOTE)


def select_note(owner: User, note_id: int) -> Executable:
    """Select note ``note_id`` if ``owner`` owns it."""
    return select(*_NOTE).where(notes.c.id == note_id, notes.c.owner_id == owner.id)


def list_notes(owner: User, page: Page) -> Executable:
    """Select a page of ``owner``'s notes, oldest first (keyset paging on the id)."""
    return (
        select(*_NOTE)
        .where(notes.c.owner_id == owner.id, notes.c.id > page.after)
        .order_by(notes.c.id)
        .limit(page.limit)
    )


def update_note(owner: User, note_id: int, note: NoteInput) -> Executable:
    """Replace note ``note_id``'s fields if ``owner`` owns it, returning it."""
    return (
        update(notes)
        .where(notes.c.id == note_id, notes.c.owner_id == owner.id)
        .values(title=note.title, body=note.body, words=None)  # counted again
        .returning(*_NOTE)
    )


def set_words(owner: User, note_id: int, body: str, words: int) -> Executable:
    """Store ``words`` on note ``note_id`` if ``owner`` owns it and it still has ``body``.

    A note updated since it was read keeps NULL: the task sent by that update counts it.
    """
    return (
        update(notes)
        .where(notes.c.id == note_id, notes.c.owner_id == owner.id, notes.c.body == body)
        .values(words=words)
        .returning(notes.c.id)
    )


def delete_note(owner: User, note_id: int) -> Executable:
    """Delete note ``note_id`` if ``owner`` owns it, returning its id."""
    return (
        delete(notes)
        .where(notes.c.id == note_id, notes.c.owner_id == owner.id)
        .returning(notes.c.id)
    )


class NoteJson(TypedDict):
    """A note as the API answers it."""

    id: int
    title: str
    body: str
    #: Counted by the ``count_words`` task; None until it ran.
    words: int | None


class NotesPage(TypedDict):
    """A page of notes: ``GET /notes``."""

    notes: list[NoteJson]


def note_json(row: RowMapping) -> NoteJson:
    """Return the JSON form of a note row: ``{"id", "title", "body", "words"}``."""
    return {"id": row["id"], "title": row["title"], "body": row["body"], "words": row["words"]}
