"""The test app served by uvicorn in a subprocess; ``/events`` reports what happened.

``/events`` is routed outside DatumMiddleware so reading the events records none.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from tests.starlette_datum.support import Recorder, make_app, make_dm

recorder = Recorder()


async def events(request: Request) -> Response:
    if request.method == "DELETE":
        recorder.clear()
    return JSONResponse(recorder.events)


app = Starlette(
    routes=[
        Route("/events", events, methods=["GET", "DELETE"]),
        Mount("/", make_app(make_dm(recorder), recorder)),
    ]
)
