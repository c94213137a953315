"""Declared DALs and contexts: what the classes declare is what is registered, or an error."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar
from unittest.mock import Mock

import pytest
from polydatum import (
    Context,
    DataAccessContext,
    DataAccessLayer,
    DataManager,
    Layer,
    Meta,
    Service,
)
from polydatum.errors import RegistrationError
from polydatum.testing import override

if TYPE_CHECKING:
    from decimal import Decimal  # known to type checkers only


class Archive(Service):
    def count(self) -> int:
        return 7


class Notes(Service):
    archive: Archive
    limit: int = 10  # a value: a plain class attribute, not a declaration
    _cache: dict[str, str]  # private: not a declaration
    kind: ClassVar[str] = "notes"

    def archived(self) -> int:
        return self.archive.count()


class Users(Service):
    pass


class Dal(Layer):
    notes: Notes
    users: Users


class Ctx(Context["Dal", str]):
    db: dict[str, str]


def db(ctx: Ctx) -> Iterator[dict[str, str]]:
    yield {"ann": "milk"}


def full() -> DataManager[Dal, Ctx]:
    dm = DataManager(dal_class=Dal, context_class=Ctx)
    dm.register_resources(db=db)
    dm.register_services(notes=Notes().register_services(archive=Archive()), users=Users())
    return dm


def test_the_dal_is_of_the_declared_class_and_a_data_access_layer() -> None:
    """dal_class makes the DAL an instance of it, and still of DataAccessLayer."""
    dm = full()
    with dm.dal() as dal:
        assert isinstance(dal, Dal)
        assert isinstance(dal, DataAccessLayer)
        assert dal.notes.archived() == 7
    assert "notes" not in vars(Dal)  # services live on the DataManager's own class


def test_contexts_are_of_the_declared_class_and_data_access_contexts() -> None:
    """context_class makes each context an instance of it, and still of DataAccessContext."""
    dm = full()
    with dm.context(meta={"user": "ann"}) as ctx:
        assert isinstance(ctx, Ctx)
        assert isinstance(ctx, DataAccessContext)
        assert ctx.db == {"ann": "milk"}
        assert ctx.meta.user == "ann"


def test_a_service_of_another_type_than_declared_is_refused() -> None:
    """Registering a Users under a name declared as Notes says what the declaration wants."""
    dm = DataManager(dal_class=Dal)
    with pytest.raises(RegistrationError) as info:
        dm.register_services(notes=Users())
    message = str(info.value)
    assert "The DAL class Dal declares 'notes' as Notes" in message
    assert "register an instance of Notes" in message
    assert "notes" not in dm.get_dal()


def test_an_undeclared_name_on_a_declared_dal_is_refused() -> None:
    """A declared DAL takes no service under a name it does not declare, and lists its names."""
    dm = DataManager(dal_class=Dal)
    with pytest.raises(
        RegistrationError, match=r"declares no service named 'note' \(it declares: notes, users\)"
    ):
        dm.register_services(note=Notes())


def test_replacing_is_checked_and_subclasses_and_specced_mocks_pass() -> None:
    """replace_service checks the type too; a subclass or a Mock(spec=...) is what was declared."""

    class FakeNotes(Notes):
        pass

    dm = full()
    with pytest.raises(RegistrationError, match="declares 'notes' as Notes"):
        dm.replace_service("notes", Users())
    dm.replace_service("notes", FakeNotes())
    dm.replace_service("users", Mock(spec=Users))
    with dm.dal() as dal:
        assert isinstance(dal.notes, FakeNotes)


def test_overrides_are_checked_against_the_declaration() -> None:
    """testing.override refuses a double of the wrong type and leaves the DAL as it was."""
    dm = full()
    with (
        pytest.raises(RegistrationError, match="declares 'users' as Users"),
        override(dm, services={"users": Notes()}),
    ):
        pass
    with dm.dal() as dal:
        assert type(dal.users) is Users


def test_a_sub_service_of_another_type_than_declared_is_refused() -> None:
    """A service's annotation declares its sub-service: another type under that name is refused."""
    with pytest.raises(RegistrationError, match="Service Notes declares 'archive' as Archive"):
        Notes().register_services(archive=Users())


def test_a_sub_service_over_a_declared_non_service_is_refused() -> None:
    """A name a service declares as something else (an int) can not take a sub-service."""

    class Paged(Service):
        size: int

    with pytest.raises(RegistrationError, match="declares 'size' as int"):
        Paged().register_services(size=Users())


def test_services_take_undeclared_sub_services() -> None:
    """Services stay open: a sub-service they do not declare is registered as in 0.9."""
    notes = Notes().register_services(archive=Archive(), extra=Users())
    assert isinstance(notes.extra, Users)  # type: ignore[attr-defined]


def test_check_lists_everything_declared_and_not_registered() -> None:
    """dm.check() names each missing service, sub-service and resource, and how to register it."""
    dm = DataManager(dal_class=Dal, context_class=Ctx)
    dm.register_services(notes=Notes())
    with pytest.raises(RegistrationError) as info:
        dm.check()
    lines = str(info.value).splitlines()
    assert lines == [
        "Declared but not registered:",
        "  - dal.users (Users): dm.register_services(users=Users())",
        "  - dal.notes.archive (Archive): Notes().register_services(archive=Archive())",
        "  - ctx.db (a resource: dict[str, str]): dm.register_resources(db=...)",
    ]


def test_check_passes_when_everything_declared_is_registered() -> None:
    """A DataManager that registers all its classes declare passes the check."""
    full().check()


def test_check_passes_for_a_data_manager_that_declares_nothing() -> None:
    """The 0.9 API: nothing declared, nothing to check, whatever is registered."""
    dm = DataManager()
    dm.register_services(users=Users(), anything=Archive())
    dm.register_resources(db=db)
    dm.check()


def test_a_type_known_only_to_type_checkers_must_still_be_registered() -> None:
    """An annotation that does not evaluate at run time is declared, just not type-checked."""

    class Priced(Layer):
        price: Decimal  # imported under TYPE_CHECKING only

    dm = DataManager(dal_class=Priced)
    missing = (
        r"dal\.price \(Decimal, not known at run time\): dm.register_services\(price=Decimal\(\)\)"
    )
    with pytest.raises(RegistrationError, match=missing):
        dm.check()
    dm.register_services(price=Users())  # not checkable: accepted
    dm.check()


def test_annotations_of_a_legacy_context_subclass_are_not_resources() -> None:
    """A DataAccessContext subclass (0.9's customisation) declares no resources: no check fails."""

    class Custom(DataAccessContext):
        request_id: str

    class Manager(DataManager):
        context_class = Custom

    Manager().check()


def test_dal_class_must_be_a_layer() -> None:
    """dal_class says it wants a Layer subclass and shows one."""
    with pytest.raises(TypeError, match=r"subclass of polydatum\.Layer .*class Dal\(Layer\)"):
        DataManager(dal_class=Notes)  # type: ignore[type-var]


def test_context_class_must_be_a_context() -> None:
    """context_class says it wants a Context subclass and shows one."""
    with pytest.raises(TypeError, match=r"subclass of polydatum\.Context .*class Ctx\(Context"):
        DataManager(context_class=dict)  # type: ignore[type-var]


def test_generic_classes_take_parameters_without_typing_generic() -> None:
    """Context[...], Service[...], Meta[...] and DataManager[...] subscript at run time; no
    typing.Generic sits in their MRO (it would cost every context a few instructions)."""
    assert typing.get_args(Context["Dal", str]) == ("Dal", str)
    for cls in (Context, DataAccessContext, Service, Meta, DataManager, Layer, Ctx, Notes):
        assert typing.Generic not in cls.__mro__, cls
    assert typing.get_origin(DataManager[Dal, Ctx]) is DataManager
    assert typing.get_origin(Meta[str]) is Meta


def test_aget_with_a_kind_checks_the_resource_is_one() -> None:
    """await ctx.aget(name, kind) gives the resource when it is a kind, else a TypeError."""
    import asyncio

    async def run() -> None:
        dm = full()
        async with dm.context() as ctx:
            assert await ctx.aget("db", dict) == {"ann": "milk"}
            assert await ctx.aget("db", dict) is ctx.db  # set up once
            with pytest.raises(TypeError, match=r"Resource 'db' is .*not an instance of list"):
                await ctx.aget("db", list)

    asyncio.run(run())
