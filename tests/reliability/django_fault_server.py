"""The Django fault app for real servers: ``wsgi_app`` (gunicorn) and ``asgi_app`` (uvicorn).

The phase to fail comes in the ``x-phase`` header, as in ``fault_servers``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from .faults import Faults

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.reliability.django_fault_settings")

faults = Faults()
#: Named by the DATUM setting.
dm = faults.dm


def user_meta(request: Any) -> dict[str, Any]:
    """META hook: the X-User header is the request's user."""
    return {"user": request.headers.get("x-user")}


from django.core.asgi import get_asgi_application  # noqa: E402 - after the settings module is set
from django.core.wsgi import get_wsgi_application  # noqa: E402

_wsgi = get_wsgi_application()
_asgi = get_asgi_application()


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Django over WSGI, failing at the phase the request names."""
    faults.phase = environ.get("HTTP_X_PHASE", "none")
    return _wsgi(environ, start_response)  # type: ignore[no-any-return]


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Django over ASGI, failing at the phase the request names."""
    if scope["type"] == "http":
        faults.phase = dict(scope["headers"]).get(b"x-phase", b"none").decode()
    await _asgi(scope, receive, send)
