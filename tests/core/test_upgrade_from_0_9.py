"""polydatum 0.9.1's README examples, run unchanged, give what they gave under polydatum 0.9.1.

Each test holds one example of 0.9.1's README (or one rule it states), copied as
written; what the README leaves out (the backend it talks to, registering the
service it calls) is added around it and marked. The assertions are 0.9.1's
results. Only names 0.9.1 already had are imported.
"""

from __future__ import annotations

from typing import Any

import pytest
from polydatum import DataManager, Service
from polydatum.errors import NotFound


class Transaction:
    """A stand-in for the README's database transaction: records how it ended."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def commit(self) -> None:
        self.log.append("commit")

    def abort(self) -> None:
        self.log.append("abort")


class Database:
    """A stand-in for the README's connection pool and database resource."""

    def __init__(self) -> None:
        self.log: list[str] = []

    def checkout_connection(self) -> Database:
        self.log.append("checkout")
        return self

    def query(self, sql: str, **params: Any) -> dict[str, Any]:
        return {"sql": sql, **params}

    def new_transaction(self) -> Transaction:
        return Transaction(self.log)


def test_readme_dal_and_nested_services() -> None:
    """README, DAL and Service: ``dal.someservice.somemethod()`` and a sub-service's method."""

    class SubService(Service):
        def somemethod(self) -> str:
            return "sub"

    class SomeService(Service):
        def somemethod(self) -> str:
            return "some"

    dm = DataManager()
    dm.register_services(someservice=SomeService().register_services(subservice=SubService()))
    with dm.dal() as dal:
        # README, unchanged:
        result = dal.someservice.somemethod()
        assert result == "some"
        result = dal.someservice.subservice.somemethod()
        assert result == "sub"


def test_readme_meta_example() -> None:
    """README, Meta: a service reads the user from the context's meta."""

    # README, unchanged:
    class UserService(Service):
        def get_user(self):
            return self._ctx.meta.user

    dm = DataManager()
    # Left out by the README: the service it calls is registered as "test".
    dm.register_services(test=UserService())

    # README, unchanged:
    with dm.context(meta={"user": "bob"}) as ctx:
        assert ctx.dal.test.get_user() == "bob"


def test_readme_meta_is_read_only() -> None:
    """README: "Meta is read only and can not be modified": assigning raises AttributeError."""
    dm = DataManager()
    with dm.context(meta={"user": "bob"}) as ctx:
        with pytest.raises(AttributeError, match="Meta values can not be changed"):
            ctx.meta.user = "eve"
        assert ctx.meta.user == "bob"
        assert ctx.meta.missing is None
        with pytest.raises(ValueError, match="missing"):
            ctx.meta.require("missing")


def test_readme_resource_example() -> None:
    """README, Resource: as in 0.9.1, ``self._data_manager.db`` is no resource (AttributeError).

    Resources are reached on the context: the same query through ``self._ctx.db``
    sets the resource up on first access, once per context.
    """
    db = Database()

    # README, unchanged:
    def db_pool(context):
        conn = db.checkout_connection()
        yield conn

    class ItemService(Service):
        def get_item(self, id):
            return self._data_manager.db.query(
                "SELECT * FROM table WHERE id={id}",
                id=id,
            )

        # Not in the README: the same method reaching the resource on the context.
        def get_item_from_context(self, id: int) -> Any:
            return self._ctx.db.query("SELECT * FROM table WHERE id={id}", id=id)

    dm = DataManager()
    # Left out by the README: the service is "items", the resource "db".
    dm.register_services(items=ItemService())
    dm.register_resources(db=db_pool)

    with pytest.raises(AttributeError, match="db"):  # noqa: SIM117 - the README's with
        # README, unchanged:
        with dm.dal() as dal:
            item = dal.items.get_item(1)
    assert db.log == []  # never set up: nothing reads it

    with dm.dal() as dal:
        item = dal.items.get_item_from_context(1)
        assert dal.items.get_item_from_context(2)["id"] == 2
    assert item == {"sql": "SELECT * FROM table WHERE id={id}", "id": 1}
    assert db.log == ["checkout"]


def _transaction_dm(db: Database) -> DataManager:
    """The README's transaction middleware, on a DataManager with its ``db_resource``."""

    # README, unchanged (the lines the reference copy lost restored: try, except, else):
    def transaction_middleware(context):
        trans = context.db_resource.new_transaction()
        try:
            yield trans
        except:  # noqa: E722 - as written
            trans.abort()
        else:
            trans.commit()

    dm = DataManager()
    # Left out by the README: registering the middleware and the resource it uses.
    dm.register_context_middleware(transaction_middleware)

    def db_resource(context):
        yield db

    dm.register_resources(db_resource=db_resource)
    return dm


def test_readme_transaction_middleware_commits_a_clean_context() -> None:
    """README, Middleware: a context that ends cleanly commits."""
    db = Database()
    with _transaction_dm(db).context():
        pass
    assert db.log == ["commit"]


def test_readme_transaction_middleware_does_not_hide_the_exception() -> None:
    """README, Middleware: it aborts on an exception, which still reaches the caller (0.9.1)."""
    db = Database()
    dm = _transaction_dm(db)
    with pytest.raises(LookupError, match="no such item"), dm.context():
        raise LookupError("no such item")
    assert db.log == ["abort"]
    with pytest.raises(LookupError, match="no such item"), dm.dal():
        raise LookupError("no such item")
    assert db.log == ["abort", "abort"]
    assert dm.get_active_context() is None


def test_readme_middleware_errors_propagate() -> None:
    """README: "Errors that occur in middleware are also propagated" (a failing commit)."""

    def failing_commit(context):
        yield
        raise RuntimeError("commit failed")

    dm = DataManager()
    dm.register_context_middleware(failing_commit)
    with pytest.raises(RuntimeError, match="commit failed"), dm.context():
        pass


def test_readme_resource_teardown_errors_are_suppressed() -> None:
    """README: "Errors that occur during Resource teardown are suppressed" (and collected)."""

    def flaky(context):
        yield "conn"
        raise RuntimeError("close failed")

    dm = DataManager()
    dm.register_resources(flaky=flaky)
    with dm.context() as ctx:
        assert ctx.flaky == "conn"
    [(kind, error, _)] = ctx.get_resource_exit_errors()
    assert (kind, str(error)) == (RuntimeError, "close failed")


def test_readme_service_conventions() -> None:
    """README, Service conventions: a getter returns None; a missing parent raises NotFound."""

    class Notes(Service):
        def get(self, note_id):
            return None

        def create(self, parent_id, text):
            raise NotFound("no parent {}".format(parent_id))  # noqa: UP032 - 0.9 style

    dm = DataManager()
    dm.register_services(notes=Notes())
    with dm.dal() as dal:
        assert dal.notes.get(1) is None
        with pytest.raises(NotFound) as info:
            dal.notes.create(7, "text")
    assert info.value.code == 404


def test_dal_path_lookup_and_unknown_names_raise_key_error() -> None:
    """0.9.1: ``dal['myservice.get'](my_id)``; an unknown name raises KeyError, caught as such."""

    class MyService(Service):
        def get(self, my_id):
            return my_id * 2

    dm = DataManager()
    dm.register_services(myservice=MyService())
    with dm.dal() as dal:
        assert dal["myservice.get"](21) == 42
        assert dal["dal.myservice.get"](1) == 2
        for lookup in (lambda: dal.nope, lambda: dal["nope.get"]):
            try:
                lookup()
            except KeyError:
                pass
            else:  # pragma: no cover - the assertion's message
                pytest.fail("an unknown service did not raise KeyError")


def test_contexts_nest_and_leave_nothing_active() -> None:
    """0.9.1: nested contexts each see their own meta; after the last exit none is active."""

    class UserService(Service):
        def get_user(self):
            return self._ctx.meta.user

    dm = DataManager()
    dm.register_services(test=UserService())
    with dm.context(meta={"user": "outer"}) as outer:
        with dm.context(meta={"user": "inner"}):
            assert outer.dal.test.get_user() == "inner"
        assert outer.dal.test.get_user() == "outer"
    assert dm.get_active_context() is None
