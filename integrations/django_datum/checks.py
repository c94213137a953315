"""System checks for the ``DATUM`` setting and the middleware (``django_datum.E0xx``, ``W001``)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.core.checks import Warning as CheckWarning
from django.utils.module_loading import import_string

from .conf import DatumConfigError, get_config

__all__ = [
    "check_middleware_installed",
    "check_middleware_order",
    "check_settings",
    "middleware_order_error",
]

_AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"
_DATUM_MIDDLEWARE = "django_datum.middleware.DatumMiddleware"


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Report a wrong ``DATUM`` setting (E001-E005) or an unregistered declaration (E007)."""
    if not _datum_middleware_positions():
        return []
    try:
        get_config()
    except DatumConfigError as err:
        return [Error(err.message, hint=err.hint, id=err.id)]
    return []


@register(Tags.compatibility)
def check_middleware_order(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Report ``DatumMiddleware`` placed before ``AuthenticationMiddleware`` (E006)."""
    error = middleware_order_error()
    return [] if error is None else [Error(error.message, hint=error.hint, id=error.id)]


@register(Tags.compatibility)
def check_middleware_installed(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when ``django_datum`` is installed but ``DatumMiddleware`` is not in MIDDLEWARE (W001).

    Without it no request gets ``request.dal``.
    """
    if not apps.is_installed("django_datum") or _datum_middleware_positions():
        return []
    return [
        CheckWarning(
            "'django_datum' is in INSTALLED_APPS but its middleware is not in MIDDLEWARE, "
            "so no request gets request.dal.",
            hint=f"Add {_DATUM_MIDDLEWARE!r} to MIDDLEWARE, after {_AUTH_MIDDLEWARE!r} "
            "(last is best).",
            id="django_datum.W001",
        )
    ]


def middleware_order_error() -> DatumConfigError | None:
    """Return the error for a DatumMiddleware listed before AuthenticationMiddleware, if any."""
    ours = _datum_middleware_positions()
    middleware = list(getattr(settings, "MIDDLEWARE", None) or ())
    if not ours or _AUTH_MIDDLEWARE not in middleware:
        return None
    auth = middleware.index(_AUTH_MIDDLEWARE)
    if ours[0] > auth:
        return None
    return DatumConfigError(
        "django_datum.E006",
        f"{middleware[ours[0]]!r} comes before {_AUTH_MIDDLEWARE!r} in MIDDLEWARE, "
        "so request.user is not set when the data context opens.",
        f"Move it after {_AUTH_MIDDLEWARE!r} (last in the list is best: its "
        "process_exception then sees every view exception first).",
    )


def _datum_middleware_positions() -> list[int]:
    from .middleware import DatumMiddleware

    positions = []
    for index, path in enumerate(getattr(settings, "MIDDLEWARE", None) or ()):
        try:
            cls = import_string(path)
        except ImportError:
            continue  # Django reports middleware that does not import by itself.
        if isinstance(cls, type) and issubclass(cls, DatumMiddleware):
            positions.append(index)
    return positions
