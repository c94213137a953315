"""Conduit's services straight through the DAL, where a race is easier to stage than over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from polydatum import DataManager

from example_apps.conduit import build_data_manager, prepare_database, user_meta
from example_apps.conduit.errors import Unprocessable
from example_apps.conduit.services import Users
from example_apps.conduit.validation import NewUser, UserChanges

from ._apps import CONDUIT_SECRET, fresh_database


@pytest.fixture(params=["sqlite", "postgresql"])
def dm(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DataManager]:
    """A Conduit DataManager on a fresh database of each kind."""
    with ExitStack() as stack:
        url = fresh_database(stack, request.param, "services", tmp_path)
        prepare_database(url)
        manager = build_data_manager(url, CONDUIT_SECRET)
        stack.callback(manager.get_resource("db").engine.dispose)  # type: ignore[union-attr]
        yield manager


def _register(dm: DataManager, name: str) -> str:
    with dm.dal() as dal:
        token: str = dal.users.register(NewUser(name, f"{name}@example.org", "password")).token
    return token


@pytest.mark.parametrize("action", ["register", "update"])
def test_a_name_taken_after_the_check_answers_422(
    dm: DataManager, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    """When the name is taken between the check and the write, the write is a 422, not a 500."""
    _register(dm, "ann")
    token = _register(dm, "bob")
    # As if another request committed "ann" just after this one looked.
    monkeypatch.setattr(Users, "_refuse_taken", lambda self, *args, **kwargs: None)
    dal = dm.get_dal()
    with (
        pytest.raises(Unprocessable, match="has already been taken"),
        dm.dal(meta=user_meta(dal, f"Token {token}")) as request_dal,
    ):
        if action == "register":
            request_dal.users.register(NewUser("ann", "other@example.org", "password"))
        else:
            request_dal.users.update(UserChanges("ann", None, None, None, None))
    with dm.dal(meta=user_meta(dal, f"Token {token}")) as request_dal:
        assert request_dal.users.current().username == "bob"
