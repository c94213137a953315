"""The Flask app of the soak test, served by gunicorn (threaded worker) over PostgreSQL."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, request
from flask_datum import Datum
from polydatum import DataManager
from polydatum.contrib.sqlalchemy import ConnectionResource, TransactionMiddleware
from sqlalchemy import create_engine

from tests.reliability.soak_common import FAIL_PARAM, Counters, Notes

engine = create_engine(os.environ["SOAK_DB_URL"], pool_size=5, max_overflow=0)
dm = DataManager()
dm.register_context_middleware(TransactionMiddleware("db"))
dm.register_resources(db=ConnectionResource(engine))
dm.register_services(notes=Notes())
counters = Counters(dm)

app = Flask(__name__)
Datum(app, dm, meta=lambda req: {"user": req.args.get("who")})


@app.get("/hit")
def hit() -> str:
    who = request.args["who"]
    row_id = request.dal.notes.add(who, FAIL_PARAM in request.args)  # type: ignore[attr-defined]
    return f"{who}:{row_id}"


@app.get("/stats")
def stats() -> dict[str, Any]:
    return counters.snapshot()
