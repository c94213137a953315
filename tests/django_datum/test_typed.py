"""A declared DAL in Django: get_dal(request, Dal), and misconfiguration failing at start-up."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpResponse
from django.test import RequestFactory
from django_datum import DatumMiddleware, get_dal
from polydatum import DataManager, Layer, Service


class Notes(Service):
    def title(self, note_id: int) -> str:
        return f"note {note_id}"


class Dal(Layer):
    notes: Notes


class OtherDal(Layer):
    notes: Notes


def registered() -> DataManager[Dal]:
    dm = DataManager(dal_class=Dal)
    dm.register_services(notes=Notes())
    return dm


def test_get_dal_with_the_declared_class_gives_the_request_dal(settings: Any) -> None:
    """get_dal(request, Dal) is the request's DAL; another class is a TypeError saying why."""
    settings.DATUM = {"DATA_MANAGER": registered()}
    seen: list[str] = []

    def view(request: Any) -> Any:
        seen.append(get_dal(request, Dal).notes.title(1))
        with pytest.raises(TypeError, match=r"not a OtherDal: .*DataManager\(dal_class=OtherDal\)"):
            get_dal(request, OtherDal)
        return HttpResponse("done")

    assert DatumMiddleware(view)(RequestFactory().get("/")).content == b"done"
    assert seen == ["note 1"]


def test_a_declared_service_left_unregistered_fails_at_start_up(settings: Any) -> None:
    """The handler does not start when the DataManager misses a declared service (E007)."""
    settings.DATUM = {"DATA_MANAGER": DataManager(dal_class=Dal)}
    with pytest.raises(ImproperlyConfigured) as info:
        WSGIHandler()
    assert "django_datum.E007" in str(info.value)
    assert "dal.notes (Notes)" in str(info.value)


def test_a_declared_service_left_unregistered_is_a_system_check_error(settings: Any) -> None:
    """`manage.py check` reports the unregistered declaration with its id and a hint."""
    settings.DATUM = {"DATA_MANAGER": DataManager(dal_class=Dal)}
    errors = [message for message in run_checks() if message.id == "django_datum.E007"]
    assert len(errors) == 1
    assert "dal.notes (Notes)" in errors[0].msg
    assert errors[0].hint
