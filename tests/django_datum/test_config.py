"""The DATUM setting: start-up errors, system checks, META hook, code outside requests."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import WARNING, run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.wsgi import WSGIHandler
from django.test import Client
from django_datum import DatumMiddleware, get_data_manager

from tests.django_datum.app import Probe, dm

_AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"
_OURS = "django_datum.middleware.DatumMiddleware"


def _start_up_error() -> str:
    with pytest.raises(ImproperlyConfigured) as info:
        WSGIHandler()
    return str(info.value)


def _check_ids() -> list[str]:
    return [message.id or "" for message in run_checks() if message.id]


@pytest.mark.parametrize(
    ("datum", "check_id"),
    [
        (None, "django_datum.E001"),
        ({"META": None}, "django_datum.E001"),
        ({"DATA_MANAGER": "tests.django_datum.nowhere.dm"}, "django_datum.E002"),
        ({"DATA_MANAGER": "tests.django_datum.app.PROBE"}, "django_datum.E003"),
        ({"DATA_MANAGER": "tests.django_datum.app.dm", "META": 3}, "django_datum.E004"),
        ({"DATA_MANAGER": "tests.django_datum.app.dm", "DATAMANAGER": 1}, "django_datum.E005"),
        ({"DATA_MANAGER": "tests.django_datum.app.dm", "CLOSE_IN_THREAD": 1}, "django_datum.E005"),
    ],
)
def test_bad_setting_fails_at_start_up(settings: Any, datum: Any, check_id: str) -> None:
    """A wrong DATUM setting stops the handler from starting, naming the check id."""
    settings.DATUM = datum
    assert check_id in _start_up_error()


@pytest.mark.parametrize(
    ("datum", "check_id"),
    [
        (None, "django_datum.E001"),
        ({"DATA_MANAGER": "tests.django_datum.nowhere.dm"}, "django_datum.E002"),
        ({"DATA_MANAGER": "tests.django_datum.app.PROBE"}, "django_datum.E003"),
    ],
)
def test_bad_setting_is_a_system_check_error(settings: Any, datum: Any, check_id: str) -> None:
    """`manage.py check` reports a wrong DATUM setting with a stable id."""
    settings.DATUM = datum
    assert check_id in _check_ids()


def test_missing_setting_message_says_what_to_add(settings: Any) -> None:
    """The error for a missing DATUM shows the setting to add."""
    del settings.DATUM
    assert 'DATUM = {"DATA_MANAGER": ' in _start_up_error()


def test_middleware_before_authentication_fails_at_start_up(settings: Any) -> None:
    """DatumMiddleware listed before AuthenticationMiddleware stops the start-up (E006)."""
    settings.MIDDLEWARE = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        _OURS,
        _AUTH,
    ]
    assert "django_datum.E006" in _start_up_error()


def test_middleware_before_authentication_is_a_system_check_error(settings: Any) -> None:
    """`manage.py check` reports DatumMiddleware before AuthenticationMiddleware."""
    settings.MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware", _OURS, _AUTH]
    assert "django_datum.E006" in _check_ids()


def test_good_setup_passes_the_system_checks() -> None:
    """The test project's own settings raise no django_datum check."""
    assert [i for i in _check_ids() if i.startswith("django_datum")] == []


def test_factory_path_is_called_once(settings: Any) -> None:
    """DATA_MANAGER may name a zero-argument factory; its DataManager is cached."""
    settings.DATUM = {"DATA_MANAGER": "tests.django_datum.app.make_dm"}
    first = get_data_manager()
    assert first is not dm
    assert get_data_manager() is first


def test_meta_hook_adds_entries(client: Client, settings: Any) -> None:
    """META names a function whose dict is merged into every request's meta."""
    settings.DATUM = {
        "DATA_MANAGER": "tests.django_datum.app.dm",
        "META": "tests.django_datum.app.extra_meta",
    }
    assert client.get("/s/tenant", headers={"x-tenant": "acme"}).content == b"acme"


def test_middleware_requires_get_response() -> None:
    """Building the middleware without get_response is refused."""
    with pytest.raises(ValueError, match="get_response"):
        DatumMiddleware(None)  # type: ignore[arg-type]


def test_code_outside_requests_opens_a_context(probe: Probe) -> None:
    """The documented one-liner for management commands gives a working DAL."""
    with get_data_manager().dal() as dal:
        assert dal.who.connection() == 1
    assert (probe.seen, probe.teardowns) == ([None], 1)


def test_installed_app_without_the_middleware_is_a_system_check_warning(settings: Any) -> None:
    """`manage.py check` warns (W001) when django_datum is installed but DatumMiddleware is not."""
    settings.MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware", _AUTH]
    [warning] = [m for m in run_checks() if m.id == "django_datum.W001"]
    assert warning.level == WARNING
    assert _OURS in (warning.hint or "")


def test_start_up_error_puts_the_hint_on_a_line_of_its_own(settings: Any) -> None:
    """A DATUM error reads as the cause, then a separate HINT line saying what to change."""
    settings.DATUM = None  # (`del` would send no setting_changed, keeping the cached setting)
    cause, hint = _start_up_error().split("\n")
    assert cause == "(django_datum.E001) The DATUM setting is missing."
    assert hint.lstrip().startswith('HINT: Add it to your settings, e.g. DATUM = {"DATA_MANAGER"')
