"""The ASGI apps of the fault matrices: the same four routes in Starlette and FastAPI.

``/sync/work`` and ``/async/work`` call the ``work`` service; ``/sync/stream``
and ``/async/stream`` stream its chunks (see ``faults.py``). The Flask app is in
``flask_fault_app.py``, so each framework's matrix imports only its framework.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse as FastAPIText
from fastapi.responses import StreamingResponse as FastAPIStream
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.responses import Response as StarletteResponse
from starlette.routing import Route
from starlette_datum import DatumMiddleware, get_dal
from starlette_datum.fastapi import DAL

from .faults import Faults


def starlette_app(faults: Faults) -> Starlette:
    """A Starlette app whose endpoints use the fault-injecting DataManager."""

    async def awork(request: Request) -> StarletteResponse:
        return PlainTextResponse(await get_dal(request).work.arun())

    def work(request: Request) -> StarletteResponse:
        return PlainTextResponse(get_dal(request).work.run())

    async def astream(request: Request) -> StarletteResponse:
        return StreamingResponse(get_dal(request).work.achunks())

    def stream(request: Request) -> StarletteResponse:
        return StreamingResponse(get_dal(request).work.chunks())

    return Starlette(
        routes=[
            Route("/async/work", awork),
            Route("/sync/work", work),
            Route("/async/stream", astream),
            Route("/sync/stream", stream),
        ],
        middleware=[
            Middleware(
                DatumMiddleware,
                data_manager=faults.dm,
                meta=lambda req: {"user": req.headers.get("x-user")},
            )
        ],
    )


def fastapi_app(faults: Faults) -> FastAPI:
    """A FastAPI app whose path operations use the fault-injecting DataManager."""
    app = FastAPI(
        middleware=[
            Middleware(
                DatumMiddleware,
                data_manager=faults.dm,
                meta=lambda req: {"user": req.headers.get("x-user")},
            )
        ]
    )

    @app.get("/async/work", response_class=FastAPIText)
    async def awork(dal: DAL) -> str:
        return str(await dal.work.arun())

    @app.get("/sync/work", response_class=FastAPIText)
    def work(dal: DAL) -> str:
        return str(dal.work.run())

    @app.get("/async/stream")
    async def astream(dal: DAL) -> FastAPIStream:
        return FastAPIStream(dal.work.achunks())

    @app.get("/sync/stream")
    def stream(dal: DAL) -> FastAPIStream:
        return FastAPIStream(dal.work.chunks())

    return app
