"""pytest plugin: fixtures for the project's DataManager, contexts, overrides and leak checks.

Loaded automatically when polydatum is installed (``pytest11`` entry point).
Point it at your DataManager with an ini option::

    [tool.pytest.ini_options]
    polydatum_data_manager = "myapp.dal:dm"   # or "myapp.dal.dm", or a zero-argument factory

or override the ``datum_manager`` fixture. Then:

- ``dal``: the DAL of a context opened for the test (meta from ``datum_meta``);
- ``datum_context``: that context; ``adal`` / ``adatum_context``: ``async with`` twins;
- ``datum_meta``: the meta of those contexts (override it, or mark the test
  ``@pytest.mark.datum_meta(user=...)``);
- ``datum_override``: ``datum_override.service(name, svc)`` / ``.resource(name, res)``
  for the test, restored afterwards even when it fails;
- ``datum_tracker``: counts resources set up and torn down during the test;
  ``datum_tracker.assert_no_leaks()`` names what leaked.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from .context import DataAccessContext
from .dal import DataAccessLayer, DataManager
from .resources import ResourceFactory
from .services import Service
from .testing import ResourceTracker, override

__all__ = ["Overrides", "load_data_manager"]

INI_OPTION = "polydatum_data_manager"
META_MARKER = "datum_meta"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        INI_OPTION,
        "Dotted path to the project's polydatum DataManager (or a zero-argument factory), "
        "as 'package.module:name' or 'package.module.name'.",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{META_MARKER}(**meta): meta of the context the dal fixtures open"
    )


def load_data_manager(path: str) -> DataManager[Any, Any]:
    """Import a DataManager (or call a zero-argument factory) from a dotted path.

    Raises:
        pytest.UsageError: the path does not import or is not a DataManager.
    """
    module_name, _, attr = path.partition(":") if ":" in path else path.rpartition(".")
    try:
        target: Any = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise pytest.UsageError(
            f"{INI_OPTION} = {path!r} does not import ({exc}); give 'package.module:name'."
        ) from exc
    if not isinstance(target, DataManager) and callable(target):
        target = target()
    if not isinstance(target, DataManager):
        raise pytest.UsageError(
            f"{INI_OPTION} = {path!r} is {_a(type(target).__name__)}, not a polydatum DataManager."
        )
    return target


def _a(noun: str) -> str:
    """``noun`` with its indefinite article: "an int", "a str"."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


@pytest.fixture
def datum_manager(pytestconfig: pytest.Config) -> DataManager[Any, Any]:
    """The project's DataManager, from the ``polydatum_data_manager`` ini option."""
    path = str(pytestconfig.getini(INI_OPTION) or "")
    if not path:
        raise pytest.UsageError(
            f'Set the {INI_OPTION} ini option (e.g. {INI_OPTION} = "myapp.dal:dm") '
            "or override the datum_manager fixture to return your DataManager."
        )
    return load_data_manager(path)


@pytest.fixture
def datum_meta(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Meta for the contexts the fixtures open: the test's ``datum_meta`` marker, or empty."""
    marker = request.node.get_closest_marker(META_MARKER)
    return dict(marker.kwargs) if marker is not None else {}


@pytest.fixture
def datum_context(
    datum_manager: DataManager[Any, Any], datum_meta: dict[str, Any]
) -> Iterator[DataAccessContext]:
    """A context of the project's DataManager, open for the whole test."""
    with datum_manager.context(meta=datum_meta) as ctx:
        yield ctx


@pytest.fixture
def dal(datum_context: DataAccessContext) -> DataAccessLayer:
    """The DAL, with a context open for the whole test."""
    return datum_context.dal


@pytest.fixture
async def adatum_context(
    datum_manager: DataManager[Any, Any], datum_meta: dict[str, Any]
) -> AsyncIterator[DataAccessContext]:
    """An ``async with`` context of the project's DataManager (for async tests)."""
    async with datum_manager.context(meta=datum_meta) as ctx:
        yield ctx


@pytest.fixture
async def adal(adatum_context: DataAccessContext) -> DataAccessLayer:
    """The DAL, with an ``async with`` context open for the whole test."""
    return adatum_context.dal


class Overrides:
    """Replaces services and resources for one test; everything is restored at its end."""

    def __init__(self, dm: DataManager[Any, Any], stack: ExitStack) -> None:
        self._dm = dm
        self._stack = stack

    def service(self, name: str, service: Service) -> Service:
        """Use ``service`` as ``dal.<name>`` until the test ends."""
        self._stack.enter_context(override(self._dm, services={name: service}))
        return service

    def resource(self, name: str, resource: ResourceFactory) -> ResourceFactory:
        """Use ``resource`` as the resource ``name`` until the test ends."""
        self._stack.enter_context(override(self._dm, resources={name: resource}))
        return resource


@pytest.fixture
def datum_override(datum_manager: DataManager[Any, Any]) -> Iterator[Overrides]:
    """Overrides of services and resources for this test, restored when it ends."""
    with ExitStack() as stack:
        yield Overrides(datum_manager, stack)


@pytest.fixture
def datum_tracker(datum_manager: DataManager[Any, Any]) -> Iterator[ResourceTracker]:
    """Counts resources set up and torn down during the test; see ``assert_no_leaks()``."""
    with ResourceTracker(datum_manager) as tracker:
        yield tracker
