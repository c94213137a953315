"""Optional app config: list ``"django_datum"`` in INSTALLED_APPS to run its system checks."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["DatumAppConfig"]


class DatumAppConfig(AppConfig):
    """Registers the ``django_datum.E0xx`` system checks when the project starts."""

    name = "django_datum"
    verbose_name = "polydatum"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - importing registers the checks
