"""Small helpers shared by the core modules."""

from __future__ import annotations

from inspect import isasyncgenfunction, isgeneratorfunction
from typing import Any

__all__ = ["describe", "is_async_generator", "is_generator", "is_sync_generator"]


def is_sync_generator(obj: Any) -> bool:
    """Return True when calling ``obj`` returns a generator."""
    return callable(obj) and (isgeneratorfunction(obj) or isgeneratorfunction(type(obj).__call__))


def is_async_generator(obj: Any) -> bool:
    """Return True when calling ``obj`` returns an async generator."""
    return callable(obj) and (isasyncgenfunction(obj) or isasyncgenfunction(type(obj).__call__))


def is_generator(obj: Any) -> bool:
    """Return True for a callable that returns a generator or an async generator."""
    return is_sync_generator(obj) or is_async_generator(obj)


def describe(obj: Any) -> str:
    """Name ``obj`` for an error message: its qualified name and type."""
    name = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    module = getattr(obj, "__module__", None)
    return f"{module}.{name}" if module and module != "builtins" else f"{name} ({obj!r})"
