"""ASGI scopes for tests that drive an app the way a server does."""

from __future__ import annotations

from typing import Any


def http_scope(path: str, user: str | None = None) -> dict[str, Any]:
    """An ASGI HTTP scope for a GET of ``path`` (spec 2.3, like uvicorn), as ``user`` if given."""
    headers = [(b"host", b"testserver")]
    if user is not None:
        headers.append((b"x-user", user.encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
