"""FastAPI: ``Annotated[Dal, Depends(dal_dependency)]`` is the app's DAL (run: through httpx)."""

from __future__ import annotations

from typing import Annotated, assert_type

import anyio
import httpx
from fastapi import Depends, FastAPI
from notes_app import Dal, Notes, build
from polydatum import DataAccessLayer
from starlette.middleware import Middleware
from starlette_datum import DatumMiddleware
from starlette_datum.fastapi import DAL, dal_dependency

#: Declared once: a path operation's ``dal: AppDal`` is the app's DAL.
AppDal = Annotated[Dal, Depends(dal_dependency)]

api = FastAPI(middleware=[Middleware(DatumMiddleware, data_manager=build())])


@api.post("/notes", status_code=201)
async def create_note(title: str, dal: AppDal) -> dict[str, int]:
    assert_type(dal, Dal)
    assert_type(dal.notes, Notes)
    note_id = dal.notes.create(title)
    assert_type(note_id, int)
    return {"id": note_id}


@api.get("/untyped")
def untyped(dal: DAL) -> str:
    assert_type(dal, DataAccessLayer)
    title: str = dal.notes.title(dal.notes.create("x"))
    return title


async def main() -> None:
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        created = await client.post("/notes", params={"title": "milk"})
        assert (created.status_code, created.json()) == (201, {"id": 1}), created.text
        assert (await client.get("/untyped")).json() == "x"


if __name__ == "__main__":
    anyio.run(main)
