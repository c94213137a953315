"""The Flask app of the fault matrices: the four routes of ``asgi_fault_apps.py`` in Flask.

``/sync/work`` and ``/async/work`` call the ``work`` service; ``/sync/stream``
and ``/async/stream`` stream its chunks (see ``faults.py``).
"""

from __future__ import annotations

from flask import Flask, Response, request
from flask_datum import Datum

from .faults import Faults


def flask_app(faults: Faults) -> Flask:
    """A Flask app whose views use the fault-injecting DataManager."""
    app = Flask(__name__)
    Datum(app, faults.dm, meta=lambda req: {"user": req.headers.get("X-User")})

    @app.get("/sync/work")
    def work() -> str:
        return str(request.dal.work.run())  # type: ignore[attr-defined]

    @app.get("/async/work")
    async def awork() -> str:
        return str(await request.dal.work.arun())  # type: ignore[attr-defined]

    @app.get("/sync/stream")
    def stream() -> Response:
        return Response(request.dal.work.chunks())  # type: ignore[attr-defined]

    @app.get("/async/stream")
    async def astream() -> Response:
        return Response(request.dal.work.chunks())  # type: ignore[attr-defined]

    return app
