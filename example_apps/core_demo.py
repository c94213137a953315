"""A runnable tour of the polydatum core: services, a SQLite resource, a transaction middleware.

Run: ``python example_apps/core_demo.py [path/to/notes.sqlite3]`` (default: a file in the
system's temp folder). It creates a notes table, writes in one context, shows that a failing
context rolls back, and reads everything back.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import Any

from polydatum import DataAccessContext, DataManager, NotFound, Service


class Notes(Service):
    """All data access for notes lives here, never in the caller."""

    def create(self, text: str) -> int:
        owner = self._ctx.meta.require("user")
        cur: sqlite3.Cursor = self._ctx.db.execute(
            "INSERT INTO notes (owner, text) VALUES (?, ?)", (owner, text)
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def get(self, note_id: int) -> dict[str, Any] | None:
        row = self._ctx.db.execute(
            "SELECT id, owner, text FROM notes WHERE id = ? AND owner = ?",
            (note_id, self._ctx.meta.user),
        ).fetchone()
        return dict(row) if row else None

    def rename(self, note_id: int, text: str) -> None:
        if self.get(note_id) is None:
            raise NotFound(f"note {note_id}")
        self._ctx.db.execute("UPDATE notes SET text = ? WHERE id = ?", (text, note_id))

    def mine(self) -> list[str]:
        rows = self._ctx.db.execute(
            "SELECT text FROM notes WHERE owner = ? ORDER BY id", (self._ctx.meta.user,)
        )
        return [row["text"] for row in rows]


def build(path: Path) -> DataManager:
    """Wire a DataManager: a lazily opened SQLite connection and one transaction per context."""

    def db(ctx: DataAccessContext) -> Generator[sqlite3.Connection, None, None]:
        conn = sqlite3.connect(path)  # opens a transaction before the first write
        conn.row_factory = sqlite3.Row
        try:
            yield conn
        finally:
            conn.close()

    def transaction(ctx: DataAccessContext) -> Generator[None, None, None]:
        try:
            yield
        except BaseException:
            if "db" in ctx:  # only if this context touched the database
                ctx.db.rollback()
            raise
        if "db" in ctx and ctx.db.in_transaction:
            ctx.db.commit()  # a failing commit propagates to the caller

    dm = DataManager()
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
