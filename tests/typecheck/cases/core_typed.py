"""Every typed access path of the core has the declared type (run: each one works too)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from typing import Any, assert_type

from notes_app import Archive, Ctx, Dal, Notes, User, build, db
from polydatum import Context, DataManager, Resource, Service, ValueResource
from polydatum.testing import override


class Counter(Service[Dal, Ctx]):
    """A service typed without the app's base class."""

    def titles(self) -> list[str]:
        assert_type(self._dal, Dal)
        assert_type(self._ctx, Ctx)
        assert_type(self._ctx.db, sqlite3.Connection)
        assert_type(self._ctx.dal, Dal)
        assert_type(self._ctx.meta.user, User | None)
        assert_type(self._ctx.meta.require("user"), User | None)
        assert_type(self._ctx.meta.get("user"), User | None)
        assert_type(self._ctx.meta.request, Any)  # keys not declared stay open
        assert_type(self._dal.notes, Notes)
        assert_type(self._dal.notes.archive, Archive)
        return [self._dal.notes.title(1)]

    async def auser(self) -> User | None:
        user = await self._ctx.meta.aget("user")
        assert_type(user, User | None)
        db = await self._ctx.aget("db", sqlite3.Connection)
        assert_type(db, sqlite3.Connection)
        assert_type(await self._ctx.aget("db"), Any)  # without a type: Any
        return user


def first_title(dm: DataManager[Dal, Ctx]) -> str:
    """A ``return`` inside ``with dm.context()`` ends the function: contexts never suppress."""
    with dm.context(meta={"user": User("eve")}) as ctx:
        return ctx.dal.notes.title(ctx.dal.notes.create("kept"))


async def afirst_title(dm: DataManager[Dal, Ctx]) -> str:
    """The same with ``async with``."""
    async with dm.context(meta={"user": User("eve")}) as ctx:
        return ctx.dal.notes.title(ctx.dal.notes.create("kept"))


class FullDal(Dal):
    """The app's DAL with one more service."""

    counter: Counter


def resources(dm: DataManager[Dal, Ctx]) -> None:
    """Each way of annotating a resource's generator is accepted."""

    def iterator(ctx: Ctx) -> Iterator[int]:
        yield 1

    def generator(ctx: Context[Any, Any]) -> Generator[str, None, None]:
        yield "two"

    async def async_iterator(ctx: Ctx) -> AsyncIterator[bytes]:
        yield b"3"

    async def async_generator(ctx: Ctx) -> AsyncGenerator[float, None]:
        yield 4.0

    class Four(Resource):
        def __call__(self, context: Context[Any, Any]) -> Generator[int, None, None]:
            yield 4

    dm.register_resources(
        iterator=iterator,
        generator=generator,
        async_iterator=async_iterator,
        async_generator=async_generator,
        four=Four(),
        value=ValueResource(5),
    )

    async def read() -> list[Any]:
        names = ("iterator", "generator", "async_iterator", "async_generator", "four", "value")
        values: list[Any] = []
        async with dm.context() as ctx:
            values += [await ctx.aget(name) for name in names]
        return values

    assert asyncio.run(read()) == [1, "two", b"3", 4.0, 4, 5]


def middleware(ctx: Ctx) -> Iterator[None]:
    """Context middleware typed with the app's context."""
    yield
    if "db" in ctx:
        ctx.db.commit()


def main() -> None:
    dm = build()
    assert_type(dm, DataManager[Dal, Ctx])
    dm.register_context_middleware(middleware)
    dm.check()
    assert_type(dm.get_dal(), Dal)
    with dm.dal(meta={"user": User("ann")}) as dal:
        assert_type(dal, Dal)
        assert_type(dal.notes, Notes)
        assert_type(dal.notes.archive, Archive)
        note_id = dal.notes.create("milk")
        assert_type(note_id, int)
        assert_type(dal.notes.title(note_id), str)
        assert_type(dal.notes.archive.count(), int)
        assert dal.notes.archived() == 0
        assert_type(dal["notes.title"], Any)  # the dotted path is not typed
    with dm.context(meta={"user": User("bob")}) as ctx:
        assert_type(ctx, Ctx)
        assert_type(ctx.db, sqlite3.Connection)
        assert_type(ctx.dal, Dal)
        assert_type(ctx.meta.user, User | None)
        assert_type(dm.get_active_context(), Ctx | None)
        assert ctx.meta.user == User("bob")

    async def run() -> None:
        async with dm.dal(meta={"user": User("cy")}) as dal:
            assert_type(dal, Dal)
            dal.notes.create("async")
        async with dm.context() as ctx:
            assert_type(ctx, Ctx)

    asyncio.run(run())
    with override(dm, services={"notes": Notes()}) as same:
        assert_type(same, DataManager[Dal, Ctx])
    resources(dm)

    full = DataManager(dal_class=FullDal, context_class=Ctx)
    assert_type(full, DataManager[FullDal, Ctx])
    full.register_resources(db=db)
    full.register_services(notes=Notes().register_services(archive=Archive()), counter=Counter())
    with full.dal(meta={"user": User("dee")}) as dal:
        assert_type(dal.counter, Counter)
        dal.notes.create("first")
        assert dal.counter.titles() == ["first"]
        assert asyncio.run(dal.counter.auser()) == User("dee")
    assert first_title(build()) == "kept"
    assert asyncio.run(afirst_title(build())) == "kept"


if __name__ == "__main__":
    main()
