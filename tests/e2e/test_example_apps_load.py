"""The example apps under load: 2000 requests from 50 concurrent clients, on PostgreSQL.

Each app runs under its server with two worker processes (uvicorn: one, it is
async). After the load the test checks, from outside, that every note created
is there exactly once, and that every connection went back to its pool twice
over: no PostgreSQL session of the app is still in a transaction or running a
statement (``pg_stat_activity``, all workers at once), and each worker prints,
as it exits, how many connections its pool still had checked out (the test
hooks' exit report), which must be zero.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter

import httpx
import pytest
from sqlalchemy import text

from example_apps._test_hooks import POOL_REPORT
from example_apps.notes import issue_token
from example_apps.notes.wiring import make_engine

from ._apps import APPS, postgres_schema, postgres_url, serve

CLIENTS = 50
ROUNDS = 10  # each client: ROUNDS x (create, read, update, read) = 40 requests
USERS = 5
WORKERS = {"flask": 2, "django": 2, "django-asgi": 1, "starlette": 1}


async def _client(base_url: str, token: str, number: int) -> list[tuple[int, str]]:
    """Create, read, update and read back notes; return (id, final title) of each."""
    headers = {"Authorization": f"Bearer {token}"}
    made: list[tuple[int, str]] = []
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        for round_ in range(ROUNDS):
            created = await client.post("/notes", json={"title": f"c{number} r{round_}"})
            assert created.status_code == 201, created.text
            note_id = created.json()["id"]
            read = await client.get(f"/notes/{note_id}")
            assert read.status_code == 200, read.text
            title = f"c{number} r{round_} updated"
            updated = await client.put(f"/notes/{note_id}", json={"title": title, "body": "b"})
            assert updated.status_code == 200, updated.text
            again = await client.get(f"/notes/{note_id}")
            assert again.json()["title"] == title
            made.append((note_id, title))
    return made


async def _run_load(base_url: str, tokens: list[str]) -> dict[int, list[tuple[int, str]]]:
    """Run the clients concurrently; return what each user's clients created."""
    results = await asyncio.gather(
        *(_client(base_url, tokens[n % USERS], n) for n in range(CLIENTS))
    )
    by_user: dict[int, list[tuple[int, str]]] = {user: [] for user in range(USERS)}
    for number, made in enumerate(results):
        by_user[number % USERS].extend(made)
    return by_user


def _listed(base_url: str, token: str) -> list[tuple[int, str]]:
    """Page through a user's whole list."""
    listed: list[tuple[int, str]] = []
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}) as client:
        after = 0
        while True:
            page = client.get("/notes", params={"after": after, "limit": 100}).json()["notes"]
            if not page:
                return listed
            listed += [(note["id"], note["title"]) for note in page]
            after = page[-1]["id"]


@pytest.mark.parametrize("app", list(APPS))
def test_load_loses_nothing_and_returns_every_connection(app: str) -> None:
    """2000 requests from 50 clients: no error, each note listed once, no connection kept."""
    prefix = f"polydatum_examples_load_{app.replace('-', '_')}"
    with postgres_schema(prefix) as (url, name), serve(app, url, workers=WORKERS[app]) as server:
        tokens = [issue_token(url, f"user{n}") for n in range(USERS)]
        by_user = asyncio.run(_run_load(server.url, tokens))
        for user, made in by_user.items():
            listed = _listed(server.url, tokens[user])
            assert Counter(listed) == Counter(made)  # every note once, with its last title
            assert len(listed) == CLIENTS // USERS * ROUNDS

        engine = make_engine(postgres_url())
        try:
            with engine.connect() as conn:
                states = conn.execute(
                    text("SELECT state FROM pg_stat_activity WHERE application_name = :name"),
                    {"name": name},
                ).scalars()
                assert set(states) <= {"idle"}
        finally:
            engine.dispose()
        server.stop()
        log = server.log()
    reports = re.findall(rf"{re.escape(POOL_REPORT)} (\d+)", log)
    assert reports == ["0"] * WORKERS[app], log
