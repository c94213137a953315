"""A PostgreSQL restart while the example apps are idle costs no request, on every server.

Each app runs under its real server (one process) on a private PostgreSQL
server, answers a request (its pool then holds a connection), and the
database restarts; the pooled connection is dead by then. The pool's
liveness check (``pool_pre_ping``) must find that out and connect anew, so
that the requests after the restart all succeed.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from example_apps.notes import issue_token, prepare_database
from tests.e2e._apps import APPS, serve

from .private_postgres import PrivatePostgres, private_postgres


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    """A private PostgreSQL server with the notes tables, which the tests may restart."""
    with private_postgres() as server:
        prepare_database(server.url)
        yield server


@pytest.mark.parametrize("app", list(APPS))
def test_requests_after_an_idle_restart_succeed(postgres: PrivatePostgres, app: str) -> None:
    """After PostgreSQL restarted under an idle app, its next requests are answered, not 500s."""
    token = issue_token(postgres.url, "ann")
    with serve(app, postgres.url, workers=1) as server:
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=auth, timeout=30) as client:
            note = client.post("/notes", json={"title": "Before the restart"})
            assert note.status_code == 201, note.text
            postgres.restart()
            after = [client.get(f"/notes/{note.json()['id']}") for _ in range(3)]
            after.append(client.post("/notes", json={"title": "After the restart"}))
            assert [r.status_code for r in after] == [200, 200, 200, 201], after[0].text
