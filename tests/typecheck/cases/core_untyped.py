"""Code that declares nothing (polydatum 0.9's API) still type-checks: names read as Any."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, assert_type

from polydatum import DataAccessContext, DataAccessLayer, DataManager, Meta, Service


class Archive(Service):
    def count(self) -> int:
        return 42


class Notes(Service):
    def archived(self) -> int:
        assert_type(self._dal, DataAccessLayer)
        assert_type(self._dal.notes, Any)
        assert_type(self._ctx, DataAccessContext)
        assert_type(self._ctx.db, Any)
        assert_type(self._ctx.meta, Meta)
        assert_type(self._ctx.meta.user, Any)
        count: int = self._dal.notes.archive.count()
        return count


def db(ctx: DataAccessContext) -> Iterator[dict[str, str]]:
    yield {"ann": "buy milk"}


def transaction(ctx: DataAccessContext) -> Iterator[None]:
    yield


def archived(dm: DataManager) -> int:
    # A return inside `with dm.dal()` ends the function: the DAL's scope never suppresses.
    with dm.dal() as dal:
        count: int = dal.notes.archived()
        return count


async def aarchived(dm: DataManager) -> int:
    async with dm.dal() as dal:
        count: int = dal.notes.archived()
        return count


def main() -> None:
    dm = DataManager()
    assert_type(dm, DataManager)
    dm.register_services(notes=Notes().register_services(archive=Archive()))
    dm.register_resources(db=db)
    dm.register_context_middleware(transaction)
    dm.check()
    with dm.dal(meta={"user": "ann"}) as dal:
        assert_type(dal, DataAccessLayer)
        assert_type(dal.notes, Any)
        assert dal.notes.archived() == 42
        assert dal["dal.notes.archive.count"]() == 42
    with dm.context() as ctx:
        assert_type(ctx, DataAccessContext)
        assert ctx.db == {"ann": "buy milk"}
    assert_type(dm.get_dal(), DataAccessLayer)
    layer: DataAccessLayer = dm.get_dal()
    assert "notes" in layer
    assert archived(dm) == 42
    assert asyncio.run(aarchived(dm)) == 42


if __name__ == "__main__":
    main()
