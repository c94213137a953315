"""Fault matrix for Django: a failure at each phase, under WSGI (``Client``) and ASGI.

Real Django project; WSGI cells use ``django.test.Client``, ASGI cells
``AsyncClient`` (async views, and sync views run by Django's thread hop) and,
for a client disconnect, Django's ASGI handler served as a server would.
See ``faults.py`` for what each cell must give.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.test import AsyncClient, Client
from polydatum.testing import ResourceTracker

from .asgi_driver import serve
from .django_project import project
from .faults import (
    PHASES,
    STREAMED,
    Faults,
    Injected,
    Outcome,
    check_cell,
    check_next_request_ok,
)

URLCONF = "tests.reliability.django_fault_urls"
#: (server interface, view kind)
VARIANTS = [("wsgi", "sync"), ("asgi", "async"), ("asgi", "sync")]
#: What the context sees when the client leaves mid-stream: the body closed early
#: (WSGI; ASGI while the body waits on the client) or the request task
#: cancelled (ASGI while Django's thread hop produces the next chunk).
DISCONNECT = ("GeneratorExit()", "CancelledError()")


@pytest.fixture
def faults() -> Iterator[Faults]:
    """A fresh fault-injecting DataManager, named by the DATUM setting for the test."""
    faults = Faults()
    with project(faults.dm, URLCONF):
        yield faults


def fetch_wsgi(path: str, *, leave_after_first: bool = False) -> Outcome:
    """GET ``path`` with Django's test client, reading the body as a WSGI server would."""
    response: Any = Client(raise_request_exception=False).get(path, headers={"x-user": "ann"})
    if not response.streaming:
        return Outcome(response.status_code, response.content.decode())
    chunks: list[bytes] = []
    body = response.streaming_content
    broken = False
    try:
        for chunk in body:
            chunks.append(chunk)
            if leave_after_first:
                broken = True
                break
    except Injected:
        broken = True
    finally:
        response.close()  # the server closes the response when done or when the client left
    return Outcome(response.status_code, b"".join(chunks).decode(), broken)


async def fetch_asgi(path: str) -> Outcome:
    """GET ``path`` with Django's AsyncClient, reading the whole body."""
    client = AsyncClient(raise_request_exception=False)
    response: Any = await client.get(path, headers={"x-user": "ann"})
    if not response.streaming:
        return Outcome(response.status_code, response.content.decode())
    chunks: list[bytes] = []
    broken = False
    try:
        async for chunk in response.streaming_content:
            chunks.append(chunk)
    except Injected:
        broken = True
    return Outcome(response.status_code, b"".join(chunks).decode(), broken)


async def run(phase: str, interface: str, kind: str) -> Outcome:
    """One request of the cell, through the interface's client."""
    path = f"/{kind}/{'stream' if phase in STREAMED else 'work'}"
    leave = phase == "client disconnect"
    if interface == "wsgi":
        return fetch_wsgi(path, leave_after_first=leave)
    if leave:
        return await serve(ASGIHandler(), path, leave_after_first=True)
    return await fetch_asgi(path)


@pytest.mark.anyio
@pytest.mark.parametrize(("interface", "kind"), VARIANTS)
@pytest.mark.parametrize("phase", PHASES)
async def test_fault_cell(
    phase: str,
    interface: str,
    kind: str,
    faults: Faults,
    tracker: ResourceTracker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failure at this phase gives its status, reaches middleware, tears down once, no leak."""
    faults.phase = phase
    outcome = await run(phase, interface, kind)
    check_cell(faults, tracker, phase, outcome, caplog, disconnect=DISCONNECT)


@pytest.mark.anyio
@pytest.mark.parametrize(("interface", "kind"), VARIANTS)
@pytest.mark.parametrize("phase", PHASES)
async def test_next_request_succeeds(
    phase: str, interface: str, kind: str, faults: Faults, tracker: ResourceTracker
) -> None:
    """After a failure at this phase, the next request on the same app succeeds."""
    faults.phase = phase
    await run(phase, interface, kind)
    faults.reset()
    check_next_request_ok(faults, tracker, await run("none", interface, kind))
