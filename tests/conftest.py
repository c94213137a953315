"""Shared pytest configuration: skip a framework's tests when it is not installed."""

from __future__ import annotations

import importlib.util

import pytest

_FRAMEWORK_OF_FOLDER = {
    "flask_datum": "flask",
    "django_datum": "django",
    "starlette_datum": "starlette",
}


def pytest_ignore_collect(collection_path: object, config: pytest.Config) -> bool | None:
    """Leave out a plugin's tests when its framework is not installed.

    Likewise the OpenTelemetry tests (``test_*opentelemetry*.py``) without its SDK.
    """
    name = getattr(collection_path, "name", "")
    framework = _FRAMEWORK_OF_FOLDER.get(name)
    if framework is not None and importlib.util.find_spec(framework) is None:
        return True
    if "opentelemetry" in name and name.startswith("test_") and not _has("opentelemetry.sdk"):
        return True
    return None


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # the parent package is missing too
        return False


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio (the loop every supported framework uses)."""
    return "asyncio"


# pytester runs real pytest sessions; the pytest plugin's tests use it.
pytest_plugins = ["pytester"]
