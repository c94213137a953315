"""django_datum: one polydatum data context per Django request, ``request.dal`` in views.

Settings::

    MIDDLEWARE = [..., "django.contrib.auth.middleware.AuthenticationMiddleware",
                  "django_datum.middleware.DatumMiddleware"]
    DATUM = {"DATA_MANAGER": "myproject.dal.dm"}

Outside requests (management commands, jobs)::

    from django_datum import get_data_manager
    with get_data_manager().dal() as dal:
        ...
"""

from __future__ import annotations

from .conf import DatumConfig, DatumConfigError, get_config, get_data_manager
from .middleware import DatumMiddleware, build_meta, get_dal, service_error_response
from .request import DatumHttpRequest
from .transaction import AtomicMiddleware

__all__ = [
    "AtomicMiddleware",
    "DatumConfig",
    "DatumConfigError",
    "DatumHttpRequest",
    "DatumMiddleware",
    "build_meta",
    "get_config",
    "get_dal",
    "get_data_manager",
    "service_error_response",
]
