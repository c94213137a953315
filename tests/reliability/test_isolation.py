"""Isolation under concurrency for every plugin, with interleavings chosen by hypothesis.

Each request has its own user; services and resources yield (``time.sleep(0)``
in threads, ``asyncio.sleep(0)`` in tasks) at points hypothesis picks, and all
requests of a round meet at a barrier while they hold their resource, so every
context is open at once. Each answer must carry only its own user, and after
the round every context and resource is closed and none is active.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import httpx
from django.core.handlers.asgi import ASGIHandler
from django.test import Client
from flask import Flask, request
from flask_datum import Datum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polydatum.testing import ResourceTracker
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette_datum import DatumMiddleware, get_dal

from .django_project import project
from .isolation import POINTS, Isolation, encode, expected, request_meta

ROUNDS = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: One entry per concurrent request: its pauses at each point.
SCHEDULES = st.lists(
    st.tuples(*[st.integers(min_value=0, max_value=3)] * POINTS), min_size=2, max_size=8
)


def _headers(i: int, pauses: tuple[int, ...]) -> dict[str, str]:
    return {"x-user": f"user{i}", "x-pauses": encode(pauses)}


def _check(iso: Isolation, tracker: ResourceTracker, answers: dict[int, str], n: int) -> None:
    assert answers == {i: expected(f"user{i}") for i in range(n)}
    assert iso.opened == iso.closed == n
    assert sum(tracker.set_up.values()) == n
    assert tracker.set_up == tracker.torn_down
    tracker.assert_no_leaks()


def _threads(
    schedules: list[tuple[int, ...]], get: Callable[[int, dict[str, str]], str]
) -> dict[int, str]:
    answers: dict[int, str] = {}

    def one(i: int, pauses: tuple[int, ...]) -> None:
        answers[i] = get(i, _headers(i, pauses))

    threads = [threading.Thread(target=one, args=item) for item in enumerate(schedules)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


async def _tasks(
    iso: Isolation, app: Any, path: str, schedules: list[tuple[int, ...]]
) -> dict[int, str]:
    iso.abarrier = asyncio.Barrier(len(schedules))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

        async def one(i: int, pauses: tuple[int, ...]) -> str:
            response = await client.get(path, headers=_headers(i, pauses))
            return f"{response.status_code}" if response.status_code != 200 else response.text

        results = await asyncio.gather(*(one(i, p) for i, p in enumerate(schedules)))
    return dict(enumerate(results))


def flask_app(iso: Isolation) -> Flask:
    app = Flask(__name__)
    Datum(app, iso.dm, meta=lambda req: request_meta(req.headers))

    @app.get("/who")
    def who() -> str:
        return str(request.dal.who.echo())  # type: ignore[attr-defined]

    return app


def starlette_app(iso: Isolation) -> Starlette:
    async def awho(request: Request) -> Response:
        return PlainTextResponse(await get_dal(request).who.aecho())

    def who(request: Request) -> Response:
        return PlainTextResponse(get_dal(request).who.echo())

    meta = {"meta": lambda req: request_meta(req.headers)}
    return Starlette(
        routes=[Route("/async/who", awho), Route("/sync/who", who)],
        middleware=[Middleware(DatumMiddleware, data_manager=iso.dm, **meta)],
    )


@ROUNDS
@given(schedules=SCHEDULES)
def test_flask_threads_stay_isolated(schedules: list[tuple[int, ...]]) -> None:
    """Flask requests in parallel threads each see only their own user and resource."""
    iso = Isolation()
    iso.barrier = threading.Barrier(len(schedules))
    app = flask_app(iso)
    with ResourceTracker(iso.dm) as tracker:
        answers = _threads(
            schedules, lambda i, h: app.test_client().get("/who", headers=h).get_data(True)
        )
        _check(iso, tracker, answers, len(schedules))


@ROUNDS
@given(schedules=SCHEDULES)
def test_django_wsgi_threads_stay_isolated(schedules: list[tuple[int, ...]]) -> None:
    """Django (WSGI) requests in parallel threads each see only their own user and resource."""
    iso = Isolation()
    iso.barrier = threading.Barrier(len(schedules))
    meta = lambda req: request_meta(req.headers)  # noqa: E731
    with (
        project(iso.dm, "tests.reliability.django_isolation_urls", meta),
        ResourceTracker(iso.dm) as tracker,
    ):
        answers = _threads(
            schedules,
            lambda i, h: Client().get("/sync/who", headers=h).content.decode(),  # type: ignore[attr-defined]
        )
        _check(iso, tracker, answers, len(schedules))


@ROUNDS
@given(schedules=SCHEDULES)
def test_django_asgi_tasks_stay_isolated(schedules: list[tuple[int, ...]]) -> None:
    """Django (ASGI) requests as concurrent tasks each see only their own user and resource."""
    iso = Isolation()
    meta = lambda req: request_meta(req.headers)  # noqa: E731
    with (
        project(iso.dm, "tests.reliability.django_isolation_urls", meta),
        ResourceTracker(iso.dm) as tracker,
    ):
        answers = asyncio.run(_tasks(iso, ASGIHandler(), "/async/who", schedules))
        _check(iso, tracker, answers, len(schedules))


@ROUNDS
@given(schedules=SCHEDULES)
def test_starlette_tasks_stay_isolated(schedules: list[tuple[int, ...]]) -> None:
    """Starlette requests as concurrent tasks each see only their own user and resource."""
    iso = Isolation()
    with ResourceTracker(iso.dm) as tracker:
        answers = asyncio.run(_tasks(iso, starlette_app(iso), "/async/who", schedules))
        _check(iso, tracker, answers, len(schedules))


@ROUNDS
@given(schedules=SCHEDULES)
def test_starlette_sync_endpoints_stay_isolated(schedules: list[tuple[int, ...]]) -> None:
    """Starlette sync endpoints, run in the thread pool at once, each see only their own user."""
    iso = Isolation()
    iso.barrier = threading.Barrier(len(schedules))
    with ResourceTracker(iso.dm) as tracker:
        answers = asyncio.run(_tasks(iso, starlette_app(iso), "/sync/who", schedules))
        _check(iso, tracker, answers, len(schedules))
