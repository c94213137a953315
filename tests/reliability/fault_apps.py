"""The apps of the fault matrices: the same four routes in Flask, Starlette and FastAPI.

``/sync/work`` and ``/async/work`` call the ``work`` service; ``/sync/stream``
and ``/async/stream`` stream its chunks (see ``faults.py``).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse as FastAPIText
from fastapi.responses import StreamingResponse as FastAPIStream
from flask import Flask, Response, request
from flask_datum import Datum
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.responses import Response as StarletteResponse
from starlette.routing import Route
from starlette_datum import DatumMiddleware, get_dal
from starlette_datum.fastapi import DAL

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
