"""Fault matrix for Flask: a failure at each phase of a request, sync and async views.

Real Flask app, Flask's test client. See ``faults.py`` for what each cell must give.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from polydatum.testing import ResourceTracker

from .faults import (
    PHASES,
    STREAMED,
    Faults,
    Injected,
    Outcome,
    check_cell,
    check_next_request_ok,
)
from .flask_fault_app import flask_app


@pytest.fixture
def client(faults: Faults) -> FlaskClient:
    """The test client of a fresh app (not in testing mode, so errors become 500s)."""
    return flask_app(faults).test_client()


def fetch(client: FlaskClient, path: str, *, leave_after_first: bool = False) -> Outcome:
    """GET ``path`` and read the body as a WSGI server would; optionally leave after one chunk."""
    response = client.get(path, headers={"X-User": "ann"}, buffered=False)
    chunks: list[bytes] = []
    broken = False
    try:
        for chunk in response.response:
            chunks.append(chunk)
            if leave_after_first:
                broken = True
                break
    except Injected:
        broken = True
    finally:
        response.close()  # what the server does when the body ends or the client is gone
    return Outcome(response.status_code, b"".join(chunks).decode(), broken)


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("phase", PHASES)
def test_fault_cell(
    phase: str,
    kind: str,
    faults: Faults,
    tracker: ResourceTracker,
    client: FlaskClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failure at this phase gives its status, reaches middleware, tears down once, no leak."""
    faults.phase = phase
    route = "stream" if phase in STREAMED else "work"
    outcome = fetch(client, f"/{kind}/{route}", leave_after_first=phase == "client disconnect")
    check_cell(faults, tracker, phase, outcome, caplog, disconnect="GeneratorExit()")


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("phase", PHASES)
def test_next_request_succeeds(
    phase: str, kind: str, faults: Faults, tracker: ResourceTracker, client: FlaskClient
) -> None:
    """After a failure at this phase, the next request on the same app succeeds."""
    faults.phase = phase
    route = "stream" if phase in STREAMED else "work"
    fetch(client, f"/{kind}/{route}", leave_after_first=phase == "client disconnect")
    faults.reset()
    check_next_request_ok(faults, tracker, fetch(client, f"/{kind}/work"))
