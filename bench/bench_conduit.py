"""Conduit on PostgreSQL: throughput of the article list and of article creation, and statements.

Each Conduit app runs under its real server (Flask and Django under gunicorn,
one process of 4 threads; Django and FastAPI under uvicorn, one process), on
one PostgreSQL schema holding 20 articles of one author, with two tags each,
half of them favourited by the reader, who follows the author. Measured:

- ``GET /api/articles?limit=20`` as the reader (logged in: the favourite and
  following flags are computed for each article);
- ``POST /api/articles`` as the author, a new title each time, two tags.

The load generator and the accounting are ``bench_examples``' (keep-alive
HTTP/1.1 clients on asyncio, ``CONNECTIONS`` at once; CPU time per request of
the server and of its PostgreSQL sessions from ``/proc``). Every list round
of every server runs before the first create, so the list always reads the
same 20 articles. Last, the statements each endpoint sends, counted in
process (``example_apps._test_hooks.sent_statements``) on the Flask app:
every app runs the same endpoints and services, so the same statements.

Settings: ``BENCH_CONNECTIONS`` (default 8), ``BENCH_POOL_SIZE`` (default: as many as
connections), ``BENCH_ROUNDS`` (default 10), ``BENCH_RUN_SECONDS`` (default 0.5).

Run: ``.venv/bin/python bench/bench_conduit.py [server name filter]`` (PostgreSQL from
``$POLYDATUM_TEST_POSTGRES_URL``, default ``postgresql://root@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from bench_examples import (
    CONNECTIONS,
    POOL_SIZE,
    ROOT,
    RUN_SECONDS,
    Request,
    _cpu_per_request,
    _db_cpu_per_request,
    _load,
    _measured,
    _p99,
    _print_table,
    _Run,
    _serve,
    _Sessions,
)
from sqlalchemy import Engine, text

from example_apps._test_hooks import sent_statements
from example_apps.conduit import (
    PREFIX,
    ROUTES,
    SECRET_KEY_ENV,
    build_data_manager,
    flask_app,
    prepare_database,
)
from example_apps.engines import temporary_engine

SCHEMA = "polydatum_conduit_bench"
SECRET = "bench-secret-" + "b" * 40
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "10"))
WARMUP_SECONDS = 2.0
SETTINGS = "example_apps.conduit.django_app.settings"
SERVERS = {
    "flask / gunicorn": ("gunicorn", "example_apps.conduit.flask_app:create_app()"),
    "django / gunicorn": ("gunicorn", "example_apps.conduit.django_app.wsgi:application"),
    "django / uvicorn": ("uvicorn", "example_apps.conduit.django_app.asgi:application"),
    "fastapi / uvicorn": ("uvicorn", "example_apps.conduit.fastapi_app:create_app"),
}
ENDPOINTS = ("list", "create")
_ARTICLE = {"title": "Bench", "description": "Measured", "body": "Body " * 40}


def _user(client: Any, name: str) -> str:
    user = {"username": name, "email": f"{name}@example.org", "password": "password"}
    reply = client.post(f"{PREFIX}/users", json={"user": user})
    assert reply.status_code == 201, reply.text
    token: str = reply.get_json()["user"]["token"]
    return token


@contextmanager
def _database(base: str) -> Iterator[tuple[str, str, str]]:
    """A fresh bench schema with its articles; yield (its URL, the reader's and author's tokens)."""
    _admin(base, f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE", f"CREATE SCHEMA {SCHEMA}")
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{SCHEMA}"
    try:
        prepare_database(url)
        dm = build_data_manager(url, SECRET)
        client = flask_app.create_app(dm).test_client()
        author, reader = _user(client, "author"), _user(client, "reader")
        for n in range(20):
            article = {**_ARTICLE, "title": f"Seed {n}", "tagList": ["bench", f"tag{n % 4}"]}
            reply = client.post(
                f"{PREFIX}/articles", json={"article": article}, headers=_auth(author)
            )
            if n % 2:
                slug = reply.get_json()["article"]["slug"]
                client.post(f"{PREFIX}/articles/{slug}/favorite", headers=_auth(reader))
        client.post(f"{PREFIX}/profiles/author/follow", headers=_auth(reader))
        _engine(dm).dispose()
        yield url, reader, author
    finally:
        _admin(base, f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


def _admin(url: str, *statements: str) -> None:
    with temporary_engine(url) as engine, engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


def _engine(dm: Any) -> Engine:
    engine: Engine = dm.get_resource("db").engine
    return engine


def _requests(reader: str, author: str) -> dict[str, Request]:
    """The raw HTTP/1.1 request of each measured endpoint (a new article for each create)."""
    listing = (
        f"GET {PREFIX}/articles?limit=20 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Token {reader}\r\n\r\n"
    ).encode()
    numbers = itertools.count()

    def create() -> bytes:
        article = {**_ARTICLE, "title": f"Bench {next(numbers)}", "tagList": ["bench", "new"]}
        body = json.dumps({"article": article}).encode()
        head = (
            f"POST {PREFIX}/articles HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Token {author}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    return {"list": listing, "create": create}


def throughput(url: str, reader: str, author: str, only: str = "") -> list[dict[str, Any]]:
    """Measure both endpoints under every server whose name contains ``only``; a row each."""
    os.environ[SECRET_KEY_ENV] = SECRET  # the servers sign and check tokens with it
    servers = {name: spec for name, spec in SERVERS.items() if only in name}
    requests = _requests(reader, author)
    sessions = _Sessions(url)
    results: dict[tuple[str, str], list[_Run]] = {}
    names = {name: f"bench_conduit_{n}" for n, name in enumerate(servers)}
    try:
        with ExitStack() as stack:
            up = {
                name: stack.enter_context(
                    _serve(server, target, f"{url}&application_name={names[name]}", SETTINGS)
                )
                for name, (server, target) in servers.items()
            }
            for name in servers:
                _load(up[name], requests["list"], WARMUP_SECONDS)
            for endpoint in ENDPOINTS:  # every list round before the first create
                for _ in range(ROUNDS):
                    for name in servers:
                        run = _measured(up[name], sessions, names[name], requests[endpoint])
                        results.setdefault((name, endpoint), []).append(run)
    finally:
        sessions.close()
    return [
        {
            "server": name,
            "endpoint": endpoint,
            "req/s": round(statistics.median(run.rps for run in runs)),
            "p99 ms": _p99(runs),
            "server CPU us/req": round(_cpu_per_request(runs)),
            "PostgreSQL CPU us/req": _db_cpu_per_request(runs),
            "DB sessions opened": sum(run.opened for run in runs),
        }
        for (name, endpoint), runs in sorted(
            results.items(), key=lambda item: ENDPOINTS.index(item[0][1])
        )
    ]


# What each route is sent with, for the statement counts. "{slug}" is a fresh article of the
# reader's with two tags and "{id}" a comment of the reader's on it, made for each route; the
# reader follows "{username}", the author.
_BODIES: dict[str, Any] = {
    "login": {"user": {"email": "author@example.org", "password": "password"}},
    "register": {
        "user": {"username": "{new}", "email": "{new}@example.org", "password": "pw-pw-pw"}
    },
    "update_user": {"user": {"bio": "Counted"}},
    "create_article": {"article": {**_ARTICLE, "title": "{new}", "tagList": ["bench", "new"]}},
    "update_article": {"article": {"body": "Counted"}},
    "add_comment": {"comment": {"body": "Counted"}},
}
_ANONYMOUS_ONLY = ("login", "register")


def statements(url: str, reader: str) -> list[dict[str, Any]]:
    """Count the statements of each route, anonymous (where it may be) and logged in."""
    dm = build_data_manager(url, SECRET)
    client = flask_app.create_app(dm).test_client()

    def call(method: str, path: str, body: Any, token: str | None) -> Any:
        headers = _auth(token) if token else {}
        answer = client.open(f"{PREFIX}{path}", method=method, json=body, headers=headers)
        assert answer.status_code < 300, (method, path, answer.get_json())
        return answer.get_json()

    rows = []
    for n, route in enumerate(ROUTES):
        article = {**_ARTICLE, "title": f"Counted {n}", "tagList": ["bench", "x"]}
        slug = call("POST", "/articles", {"article": article}, reader)["article"]["slug"]
        comment = call("POST", f"/articles/{slug}/comments", {"comment": {"body": "x"}}, reader)
        call("POST", "/profiles/author/follow", None, reader)  # a feed with articles in it
        if route.endpoint.__name__ == "unfavorite":  # one to take back
            call("POST", f"/articles/{slug}/favorite", None, reader)
        values = {"{slug}": slug, "{id}": str(comment["comment"]["id"])}
        values |= {"{username}": "author", "{new}": f"counted{n}"}
        body = _BODIES.get(route.endpoint.__name__)
        data = None if body is None else json.loads(_filled(json.dumps(body), values))
        if route.endpoint.__name__ in _ANONYMOUS_ONLY:
            readers: dict[str, str | None] = {"anonymous": None}
        elif route.login:
            readers = {"logged in": reader}
        else:
            readers = {"anonymous": None, "logged in": reader}
        counts = {}
        for who, token in readers.items():
            with sent_statements(_engine(dm)) as sent:
                call(route.method, _filled(route.path, values), data, token)
            counts[who] = len(sent)
        row = {"endpoint": f"{route.method} {route.path}"}
        rows.append(row | {who: counts.get(who, "-") for who in ("anonymous", "logged in")})
    _engine(dm).dispose()
    return rows


def _filled(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def main(only: str = "") -> list[dict[str, Any]]:
    """Measure every server whose name contains ``only``; then count each route's statements."""
    base = os.environ.get("POLYDATUM_TEST_POSTGRES_URL") or "postgresql://root@127.0.0.1:5432/test"
    with _database(base) as (url, reader, author):
        return throughput(url, reader, author, only) + statements(url, reader)


def _print(rows: list[dict[str, Any]]) -> None:
    _print_table([row for row in rows if "server" in row])
    print(
        f"\nConduit on PostgreSQL, {CONNECTIONS} keep-alive connections, pools of {POOL_SIZE}, "
        f"medians of {ROUNDS} runs of {RUN_SECONDS:g} s (p99 and CPU over all of them); one "
        "server process each (gunicorn: 4 threads). list: GET /api/articles?limit=20 logged "
        "in (20 articles, 2 tags each); create: POST /api/articles with 2 tags.\n"
    )
    _print_table([row for row in rows if "server" not in row])
    print("\nStatements sent per request (COMMIT not counted), the same under every server.")


if __name__ == "__main__":
    sys.path[:0] = [str(ROOT)]
    _print(main(" ".join(sys.argv[1:])))
