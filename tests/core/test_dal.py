"""Registration, the DAL and services: the polydatum 0.9 API and its clear errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from polydatum import DataAccessContext, DataAccessLayer, DataManager, Service, ValueResource
from polydatum.errors import (
    AlreadyExistsException,
    NoActiveContextError,
    NotFound,
    RegistrationError,
    ServiceError,
    UnknownNameError,
)
from polydatum.resources import Resource, ResourceManager


class Notes(Service):
    def get(self, note_id: int) -> str | None:
        return {1: "first"}.get(note_id)

    def whoami(self) -> Any:
        return self._ctx.meta.user


class Archive(Service):
    def count(self) -> int:
        return 42


def test_dal_reaches_registered_services(dm: DataManager) -> None:
    """dal.<name> is the registered service while a context is active."""
    notes = Notes()
    dm.register_services(notes=notes)
    with dm.dal() as dal:
        assert dal.notes is notes
        assert dal.notes.get(1) == "first"


def test_dal_without_context_names_the_fix(dm: DataManager) -> None:
    """dal.<name> with no active context raises NoActiveContextError saying how to open one."""
    dm.register_services(notes=Notes())
    with pytest.raises(NoActiveContextError, match=r"with dm\.dal"):
        dm.get_dal().notes  # noqa: B018


def test_unknown_service_is_an_attribute_error(dm: DataManager) -> None:
    """An unknown service name raises AttributeError naming it, with or without a context."""
    dm.register_services(notes=Notes(), archive=Archive())
    with pytest.raises(AttributeError, match="'nope'"):
        dm.get_dal().nope  # noqa: B018
    with dm.dal() as dal, pytest.raises(AttributeError, match="'nope'"):
        dal.nope  # noqa: B018


def test_unknown_service_path_lists_registered_names(dm: DataManager) -> None:
    """``dal['name.method']`` with an unknown service lists the registered services."""
    dm.register_services(notes=Notes(), archive=Archive())
    with (
        dm.dal() as dal,
        pytest.raises(AttributeError, match="registered services: archive, notes"),
    ):
        dal["nope.get"]


@pytest.mark.parametrize("lookup", ["dal.nope", "dal['nope.get']", "dal['notes.nope']"])
def test_unknown_name_is_both_attribute_and_key_error(dm: DataManager, lookup: str) -> None:
    """An unknown name raises UnknownNameError: an AttributeError and, as in 0.9, a KeyError."""
    dm.register_services(notes=Notes())
    with dm.dal() as dal:
        with pytest.raises(UnknownNameError) as info:
            eval(lookup, {"dal": dal})  # the three spellings of one lookup
        with pytest.raises(KeyError):
            eval(lookup, {"dal": dal})
    assert isinstance(info.value, AttributeError)
    assert "'nope'" in str(info.value)


def test_never_registered_service_lists_the_registered_ones(dm: DataManager) -> None:
    """``dal.notes`` for a service never registered lists those that are, and how to register."""
    dm.register_services(archive=Archive(), users=Service())
    with dm.dal() as dal, pytest.raises(UnknownNameError) as info:
        dal.notes  # noqa: B018
    assert str(info.value) == (
        "No service named 'notes'; registered services: archive, users. "
        "Register it with dm.register_services(notes=...)."
    )


def test_unknown_part_of_a_path_names_its_owner_and_sub_services(dm: DataManager) -> None:
    """``dal['notes.nope']`` names the service that lacks ``nope`` and its sub-services."""
    dm.register_services(notes=Notes().register_services(archive=Archive()))
    with dm.dal() as dal, pytest.raises(UnknownNameError) as info:
        dal["notes.nope"]
    assert "Notes has no 'nope' (in 'notes.nope'); its sub-services: archive." in str(info.value)


def test_dal_scope_used_without_with_says_to_use_with(dm: DataManager) -> None:
    """``dm.dal().notes`` (no ``with``) says to use ``with dm.dal() as dal:``."""
    dm.register_services(notes=Notes())
    with pytest.raises(AttributeError, match=r"use `with dm\.dal\(\) as dal:`.*then `dal\.notes`"):
        dm.dal().notes  # noqa: B018


def test_service_class_instead_of_instance_says_pass_an_instance(dm: DataManager) -> None:
    """Registering a Service class (not an instance) raises RegistrationError: "Notes()"."""
    with pytest.raises(RegistrationError, match=r"pass an instance: Notes\(\)"):
        dm.register_services(notes=Notes)  # type: ignore[arg-type]
    with pytest.raises(RegistrationError, match=r"pass an instance: Archive\(\)"):
        Notes().register_services(archive=Archive)  # type: ignore[arg-type]
    assert dm.service_names() == []


def test_resource_class_instead_of_instance_says_pass_an_instance(dm: DataManager) -> None:
    """Registering a Resource class (not an instance) raises RegistrationError: "Db()"."""

    class Db(Resource):
        def __call__(self, context: Any) -> Iterator[str]:
            yield "db"

    with pytest.raises(RegistrationError, match=r"pass an instance: .*Db\(\)"):
        dm.register_resources(db=Db)
    assert dm.resource_names() == []


@pytest.mark.parametrize(
    "name", ["meta", "dal", "data_manager", "aget", "get_resource_exit_errors", "_state"]
)
def test_reserved_resource_name_is_refused(dm: DataManager, name: str) -> None:
    """A resource named like an attribute every context has is refused, naming the reserved."""
    with pytest.raises(RegistrationError) as info:
        dm.register_resources(**{name: ValueResource(1)})
    assert f"Resource name {name!r} is reserved" in str(info.value)
    assert "reserved: aget, dal, data_manager, get_resource_exit_errors, meta" in str(info.value)
    assert dm.resource_names() == []


def test_resource_named_like_a_custom_context_attribute_is_refused() -> None:
    """A name the DataManager's own context class already uses is reserved too."""

    class Ctx(DataAccessContext):
        def tenant(self) -> str:
            return "acme"

    class Dm(DataManager):
        context_class = Ctx

    dm = Dm()
    with pytest.raises(RegistrationError, match=r"'tenant' is reserved.*tenant"):
        dm.register_resources(tenant=ValueResource("x"))
    with dm.context() as ctx:
        assert ctx.tenant() == "acme"


def test_dal_dm_dal_yields_the_data_managers_dal(dm: DataManager) -> None:
    """`with dm.dal()` gives the DataManager's own DAL object."""
    with dm.dal() as dal:
        assert dal is dm.get_dal()
        assert isinstance(dal, DataAccessLayer)


def test_nested_services(dm: DataManager) -> None:
    """Sub-services registered on a service are reached as dal.parent.child."""
    archive = Archive()
    dm.register_services(notes=Notes().register_services(archive=archive))
    with dm.dal() as dal:
        assert dal.notes.archive is archive
        assert dal.notes.archive.count() == 42


def test_nested_service_is_set_up_with_the_data_manager(dm: DataManager) -> None:
    """A sub-service gets the DataManager, the DAL and the context like a top-level one."""
    inner = Notes()
    dm.register_services(outer=Service().register_services(inner=inner))
    assert inner._data_manager is dm
    assert inner._dal is dm.get_dal()
    with dm.dal(meta={"user": "ann"}) as dal:
        assert dal.outer.inner.whoami() == "ann"


def test_sub_service_named_like_a_method_does_not_hide_it(dm: DataManager) -> None:
    """A sub-service named like a method of its parent leaves the method in place."""
    parent = Notes().register_services(get=Archive())
    assert parent.get(1) == "first"
    assert isinstance(parent._services["get"], Archive)


def test_dal_path_lookup(dm: DataManager) -> None:
    """dal['service.sub.method'] resolves a dotted path, ignoring a leading 'dal.'."""
    dm.register_services(notes=Notes().register_services(archive=Archive()))
    with dm.dal() as dal:
        assert dal["notes.get"](1) == "first"
        assert dal["dal.notes.archive.count"]() == 42
        assert dal["notes"] is dal.notes


def test_duplicate_service_raises_naming_it(dm: DataManager) -> None:
    """Registering a service name twice raises AlreadyExistsException naming it."""
    dm.register_services(notes=Notes())
    with pytest.raises(AlreadyExistsException, match=r"'notes'.*replace_service"):
        dm.register_services(notes=Notes())


def test_duplicate_sub_service_raises(dm: DataManager) -> None:
    """Registering a sub-service name twice on the same service raises AlreadyExistsException."""
    parent = Notes().register_services(archive=Archive())
    with pytest.raises(AlreadyExistsException, match="'archive'"):
        parent.register_services(archive=Archive())


def test_replace_service(dm: DataManager) -> None:
    """replace_service swaps the service registered under a name."""
    dm.register_services(notes=Notes())
    other = Notes()
    dm.replace_service("notes", other)
    with dm.dal() as dal:
        assert dal.notes is other


def test_service_must_be_a_service(dm: DataManager) -> None:
    """Registering a non-Service raises RegistrationError saying what was given."""
    with pytest.raises(RegistrationError, match=r"'notes' must be a polydatum\.Service.*int"):
        dm.register_services(notes=3)  # type: ignore[arg-type]


def test_duplicate_resource_raises_naming_it(dm: DataManager) -> None:
    """Registering a resource name twice raises AlreadyExistsException naming it."""
    dm.register_resources(db=lambda ctx: (yield 1))
    with pytest.raises(AlreadyExistsException, match=r"'db'.*replace_resource"):
        dm.register_resources(db=lambda ctx: (yield 2))


def test_replace_resource(dm: DataManager) -> None:
    """replace_resource swaps the resource registered under a name."""
    dm.register_resources(db=lambda ctx: (yield 1))
    dm.replace_resource("db", lambda ctx: (yield 2))
    with dm.context() as ctx:
        assert ctx.db == 2


def test_resource_must_be_a_generator_callable(dm: DataManager) -> None:
    """Registering a non-generator resource raises RegistrationError saying what is expected."""

    def not_a_generator(ctx: Any) -> int:
        return 1

    with pytest.raises(
        RegistrationError, match=r"'db' must be a generator function.*not_a_generator"
    ):
        dm.register_resources(db=not_a_generator)  # type: ignore[arg-type]


def test_middleware_must_be_a_generator_callable(dm: DataManager) -> None:
    """Registering a non-generator middleware raises RegistrationError saying what is expected."""
    with pytest.raises(RegistrationError, match="must be a generator function"):
        dm.register_context_middleware(print)


def test_duplicate_middleware_raises(dm: DataManager) -> None:
    """Registering the same middleware twice raises AlreadyExistsException naming it."""

    def tx(ctx: Any) -> Iterator[None]:
        yield

    dm.register_context_middleware(tx)
    with pytest.raises(AlreadyExistsException, match="tx"):
        dm.register_context_middleware(tx)


def test_class_based_resource(dm: DataManager) -> None:
    """A Resource subclass whose __call__ is a generator works, and gets setup(data_manager)."""

    class Pool(Resource):
        def __call__(self, context: Any) -> Iterator[Any]:
            yield ("conn", self._data_manager)

    dm.register_resources(db=Pool())
    with dm.context() as ctx:
        assert ctx.db == ("conn", dm)


def test_value_resource(dm: DataManager) -> None:
    """ValueResource yields the value it was built with."""
    marker = object()
    dm.register_resources(thing=ValueResource(marker))
    with dm.context() as ctx:
        assert ctx.thing is marker


def test_get_resource(dm: DataManager) -> None:
    """get_resource returns the registered resource, or None."""
    res = ValueResource(1)
    dm.register_resources(one=res)
    assert dm.get_resource("one") is res
    assert dm.get_resource("two") is None


def test_resource_names_list_registrations_in_order(dm: DataManager) -> None:
    """resource_names() gives every registered resource's name, in order of registration."""
    dm.register_resources(db=ValueResource(1), cache=ValueResource(2))
    dm.replace_resource("db", ValueResource(3))
    assert dm.resource_names() == ["db", "cache"]


def test_get_service_needs_no_context(dm: DataManager) -> None:
    """get_service returns a registered service outside any context, or None."""
    notes = Notes()
    dm.register_services(notes=notes)
    assert dm.get_service("notes") is notes
    assert dm.get_service("archive") is None


def test_service_names_list_registrations_in_order(dm: DataManager) -> None:
    """service_names() gives every top-level service's name, in order of registration."""
    dm.register_services(notes=Notes(), archive=Archive())
    dm.replace_service("notes", Notes())
    assert dm.service_names() == ["notes", "archive"]


def test_custom_resource_manager() -> None:
    """A DataManager accepts its own ResourceManager."""
    dm = DataManager()
    rm = ResourceManager(dm)
    rm.register_resources(db=ValueResource("x"))
    custom = DataManager(resource_manager=rm)
    with custom.context() as ctx:
        assert ctx.db == "x"


def test_get_middleware_returns_registered_in_order(dm: DataManager) -> None:
    """get_middleware(context) returns the middleware in registration order."""

    def one(ctx: Any) -> Iterator[None]:
        yield

    def two(ctx: Any) -> Iterator[None]:
        yield

    dm.register_context_middleware(one)
    dm.register_context_middleware(two)
    assert list(dm.get_middleware(dm.context())) == [one, two]


def test_service_error_codes() -> None:
    """ServiceError maps to HTTP 500 and NotFound to 404."""
    assert ServiceError.code == 500
    assert NotFound.code == 404
    assert issubclass(NotFound, ServiceError)


def test_seed_import_paths() -> None:
    """The module paths of polydatum 0.9 still import."""
    from polydatum.context import DataAccessContext, Meta  # noqa: F401
    from polydatum.errors import (  # noqa: F401
        MiddlewareException,
        MiddlewareSetupException,
        PolydatumException,
        ResourceException,
        ResourceSetupException,
    )
    from polydatum.resources import Resource, ResourceManager, ValueResource  # noqa: F401


def test_replace_resource_after_use(dm: DataManager) -> None:
    """A resource replaced after contexts used it is the one later contexts get."""
    dm.register_resources(db=lambda ctx: (yield 1))
    with dm.context() as ctx:
        assert ctx.db == 1
    dm.replace_resource("db", lambda ctx: (yield 2))
    with dm.context() as ctx:
        assert ctx.db == 2


def test_resource_registered_on_the_resource_manager_directly() -> None:
    """A resource added to the ResourceManager itself, after the DataManager exists, still works."""
    dm = DataManager()
    dm._resource_manager.register_resources(late=ValueResource("late"))
    with dm.context() as ctx:
        assert ctx.late == "late"
