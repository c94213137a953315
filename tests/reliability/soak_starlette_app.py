"""The Starlette app of the soak test, served by uvicorn over PostgreSQL (async engine)."""

from __future__ import annotations

import os

from polydatum import DataManager
from polydatum.contrib.sqlalchemy import AsyncConnectionResource, AsyncTransactionMiddleware
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette_datum import DatumMiddleware, get_dal

from tests.reliability.soak_common import FAIL_PARAM, Counters, Notes

engine = create_async_engine(os.environ["SOAK_DB_URL"], pool_size=5, max_overflow=0)
dm = DataManager()
dm.register_context_middleware(AsyncTransactionMiddleware("db"))
dm.register_resources(db=AsyncConnectionResource(engine))
dm.register_services(notes=Notes())
counters = Counters(dm)


async def hit(request: Request) -> Response:
    who = request.query_params["who"]
    row_id = await get_dal(request).notes.aadd(who, FAIL_PARAM in request.query_params)
    return PlainTextResponse(f"{who}:{row_id}")


async def stats(request: Request) -> Response:
    return JSONResponse(counters.snapshot())


app = Starlette(
    routes=[Route("/hit", hit), Route("/stats", stats)],
    middleware=[
        Middleware(
            DatumMiddleware,
            data_manager=dm,
            meta=lambda req: {"user": req.query_params.get("who")},
        )
    ],
)
