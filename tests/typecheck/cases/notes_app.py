"""A typed app that every case shares: its DAL, context, services and DataManager.

Declared once, the way docs/typing.md shows: ``Dal`` (the services), ``Ctx``
(the resources and the user's type) and ``AppService`` (what every service's
``self._dal`` and ``self._ctx`` are).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

from polydatum import Context, DataManager, Layer, NotFound, Service


@dataclass(frozen=True)
class User:
    """Who a context acts for."""

    name: str


class Ctx(Context["Dal", User | None]):
    """The app's context: ``ctx.db`` is its connection, ``ctx.meta.user`` a ``User``."""

    db: sqlite3.Connection


class AppService(Service["Dal", Ctx]):
    """Every service of the app: ``self._dal`` is a ``Dal``, ``self._ctx`` a ``Ctx``."""


class Archive(AppService):
    """A sub-service: ``dal.notes.archive``."""

    def count(self) -> int:
        row: tuple[int] = self._ctx.db.execute("SELECT count(*) FROM archived").fetchone()
        return row[0]


class Notes(AppService):
    """The notes of the context's user."""

    archive: Archive

    def create(self, title: str) -> int:
        user = self._ctx.meta.user
        owner = user.name if user is not None else "nobody"
        cur = self._ctx.db.execute("INSERT INTO notes (owner, title) VALUES (?, ?)", (owner, title))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def title(self, note_id: int) -> str:
        row: tuple[str] | None = self._ctx.db.execute(
            "SELECT title FROM notes WHERE id = ?", (note_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"No note {note_id}.")
        return row[0]

    def archived(self) -> int:
        return self._dal.notes.archive.count()  # services call each other through the DAL


class Dal(Layer):
    """The app's DAL: ``dal.notes`` is a ``Notes``."""

    notes: Notes


def db(ctx: Ctx) -> Iterator[sqlite3.Connection]:
    """One in-memory database per context, with the app's tables."""
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.executescript(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, owner TEXT, title TEXT);"
        "CREATE TABLE archived (id INTEGER PRIMARY KEY);"
    )
    try:
        yield conn
    finally:
        conn.close()


def build() -> DataManager[Dal, Ctx]:
    """The app's DataManager, every declared service and resource registered."""
    dm = DataManager(dal_class=Dal, context_class=Ctx)
    dm.register_resources(db=db)
    dm.register_services(notes=Notes().register_services(archive=Archive()))
    return dm
