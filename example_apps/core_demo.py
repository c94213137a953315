"""A runnable tour of the polydatum core: services, a SQLite resource, a transaction middleware.

Run: ``python example_apps/core_demo.py [path/to/notes.sqlite3]`` (default: a file in the
system's temp folder). It creates a notes table, writes in one context, shows that a failing
context rolls back, and reads everything back. Typed throughout (docs/typing.md): ``Dal``
declares the services, ``Ctx`` the resource and the type of ``meta.user``.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import TypedDict

from polydatum import Context, DataManager, Layer, NotFound, Service


class Ctx(Context["Dal", str]):
    """A context of the demo: ``db`` is its SQLite connection, ``meta.user`` a user name."""

    db: sqlite3.Connection


class Note(TypedDict):
    """A note as ``Notes.get`` gives it."""

    id: int
    owner: str
    text: str


class Notes(Service["Dal", Ctx]):
    """All data access for notes lives here, never in the caller."""

    def create(self, text: str) -> int:
        owner = self._ctx.meta.require("user")
        cur = self._ctx.db.execute("INSERT INTO notes (owner, text) VALUES (?, ?)", (owner, text))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def get(self, note_id: int) -> Note | None:
        row: tuple[int, str, str] | None = self._ctx.db.execute(
            "SELECT id, owner, text FROM notes WHERE id = ? AND owner = ?",
            (note_id, self._ctx.meta.user),
        ).fetchone()
        if row is None:
            return None
        return {"id": row[0], "owner": row[1], "text": row[2]}

    def rename(self, note_id: int, text: str) -> None:
        if self.get(note_id) is None:
            raise NotFound(f"note {note_id}")
        self._ctx.db.execute("UPDATE notes SET text = ? WHERE id = ?", (text, note_id))

    def mine(self) -> list[str]:
        cur = self._ctx.db.execute(
            "SELECT text FROM notes WHERE owner = ? ORDER BY id", (self._ctx.meta.user,)
        )
        rows: list[tuple[str]] = cur.fetchall()
        return [text for (text,) in rows]


class Dal(Layer):
    """The demo's DAL: ``dal.notes``."""

    notes: Notes


def build(path: Path) -> DataManager[Dal, Ctx]:
    """Wire a DataManager: a lazily opened SQLite connection and one transaction per context."""

    def db(ctx: Ctx) -> Generator[sqlite3.Connection, None, None]:
        conn = sqlite3.connect(path)  # opens a transaction before the first write
        try:
            yield conn
        finally:
            conn.close()

    def transaction(ctx: Ctx) -> Generator[None, None, None]:
        try:
            yield
        except BaseException:
            if "db" in ctx:  # only if this context touched the database
                ctx.db.rollback()
            raise
        if "db" in ctx and ctx.db.in_transaction:
            ctx.db.commit()  # a failing commit propagates to the caller

    dm = DataManager(dal_class=Dal, context_class=Ctx)
    dm.register_resources(db=db)
    dm.register_context_middleware(transaction)
    dm.register_services(notes=Notes())
    with dm.context() as ctx:
        ctx.db.execute(
            "CREATE TABLE IF NOT EXISTS notes"
            " (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, text TEXT NOT NULL)"
        )
    return dm


def main(argv: list[str]) -> int:
    default = Path(tempfile.gettempdir()) / "polydatum-demo.sqlite3"
    path = Path(argv[1]) if len(argv) > 1 else default
    dm = build(path)
    print(f"polydatum core demo, database: {path}")

    with dm.dal(meta={"user": "ann"}) as dal:
        note_id = dal.notes.create("buy milk")
        dal.notes.rename(note_id, "buy oat milk")
        print(f"ann created note {note_id}: {dal.notes.get(note_id)}")

    try:
        with dm.dal(meta={"user": "ann"}) as dal:
            dal.notes.create("this one is rolled back")
            dal.notes.rename(10**9, "no such note")  # raises NotFound
    except NotFound as exc:
        print(f"failed context rolled back ({type(exc).__name__}, HTTP {exc.code}: {exc})")

    with dm.dal(meta={"user": "bob"}) as dal:
        print(f"bob sees ann's note? {dal.notes.get(note_id) is not None}")
    with dm.dal(meta={"user": "ann"}) as dal:
        print(f"ann's notes: {dal.notes.mine()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
