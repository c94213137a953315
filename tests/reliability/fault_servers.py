"""Fault-matrix apps for real servers: the phase to fail comes in the ``x-phase`` header.

gunicorn serves ``flask_app``, uvicorn ``starlette_app``. The test sends its
requests one at a time, so one process-wide phase is enough.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from starlette.types import Receive, Scope, Send

from .asgi_fault_apps import starlette_app as _starlette_app
from .faults import Faults
from .flask_fault_app import flask_app as _flask_app

PHASE_HEADER = "x-phase"

faults = Faults()
_flask = _flask_app(faults)
_starlette = _starlette_app(faults)


def flask_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The Flask fault app, failing at the phase the request names."""
    faults.phase = environ.get("HTTP_X_PHASE", "none")
    return _flask(environ, start_response)


async def starlette_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The Starlette fault app, failing at the phase the request names."""
    if scope["type"] == "http":
        headers = dict(scope["headers"])
        faults.phase = headers.get(PHASE_HEADER.encode(), b"none").decode()
    await _starlette(scope, receive, send)
