"""Async services (Starlette): the same logic as ``services``, awaiting the database.

The statements, the validation and the errors are the ones the sync services
use; only the I/O differs: ``await self._ctx.aget("db")`` gives the context's
``AsyncConnection`` and ``await self._ctx.meta.aget("user")`` loads the user.
No call here blocks the event loop.
"""

from __future__ import annotations

from polydatum import Context, Layer, Service
from sqlalchemy.ext.asyncio import AsyncConnection

from . import statements as sql
from .errors import Unauthorized
from .services import AfterWrite, not_found, require_user
from .statements import NoteJson, NotesPage, User
from .validation import parse_bearer, parse_note, parse_note_id, parse_page

__all__ = ["AsyncNotes", "AsyncNotesContext", "AsyncNotesDal", "AsyncNotesService", "AsyncUsers"]


class AsyncNotesContext(Context["AsyncNotesDal", User | None]):
    """A context of the async notes DataManager: ``db`` is the request's ``AsyncConnection``.

    Set up with ``await ctx.aget("db", AsyncConnection)``; ``await
    ctx.meta.aget("user")`` loads the authenticated user.
    """

    db: AsyncConnection


class AsyncNotesService(Service["AsyncNotesDal", AsyncNotesContext]):
    """What every async notes service reads: the connection and the user, typed."""

    async def _db(self) -> AsyncConnection:
        return await self._ctx.aget("db", AsyncConnection)


class AsyncUsers(AsyncNotesService):
    """Users, looked up by token (tokens are issued by the sync ``Users`` service)."""

    async def authenticate(self, authorization: str | None) -> User:
        """Return the user whose token the ``Authorization`` header carries.

        Raises:
            Unauthorized: no Bearer token, or an unknown one.
        """
        token = parse_bearer(authorization)
        db = await self._db()
        row = (await db.execute(sql.user_by_token(token))).first()
        if row is None:
            raise Unauthorized("Unknown token: ask for a new one (python -m example_apps token).")
        return User._make(row)


class AsyncNotes(AsyncNotesService):
    """Async twin of ``services.Notes`` (words are counted by the sync one, in a worker)."""

    def __init__(self, after_write: AfterWrite | None = None) -> None:
        super().__init__()
        self._after_write = after_write

    async def list(self, after: str | None = None, limit: str | None = None) -> NotesPage:
        """Return ``{"notes": [...]}``: a page of the user's notes, oldest first."""
        user = require_user(await self._ctx.meta.aget("user"))
        db = await self._db()
        result = await db.execute(sql.list_notes(user, parse_page(after, limit)))
        return {"notes": [sql.note_json(row) for row in result.mappings()]}

    async def create(self, body: bytes) -> NoteJson:
        """Create a note from a JSON body and return it."""
        user = require_user(await self._ctx.meta.aget("user"))
        db = await self._db()
        row = (await db.execute(sql.create_note(user, parse_note(body)))).mappings().one()
        self._written(row["id"], user)
        return sql.note_json(row)

    async def read(self, note_id: str) -> NoteJson:
        """Return note ``note_id``; ``NotFound`` unless the user owns it."""
        user = require_user(await self._ctx.meta.aget("user"))
        number = parse_note_id(note_id)
        db = await self._db()
        row = (await db.execute(sql.select_note(user, number))).mappings().first()
        if row is None:
            raise not_found(number)
        return sql.note_json(row)

    async def update(self, note_id: str, body: bytes) -> NoteJson:
        """Replace note ``note_id``'s title and body from a JSON body and return it."""
        user = require_user(await self._ctx.meta.aget("user"))
        number, note = parse_note_id(note_id), parse_note(body)
        db = await self._db()
        row = (await db.execute(sql.update_note(user, number, note))).mappings().first()
        if row is None:
            raise not_found(number)
        self._written(number, user)
        return sql.note_json(row)

    async def delete(self, note_id: str) -> None:
        """Delete note ``note_id``; ``NotFound`` unless the user owns it."""
        user = require_user(await self._ctx.meta.aget("user"))
        number = parse_note_id(note_id)
        db = await self._db()
        if (await db.execute(sql.delete_note(user, number))).first() is None:
            raise not_found(number)

    def _written(self, note_id: int, owner: User) -> None:
        if self._after_write is not None:
            self._after_write(note_id, owner)


class AsyncNotesDal(Layer):
    """The async notes DAL: ``dal.users`` and ``dal.notes``."""

    users: AsyncUsers
    notes: AsyncNotes
