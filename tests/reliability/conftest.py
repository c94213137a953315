"""Leave out modules whose frameworks or servers are not installed; the fault fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.util import find_spec

import pytest
from polydatum.testing import ResourceTracker

from .faults import Faults

_WEB = ("flask", "django", "starlette", "fastapi", "httpx")
# Each framework's fault matrix needs only that framework, so it also runs where the others are
# not installed (the supported-versions matrix installs one framework at a time).
_NEEDS = {
    "test_flask_faults.py": ("flask",),
    "test_django_faults.py": ("django", "anyio"),
    "test_asgi_faults.py": ("starlette", "fastapi", "httpx"),
    "test_isolation.py": (*_WEB, "hypothesis"),
    "test_overrides_reach_requests.py": _WEB,
    "test_docs_testing.py": _WEB,
    "test_server_faults.py": (*_WEB, "gunicorn", "uvicorn"),
    "test_soak.py": (*_WEB, "gunicorn", "uvicorn", "sqlalchemy", "psycopg"),
}

collect_ignore = [
    name for name, modules in _NEEDS.items() if any(find_spec(m) is None for m in modules)
]


@pytest.fixture
def faults() -> Faults:
    """A fresh fault-injecting DataManager (the Django matrix adds its project settings)."""
    return Faults()


@pytest.fixture
def tracker(faults: Faults) -> Iterator[ResourceTracker]:
    """Counts set-ups and teardowns of the DataManager's resources."""
    with ResourceTracker(faults.dm) as tracker:
        yield tracker
