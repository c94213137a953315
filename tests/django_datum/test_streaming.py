"""Streamed bodies keep the context until the response is closed."""

from __future__ import annotations

import pytest
from django.test import AsyncClient, Client

from tests.django_datum.app import Probe

pytestmark = pytest.mark.anyio


def test_sync_stream_uses_the_dal_while_streaming(client: Client) -> None:
    """Each chunk of a streamed body reaches services and resources."""
    response = client.get("/s/stream/3")
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert body == b"1:/s/stream/3;1:/s/stream/3;1:/s/stream/3;"


def test_sync_stream_closes_the_context_after_the_body(client: Client, probe: Probe) -> None:
    """The context closes (cleanly, resources torn down once) when the body ends."""
    response = client.get("/s/stream/2")
    assert probe.seen == []
    b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert (probe.seen, probe.setups, probe.teardowns) == ([None], 1, 1)


def test_sync_stream_closed_early_rolls_back(client: Client, probe: Probe) -> None:
    """Closing the response mid-stream throws GeneratorExit into the context."""
    response = client.get("/s/stream/5")
    next(iter(response.streaming_content))  # type: ignore[attr-defined]
    response.close()
    assert (probe.seen, probe.teardowns) == ([GeneratorExit], 1)


def test_sync_stream_closed_unread_closes_the_context(client: Client, probe: Probe) -> None:
    """A response closed before its body was read closes the context, as a rollback."""
    response = client.get("/s/stream/5")
    response.close()
    assert probe.seen == [GeneratorExit]


async def test_async_stream_uses_the_dal_while_streaming(
    async_client: AsyncClient, probe: Probe
) -> None:
    """An async body streams with the context active and closes it at the end."""
    response = await async_client.get("/a/stream/2")
    body = b"".join([chunk async for chunk in response.streaming_content])  # type: ignore[attr-defined]
    assert body == b"1:/a/stream/2;1:/a/stream/2;"
    assert (probe.seen, probe.teardowns) == ([None], 1)


async def test_sync_body_streams_under_asgi(async_client: AsyncClient, probe: Probe) -> None:
    """Under ASGI a sync body is advanced in the sync thread with the context active."""
    response = await async_client.get("/s/stream/2")
    body = b"".join([chunk async for chunk in response.streaming_content])  # type: ignore[attr-defined]
    assert body == b"1:/s/stream/2;1:/s/stream/2;"
    assert (probe.seen, probe.teardowns) == ([None], 1)


def test_async_body_under_wsgi_still_closes_once(client: Client, probe: Probe) -> None:
    """Under WSGI an async body (which Django warns about) streams and closes the context once."""
    response = client.get("/a/stream/2")
    with pytest.warns(Warning, match="must consume asynchronous iterators"):
        body = b"".join(response)  # what a WSGI server does
    assert body == b"1:/a/stream/2;1:/a/stream/2;"
    assert (probe.seen, probe.teardowns) == ([None], 1)


def test_http10_sync_stream_is_read_whole_before_the_commit(client: Client, probe: Probe) -> None:
    """For HTTP/1.0 (WSGI) the body is read with the context active, then it commits, then sends."""
    response = client.get("/s/stream/2", SERVER_PROTOCOL="HTTP/1.0")
    assert (probe.seen, probe.setups, probe.teardowns) == ([None], 1, 1)  # before any read
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert body == b"1:/s/stream/2;1:/s/stream/2;"
    assert response["Content-Length"] == str(len(body))


def test_http10_sync_stream_whose_commit_fails_is_a_500(client: Client, probe: Probe) -> None:
    """For HTTP/1.0 a commit failing after a streamed body is Django's 500, without the body."""
    probe.fail_commit = True
    client.raise_request_exception = False
    response = client.get("/s/stream/2", SERVER_PROTOCOL="HTTP/1.0")
    assert response.status_code == 500
    assert b"/s/stream" not in response.content


@pytest.mark.parametrize("path", ["/a/stream/2", "/s/stream/2"], ids=["async-body", "sync-body"])
async def test_http10_stream_under_asgi_is_read_whole_before_the_commit(
    probe: Probe, path: str
) -> None:
    """For HTTP/1.0 (ASGI) a body, async or sync, is read and committed before it is sent."""
    response = await AsyncClient(http_version="1.0").get(path)  # a default of every scope
    assert (probe.seen, probe.teardowns) == ([None], 1)  # before any read
    body = b"".join([chunk async for chunk in response])  # type: ignore[attr-defined]
    assert body == f"1:{path};1:{path};".encode()
    assert response["Content-Length"] == str(len(body))
