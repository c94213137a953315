"""DatumMiddleware under Django's sync test client (WSGI handler)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, RequestFactory
from django_datum import get_dal

from tests.django_datum.app import CommitFailed, Probe


def test_view_uses_the_dal_with_request_and_user_in_meta(client: Client) -> None:
    """A view reads the user and the request from meta through request.dal."""
    response = client.get("/s/name", headers={"x-user": "ada"})
    assert response.content == b"ada /s/name"


def test_user_is_not_loaded_when_nobody_reads_it(client: Client, probe: Probe) -> None:
    """A view that never reads meta.user never loads the user."""
    client.get("/s/noop", headers={"x-user": "ada"})
    assert probe.user_loads == 0


def test_resource_set_up_is_torn_down_once(client: Client, probe: Probe) -> None:
    """A resource set up during the request is torn down exactly once."""
    client.get("/s/conn")
    assert (probe.setups, probe.teardowns) == (1, 1)


def test_successful_request_closes_without_exception(client: Client, probe: Probe) -> None:
    """The context middleware sees no exception after a 200."""
    assert client.get("/s/conn").status_code == 200
    assert probe.seen == [None]


@pytest.mark.parametrize(
    ("kind", "status", "exc"),
    [("404", 404, "Http404"), ("403", 403, "PermissionDenied"), ("500", 500, "RuntimeError")],
)
def test_view_exception_reaches_context_middleware(
    client: Client, probe: Probe, kind: str, status: int, exc: str
) -> None:
    """The view's exception is thrown into the context; the response stays Django's."""
    client.raise_request_exception = False
    response = client.get(f"/s/fail/{kind}")
    assert response.status_code == status
    assert [t.__name__ if t else None for t in probe.seen] == [exc]
    assert (probe.setups, probe.teardowns) == (1, 1)


def test_failed_commit_becomes_a_500(client: Client, probe: Probe) -> None:
    """A commit failing while the context closes turns the view's 200 into a 500."""
    client.raise_request_exception = False
    probe.fail_commit = True
    response = client.get("/s/conn")
    assert response.status_code == 500
    assert probe.teardowns == 1


def test_failed_commit_reaches_django_error_handling(client: Client, probe: Probe) -> None:
    """The commit failure goes through Django's handling (the test client re-raises it)."""
    probe.fail_commit = True
    with pytest.raises(CommitFailed):
        client.get("/s/conn")


def test_not_found_service_error_becomes_404(client: Client, probe: Probe) -> None:
    """An unhandled NotFound becomes a 404 through Django's 404 handling."""
    response = client.get("/s/service/404")
    assert response.status_code == 404
    assert [t.__name__ if t else None for t in probe.seen] == ["NotFound"]


def test_other_4xx_service_error_keeps_its_code(client: Client) -> None:
    """A ServiceError with code 410 becomes a 410 response."""
    assert client.get("/s/service/410").status_code == 410


def test_service_error_mapping_can_be_switched_off(client: Client, settings: object) -> None:
    """With MAP_SERVICE_ERRORS False a NotFound is an ordinary 500."""
    settings.DATUM = {"DATA_MANAGER": "tests.django_datum.app.dm", "MAP_SERVICE_ERRORS": False}  # type: ignore[attr-defined]
    client.raise_request_exception = False
    assert client.get("/s/service/404").status_code == 500


def test_inner_middleware_exception_reaches_the_context(
    client: Client, probe: Probe, settings: Any
) -> None:
    """An exception from middleware below DatumMiddleware is thrown into the context too."""
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "tests.django_datum.app.ExplodingMiddleware"]
    client.raise_request_exception = False
    assert client.get("/s/conn", headers={"x-explode": "1"}).status_code == 500
    assert probe.seen == [RuntimeError]


def test_context_that_fails_to_open_is_a_500_and_leaks_nothing(
    client: Client, probe: Probe, settings: Any
) -> None:
    """A context middleware failing at set-up gives Django's 500; earlier middleware closes."""
    settings.DATUM = {"DATA_MANAGER": "tests.django_datum.app.broken_dm"}
    client.raise_request_exception = False
    assert client.get("/s/conn").status_code == 500
    assert (probe.seen, probe.setups) == ([RuntimeError], 0)


def test_get_dal_without_the_middleware_says_what_to_add(settings: Any) -> None:
    """get_dal on a request the middleware never saw names the MIDDLEWARE entry to add."""
    with pytest.raises(RuntimeError, match=r"django_datum\.middleware\.DatumMiddleware"):
        get_dal(RequestFactory().get("/"))


def test_request_keeps_dal_but_drops_its_context_after_the_response(client: Client) -> None:
    """After the response, request.dal stays and the request no longer holds its context."""
    request = client.get("/s/noop").wsgi_request
    assert hasattr(request, "dal")
    assert not hasattr(request, "datum_context")
