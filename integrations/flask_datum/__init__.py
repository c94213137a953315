"""flask_datum: one polydatum data context per Flask request, its DAL as ``request.dal``."""

from __future__ import annotations

from ._request import DatumRequest, get_context, get_dal
from .extension import EXTENSION_KEY, Datum, MetaFactory, get_data_manager

__all__ = [
    "EXTENSION_KEY",
    "Datum",
    "DatumRequest",
    "MetaFactory",
    "get_context",
    "get_dal",
    "get_data_manager",
]
