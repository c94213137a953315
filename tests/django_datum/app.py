"""The DataManager, services and helpers of the test project.

``PROBE`` records what every context did (resource set-ups and teardowns, the
exception its middleware saw) so tests can check the lifecycle after a request.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.contrib.auth.models import User
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject
from polydatum import DataAccessContext, DataManager, NotFound, Service, ServiceError

USER_HEADER = "HTTP_X_USER"


class CommitFailed(Exception):
    """Raised by the test middleware when a commit is set to fail."""


class Gone(ServiceError):
    """A 410 service error (no Django exception matches it)."""

    code = 410


class Probe:
    """Thread-safe record of what contexts did."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget everything and stop failing commits."""
        with self.lock:
            self.setups = 0
            self.teardowns = 0
            self.seen: list[type[BaseException] | None] = []
            self.fail_commit = False
            self.user_loads = 0
            #: The thread a context's middleware last finished (committed) in.
            self.closed_in: int | None = None
            self.ids = itertools.count(1)

    def add(self, **counts: int) -> None:
        """Add to the named counters."""
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)


PROBE = Probe()


def connection(context: DataAccessContext) -> Generator[int, None, None]:
    """A resource standing for a connection; counts set-ups and teardowns."""
    PROBE.add(setups=1)
    try:
        yield next(PROBE.ids)
    finally:
        PROBE.add(teardowns=1)


async def async_connection(context: DataAccessContext) -> AsyncGenerator[int, None]:
    """An async resource standing for a connection; counts set-ups and teardowns."""
    PROBE.add(setups=1)
    try:
        yield next(PROBE.ids)
    finally:
        PROBE.add(teardowns=1)


def recorder(context: DataAccessContext) -> Generator[None, None, None]:
    """Context middleware: records the exception thrown in; may fail its 'commit'."""
    request = context.meta.get("request")
    if request is not None:
        request.datum_opened_in = threading.get_ident()
    try:
        yield
    except BaseException as exc:
        with PROBE.lock:
            PROBE.seen.append(type(exc))
        raise
    with PROBE.lock:
        PROBE.seen.append(None)
        PROBE.closed_in = threading.get_ident()
    if PROBE.fail_commit or (request is not None and "x-fail-commit" in request.headers):
        raise CommitFailed("commit failed")


class Who(Service):
    """Reads the context's meta."""

    def name(self) -> str:
        """The user's name, loading the user (sync)."""
        return str(self._ctx.meta.user.username)

    async def aname(self) -> str:
        """The user's name, loading the user with the async API."""
        user = await self._ctx.meta.aget("user")
        return str(user.username)

    def path(self) -> str:
        """The request's path and query."""
        return str(self._ctx.meta.request.get_full_path())

    def tenant(self) -> str:
        """The tenant a META hook put in meta."""
        return str(self._ctx.meta.tenant)

    def connection(self) -> int:
        """Use the connection resource (sets it up)."""
        conn: int = self._ctx.connection
        return conn

    def missing(self) -> None:
        """Raise NotFound, like a getter for an absent parent."""
        raise NotFound("no such thing")

    def gone(self) -> None:
        """Raise a 410 service error."""
        raise Gone("gone")


def extra_meta(request: HttpRequest) -> dict[str, Any]:
    """A META hook: adds the tenant named by the X-Tenant header."""
    return {"tenant": request.headers.get("x-tenant", "none")}


def make_dm() -> DataManager:
    """Build the test DataManager."""
    dm = DataManager()
    dm.register_resources(connection=connection, async_connection=async_connection)
    dm.register_context_middleware(recorder)
    dm.register_services(who=Who())
    return dm


dm = make_dm()


def orm_dm(alias: str) -> DataManager:
    """A DataManager whose contexts run in one ORM transaction on ``alias``."""
    from django_datum import AtomicMiddleware

    orm = DataManager()
    orm.register_context_middleware(AtomicMiddleware(alias), recorder)
    orm.register_resources(connection=connection)
    orm.register_services(who=Who())
    return orm


def _header_user(request: HttpRequest) -> Callable[[], Any]:
    name = request.META[USER_HEADER]

    def load() -> User:
        PROBE.add(user_loads=1)
        return User(username=name)

    return load


class HeaderUserMiddleware:
    """Test-only: an ``X-User`` header names the user, loaded lazily like Django's.

    Gives concurrent requests distinct users without a database.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if USER_HEADER in request.META:
            load = _header_user(request)
            request.user = SimpleLazyObject(load)

            async def auser() -> User:
                return load()

            request.auser = auser
        return self.get_response(request)


class ExplodingMiddleware:
    """Test-only: raises (below DatumMiddleware) when the X-Explode header is sent."""

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        if "x-explode" in request.headers:
            raise RuntimeError("inner middleware failed")
        return self.get_response(request)


def failing_setup(context: DataAccessContext) -> Generator[None, None, None]:
    """Context middleware that fails while the context opens."""
    raise RuntimeError("setup failed")
    yield  # pragma: no cover - makes this a generator function


def broken_dm() -> DataManager:
    """A DataManager whose contexts cannot open (a resource is registered, never set up)."""
    broken = DataManager()
    broken.register_resources(connection=connection)
    broken.register_context_middleware(recorder, failing_setup)
    return broken
