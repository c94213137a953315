"""Meta (request, lazy user, ``meta=``), configuration errors and scopes that pass through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from polydatum import DataAccessContext, DataManager
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette_datum import DatumMiddleware, get_dal

from .support import Recorder

pytestmark = pytest.mark.anyio


class HeaderAuth(AuthenticationBackend):
    """Authenticates the user named in the ``x-user`` header."""

    def __init__(self) -> None:
        self.calls = 0

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser] | None:
        self.calls += 1
        name = conn.headers.get("x-user")
        return (AuthCredentials(["authenticated"]), SimpleUser(name)) if name else None


def meta_app(dm: DataManager, *middleware: Middleware) -> Starlette:
    """An app whose endpoint answers with the request's meta, key by key."""

    async def endpoint(request: Request) -> Response:
        meta = dm.get_active_context().meta  # type: ignore[union-attr]
        user = meta.user
        name = getattr(user, "display_name", user)
        rest = ",".join(f"{k}={meta.get(k)}" for k in sorted(meta) if k not in ("request", "user"))
        return PlainTextResponse(f"user={name};{rest}")

    return Starlette(routes=[Route("/", endpoint)], middleware=list(middleware))


async def get(app: Starlette, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        return await client.get("http://test/", headers=headers)


async def test_meta_user_comes_from_authentication_middleware_installed_after(
    dm: DataManager,
) -> None:
    """``meta.user`` is read when used, so AuthenticationMiddleware may follow DatumMiddleware."""
    app = meta_app(
        dm,
        Middleware(DatumMiddleware, data_manager=dm),
        Middleware(AuthenticationMiddleware, backend=HeaderAuth()),
    )
    assert (await get(app, **{"x-user": "ada"})).text == "user=ada;"


async def test_meta_user_is_the_unauthenticated_user_when_auth_fails(dm: DataManager) -> None:
    """With AuthenticationMiddleware and no credentials, ``meta.user`` is ``request.user``."""
    app = meta_app(
        dm,
        Middleware(AuthenticationMiddleware, backend=HeaderAuth()),
        Middleware(DatumMiddleware, data_manager=dm),
    )
    assert (await get(app)).text == "user=;"


async def test_meta_user_is_not_read_unless_used(dm: DataManager) -> None:
    """A request whose services never read ``meta.user`` never reads ``scope["user"]``."""
    reads: list[str] = []

    class Scope(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            reads.append(key)
            return super().get(key, default)

    async def endpoint(request: Request) -> Response:
        return PlainTextResponse("ok")

    inner = Starlette(routes=[Route("/", endpoint)])
    app = DatumMiddleware(inner, data_manager=dm)

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        await app(Scope(scope), receive, send)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi)) as client:
        await client.get("http://test/")
    assert "user" not in reads


async def test_meta_entries_load_on_first_read(dm: DataManager) -> None:
    """A request's ``meta.request`` is built when a service first reads it, then kept."""
    seen: dict[str, Any] = {}

    async def endpoint(request: Request) -> Response:
        ctx = dm.get_active_context()
        assert ctx is not None
        seen["loaded before"] = "request" in vars(ctx.meta)
        seen["first"] = ctx.meta.request
        seen["loaded after"] = "request" in vars(ctx.meta)
        seen["second"] = ctx.meta.request
        seen["scope"] = request.scope
        seen["user"] = ctx.meta.user
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/", endpoint)], middleware=[Middleware(DatumMiddleware, data_manager=dm)]
    )
    await get(app)
    assert (seen["loaded before"], seen["loaded after"]) == (False, True)
    assert seen["second"] is seen["first"]
    assert seen["first"].scope is seen["scope"]
    assert seen["user"] is None


async def test_meta_of_a_context_class_with_its_own_init() -> None:
    """A context class with an ``__init__`` of its own gets it called, with the request's meta."""

    class TaggedContext(DataAccessContext):
        __slots__ = ("tag",)

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.tag = "own init"

    class TaggedManager(DataManager):
        context_class = TaggedContext

    dm = TaggedManager()
    seen: dict[str, Any] = {}

    async def endpoint(request: Request) -> Response:
        ctx = dm.get_active_context()
        assert isinstance(ctx, TaggedContext)
        seen["tag"] = ctx.tag
        seen["request scope"] = ctx.meta.request.scope
        seen["scope"] = request.scope
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/", endpoint)], middleware=[Middleware(DatumMiddleware, data_manager=dm)]
    )
    assert (await get(app)).status_code == 200
    assert seen["tag"] == "own init"
    assert seen["request scope"] is seen["scope"]


async def test_meta_callable_adds_entries(dm: DataManager) -> None:
    """A sync ``meta=`` callable's entries are in the context's meta."""
    app = meta_app(
        dm,
        Middleware(
            DatumMiddleware, data_manager=dm, meta=lambda request: {"tenant": request.url.hostname}
        ),
    )
    assert (await get(app)).text == "user=None;tenant=test"


async def test_async_meta_callable_adds_entries(dm: DataManager) -> None:
    """An async ``meta=`` callable is awaited."""

    async def meta(request: HTTPConnection) -> dict[str, Any]:
        return {"trace": request.headers.get("x-trace")}

    app = meta_app(dm, Middleware(DatumMiddleware, data_manager=dm, meta=meta))
    assert (await get(app, **{"x-trace": "t-1"})).text == "user=None;trace=t-1"


async def test_meta_callable_may_replace_user(dm: DataManager) -> None:
    """Entries from ``meta=`` win over the defaults, e.g. to load a user differently."""
    app = meta_app(
        dm, Middleware(DatumMiddleware, data_manager=dm, meta=lambda request: {"user": "svc"})
    )
    assert (await get(app)).text == "user=svc;"


async def test_meta_callable_returning_a_non_mapping_says_so(dm: DataManager) -> None:
    """A ``meta=`` callable returning something other than a mapping raises a clear TypeError."""
    app = meta_app(dm, Middleware(DatumMiddleware, data_manager=dm, meta=lambda request: "x"))
    with pytest.raises(TypeError, match="must return a mapping of extra meta entries, got str"):
        await get(app)


def test_data_manager_must_be_a_data_manager() -> None:
    """A wrong ``data_manager=`` fails when the middleware is built, saying what to pass."""
    with pytest.raises(TypeError, match=r"data_manager=<a polydatum.DataManager>"):
        DatumMiddleware(Starlette(), data_manager="dm")  # type: ignore[arg-type]


def test_meta_must_be_callable(dm: DataManager) -> None:
    """A ``meta=`` that is not callable fails when the middleware is built."""
    with pytest.raises(TypeError, match="meta= must be a callable"):
        DatumMiddleware(Starlette(), data_manager=dm, meta={"a": 1})  # type: ignore[arg-type]


def test_misconfiguration_fails_at_startup(dm: DataManager) -> None:
    """A bad option surfaces when the app starts (lifespan), before any request."""
    app = Starlette(middleware=[Middleware(DatumMiddleware, data_manager=None)])
    with pytest.raises(TypeError, match="data_manager"), TestClient(app):
        pass


def test_lifespan_passes_through_without_a_context(dm: DataManager, recorder: Recorder) -> None:
    """Startup and shutdown run untouched: no context is opened for the lifespan scope."""
    seen: list[Any] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        seen.append(dm.get_active_context())
        yield {"db_url": "sqlite://"}
        seen.append(dm.get_active_context())

    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(f"{request.state.db_url} {get_dal(request) is dm.get_dal()}")

    app = Starlette(
        routes=[Route("/", endpoint)],
        middleware=[Middleware(DatumMiddleware, data_manager=dm)],
        lifespan=lifespan,
    )
    with TestClient(app) as client:
        assert client.get("/").text == "sqlite:// True"
    assert seen == [None, None]
    assert recorder.events == ["begin", "commit"]


def test_testclient_request_commits(app: Starlette, recorder: Recorder) -> None:
    """Through Starlette's TestClient (its own event loop thread) a request commits and closes."""
    with TestClient(app) as client:
        assert client.get("/ok").text == "conn+aconn"
    assert recorder.events[-3:] == ["commit", "aconn:teardown", "conn:teardown"]
