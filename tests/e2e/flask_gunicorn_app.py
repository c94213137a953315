"""A Flask app served by gunicorn in the end-to-end test (threaded worker)."""

from __future__ import annotations

import threading
from collections.abc import Generator
from typing import Any

from flask import Flask, request
from flask_datum import Datum
from polydatum import DataAccessContext, DataManager, Service

_lock = threading.Lock()
counts = {"begin": 0, "end": 0, "setup": 0, "teardown": 0}
# Pairs of requests meet here, so two contexts are open at the same time in two threads.
pairs = threading.Barrier(2)


def _count(key: str) -> None:
    with _lock:
        counts[key] += 1


def transaction(ctx: DataAccessContext) -> Generator[None, None, None]:
    _count("begin")
    try:
        yield
    finally:
        _count("end")


def conn(ctx: DataAccessContext) -> Generator[dict[str, Any], None, None]:
    _count("setup")
    try:
        yield {"opened_for": ctx.meta.user}
    finally:
        _count("teardown")


class Who(Service):
    def user(self) -> Any:
        return self._ctx.meta.user

    def conn_user(self) -> Any:
        return self._ctx.conn["opened_for"]


dm = DataManager()
dm.register_context_middleware(transaction)
dm.register_resources(conn=conn)
dm.register_services(who=Who())

app = Flask(__name__)
Datum(app, dm, meta=lambda req: {"user": req.headers.get("X-User")})


@app.get("/whoami")
def whoami() -> dict[str, Any]:
    dal = request.dal  # type: ignore[attr-defined]
    before = dal.who.user()
    pairs.wait(timeout=10)
    return {"before": before, "after": dal.who.user(), "conn": dal.who.conn_user()}


@app.get("/stats")
def stats() -> dict[str, Any]:
    with _lock:
        return dict(counts)
