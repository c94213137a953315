"""Mistakes type checkers catch in typed code: each marked line must fail, with that error."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from notes_app import AppService, Ctx, build
from polydatum import DataAccessContext, DataManager, Service

dm = build()

with dm.dal() as dal:
    # expect: mypy[attr-defined] pyright[reportAttributeAccessIssue, reportUnknownMemberType]
    dal.nottes  # a typo in a service's name
    # expect: mypy[attr-defined] pyright[reportAttributeAccessIssue, reportUnknownMemberType]
    dal.notes.craete("milk")  # a typo in a method's name
    # expect: mypy[arg-type] pyright[reportArgumentType]
    dal.notes.create(title=1)  # a wrong argument type
    # expect: mypy[call-arg] pyright[reportCallIssue]
    dal.notes.create()  # a missing argument
    # expect: mypy[assignment] pyright[reportAssignmentType]
    name: str = dal.notes.create("milk")  # a wrong use of the return value
    # expect: mypy[attr-defined] pyright[reportAttributeAccessIssue, reportUnknownMemberType]
    dal.notes.create("milk").upper()  # int has no upper()
    # expect: mypy[attr-defined] pyright[reportAttributeAccessIssue, reportUnknownMemberType]
    dal.notes.archive.cuont()  # a typo in a sub-service's method
    # expect: mypy[attr-defined] pyright[reportAttributeAccessIssue, reportUnknownMemberType]
    dal.notes.archiv  # a typo in a sub-service's name

with dm.context() as ctx:
    # expect: mypy[attr-defined] pyright[reportAttributeAccessIssue, reportUnknownMemberType]
    ctx.dbb  # a typo in a resource's name
    # expect: mypy[attr-defined] pyright[reportAttributeAccessIssue, reportUnknownMemberType]
    ctx.db.exceute("SELECT 1")  # a typo in the resource's own method
    user = ctx.meta.user
    assert user is not None
    # expect: mypy[attr-defined] pyright[reportAttributeAccessIssue, reportUnknownMemberType]
    user.nmae  # a typo in the user's attribute
    # expect: mypy[union-attr] pyright[reportOptionalMemberAccess]
    ctx.meta.user.name  # the user may be None


class Reports(AppService):
    def total(self) -> str:
        # expect: mypy[attr-defined] pyright[reportAttributeAccessIssue, reportUnknownMemberType]
        self._dal.nottes  # a typo, inside a service
        # expect: mypy[attr-defined] pyright[reportAttributeAccessIssue, reportUnknownMemberType]
        self._ctx.dbb  # a resource typo, inside a service
        # expect: mypy[return-value] pyright[reportReturnType]
        return self._dal.notes.create("x")  # returns an int, not a str

    async def first(self) -> str:
        db = await self._ctx.aget("db", sqlite3.Connection)
        # expect: mypy[return-value] pyright[reportReturnType]
        return db.total_changes  # the resource is typed: an int, not a str


def legacy_middleware(ctx: DataAccessContext) -> Iterator[None]:
    yield


def not_a_resource(ctx: Ctx) -> sqlite3.Connection:
    return sqlite3.connect(":memory:")


# expect: mypy[arg-type] pyright[reportArgumentType]
dm.register_context_middleware(legacy_middleware)  # typed for another context class
# expect: mypy[arg-type] pyright[reportArgumentType]
dm.register_resources(db=not_a_resource)  # returns a value, not a generator


class NotALayer:
    notes: Service


# expect: mypy[type-var] pyright[reportArgumentType]
DataManager(dal_class=NotALayer)  # a DAL class must be a Layer
