"""Sync services (Flask, Django, the worker): all the notes logic, on the context's ``db``.

Each method reads the authenticated user from ``meta.user`` first (loading it
from the request's token on first read; in a task, from the id it carried),
then checks its input, then runs one statement. The request's transaction
commits when the request ends cleanly and rolls back when a service raises,
so a failed request writes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from polydatum import Context, Layer, NotFound, Service
from sqlalchemy import Connection

from . import statements as sql
from .errors import Unauthorized
from .statements import NoteJson, NotesPage, User
from .validation import parse_bearer, parse_note, parse_note_id, parse_page

__all__ = [
    "AfterWrite",
    "Notes",
    "NotesContext",
    "NotesDal",
    "NotesService",
    "Users",
    "new_token",
    "not_found",
    "require_user",
    "word_count",
]

#: Called with a note's id and owner after a service wrote it, inside the request's context.
AfterWrite = Callable[[int, User], None]


class NotesContext(Context["NotesDal", User | None]):
    """A context of the sync notes DataManager: ``db`` is the request's connection.

    ``meta.user`` is the authenticated user (loaded from the request's token on
    first read; in a task, from the id it carried), or None.
    """

    db: Connection


class NotesService(Service["NotesDal", NotesContext]):
    """What every sync notes service reads: ``self._dal`` and ``self._ctx``, typed."""


def require_user(user: User | None) -> User:
    """Return ``user`` (``meta.user``) or raise ``Unauthorized`` if the context has none."""
    if not isinstance(user, User):
        raise Unauthorized("This action needs an authenticated user.")
    return user


def not_found(note_id: int) -> NotFound:
    """The error for a note that does not exist or belongs to someone else (no id leaks)."""
    return NotFound(f"No note {note_id}.")


def word_count(body: str) -> int:
    """Return how many words ``body`` has (runs of non-blank characters)."""
    return len(body.split())


def new_token() -> str:
    """Return a new random API token."""
    return secrets.token_urlsafe(32)


class Users(NotesService):
    """Users and their API tokens."""

    def authenticate(self, authorization: str | None) -> User:
        """Return the user whose token the ``Authorization`` header carries.

        Raises:
            Unauthorized: no Bearer token, or an unknown one.
        """
        token = parse_bearer(authorization)
        row = self._ctx.db.execute(sql.user_by_token(token)).first()
        if row is None:
            raise Unauthorized("Unknown token: ask for a new one (python -m example_apps token).")
        return User._make(row)

    def get(self, user_id: int) -> User | None:
        """Return user ``user_id``, or None when there is no such user (any more)."""
        row = self._ctx.db.execute(sql.user_by_id(user_id)).first()
        return None if row is None else User._make(row)

    def issue_token(self, name: str) -> str:
        """Return a new token for user ``name``, creating the user if needed."""
        db = self._ctx.db
        user_id: int | None = db.execute(sql.find_user(name)).scalar_one_or_none()
        if user_id is None:
            user_id = db.execute(sql.insert_user(name)).scalar_one()
        assert user_id is not None
        token = new_token()
        db.execute(sql.insert_token(user_id, token))
        return token


class Notes(NotesService):
    """The authenticated user's notes; other users' notes do not exist for them.

    ``after_write(note_id, owner)``, if given, is called after a note was
    created or updated, inside the request's context (the apps send the
    ``count_words`` task from it, to go out once the request committed).
    """

    def __init__(self, after_write: AfterWrite | None = None) -> None:
        super().__init__()
        self._after_write = after_write

    def list(self, after: str | None = None, limit: str | None = None) -> NotesPage:
        """Return ``{"notes": [...]}``: a page of the user's notes, oldest first."""
        user = require_user(self._ctx.meta.user)
        rows = self._db.execute(sql.list_notes(user, parse_page(after, limit))).mappings()
        return {"notes": [sql.note_json(row) for row in rows]}

    def create(self, body: bytes) -> NoteJson:
        """Create a note from a JSON body and return it."""
        user = require_user(self._ctx.meta.user)
        row = self._db.execute(sql.create_note(user, parse_note(body))).mappings().one()
        self._written(row["id"], user)
        return sql.note_json(row)

    def read(self, note_id: str) -> NoteJson:
        """Return note ``note_id``; ``NotFound`` unless the user owns it."""
        user = require_user(self._ctx.meta.user)
        number = parse_note_id(note_id)
        row = self._db.execute(sql.select_note(user, number)).mappings().first()
        if row is None:
            raise not_found(number)
        return sql.note_json(row)

    def update(self, note_id: str, body: bytes) -> NoteJson:
        """Replace note ``note_id``'s title and body from a JSON body and return it."""
        user = require_user(self._ctx.meta.user)
        number, note = parse_note_id(note_id), parse_note(body)
        row = self._db.execute(sql.update_note(user, number, note)).mappings().first()
        if row is None:
            raise not_found(number)
        self._written(number, user)
        return sql.note_json(row)

    def delete(self, note_id: str) -> None:
        """Delete note ``note_id``; ``NotFound`` unless the user owns it."""
        user = require_user(self._ctx.meta.user)
        number = parse_note_id(note_id)
        if self._db.execute(sql.delete_note(user, number)).first() is None:
            raise not_found(number)

    def count_words(self, note_id: int) -> int:
        """Count note ``note_id``'s words and store the count (the ``count_words`` task).

        Raises:
            NotFound: the user (the task's, the note's owner) has no such note.
        """
        user = require_user(self._ctx.meta.user)
        row = self._db.execute(sql.select_note(user, note_id)).mappings().first()
        if row is None:
            raise not_found(note_id)
        words = word_count(row["body"])
        self._db.execute(sql.set_words(user, note_id, row["body"], words))
        return words

    def _written(self, note_id: int, owner: User) -> None:
        if self._after_write is not None:
            self._after_write(note_id, owner)

    @property
    def _db(self) -> Connection:
        return self._ctx.db


class NotesDal(Layer):
    """The sync notes DAL: ``dal.users`` and ``dal.notes``."""

    users: Users
    notes: Notes
