"""polydatum: an encapsulated persistence layer for Python web apps."""

from __future__ import annotations

from .context import Context, DataAccessContext, Meta, lazy
from .dal import DataAccessLayer, DataManager, Layer
from .errors import NotFound, PolydatumException, ServiceError
from .resources import Resource, ValueResource
from .services import Service

__version__ = "2.0.0.dev0"

__all__ = [
    "Context",
    "DataAccessContext",
    "DataAccessLayer",
    "DataManager",
    "Layer",
    "Meta",
    "NotFound",
    "PolydatumException",
    "Resource",
    "Service",
    "ServiceError",
    "ValueResource",
    "lazy",
]
