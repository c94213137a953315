"""The ``DATUM`` setting: read, checked and cached until the settings change.

Every error is an :class:`DatumConfigError` (an ``ImproperlyConfigured``)
carrying the id of the system check that reports the same problem.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string
from polydatum import DataManager
from polydatum.errors import RegistrationError

__all__ = [
    "SETTING",
    "DatumConfig",
    "DatumConfigError",
    "get_config",
    "get_data_manager",
]

#: The name of the Django setting this plugin reads.
SETTING = "DATUM"

_KNOWN_KEYS = ("DATA_MANAGER", "META", "MAP_SERVICE_ERRORS", "CLOSE_IN_THREAD")
_EXAMPLE = 'DATUM = {"DATA_MANAGER": "myproject.dal.dm"}'

#: Builds extra meta entries for a request: ``META`` points to one.
MetaHook = Callable[[Any], Mapping[str, object]]


class DatumConfigError(ImproperlyConfigured):
    """The ``DATUM`` setting is wrong; ``id`` is the matching system check id."""

    def __init__(self, check_id: str, message: str, hint: str) -> None:
        # The hint on a line of its own, as Django prints a system check's.
        super().__init__(f"({check_id}) {message}\n\tHINT: {hint}")
        self.id = check_id
        self.message = message
        self.hint = hint


@dataclass(frozen=True, slots=True)
class DatumConfig:
    """The resolved ``DATUM`` setting."""

    data_manager: DataManager[Any, Any]
    meta: MetaHook | None
    map_service_errors: bool
    #: Under ASGI, close a context with nothing async set up in Django's sync thread.
    close_in_thread: bool = False


_cache: DatumConfig | None = None


def get_config() -> DatumConfig:
    """Return the resolved ``DATUM`` setting (cached until a setting changes).

    Raises:
        DatumConfigError: the setting is missing or wrong; the message says what to change.
    """
    config = _cache
    if config is None:
        config = _load()
        globals()["_cache"] = config
    return config


def get_data_manager() -> DataManager:
    """Return the DataManager named by ``DATUM["DATA_MANAGER"]``.

    For code outside requests (management commands, jobs)::

        with get_data_manager().dal() as dal:
            dal.notes.create(...)
    """
    return get_config().data_manager


def _clear_cache(*, setting: str, **kwargs: Any) -> None:
    """Forget the resolved setting when ``DATUM`` changes (override_settings, tests)."""
    if setting == SETTING:
        globals()["_cache"] = None


setting_changed.connect(_clear_cache, dispatch_uid="django_datum.conf.clear_cache")


def _load() -> DatumConfig:
    raw = getattr(settings, SETTING, None)
    if raw is None:
        raise DatumConfigError(
            "django_datum.E001",
            f"The {SETTING} setting is missing.",
            f"Add it to your settings, e.g. {_EXAMPLE}.",
        )
    if not isinstance(raw, Mapping) or "DATA_MANAGER" not in raw:
        raise DatumConfigError(
            "django_datum.E001",
            f"{SETTING} must be a dict with a DATA_MANAGER key, got {raw!r}.",
            f"Set it like {_EXAMPLE}.",
        )
    unknown = sorted(set(raw) - set(_KNOWN_KEYS))
    if unknown:
        raise DatumConfigError(
            "django_datum.E005",
            f"Unknown {SETTING} key(s): {', '.join(map(repr, unknown))}.",
            f"Known keys are {', '.join(_KNOWN_KEYS)}.",
        )
    return DatumConfig(
        data_manager=_resolve_data_manager(raw["DATA_MANAGER"]),
        meta=_resolve_meta(raw.get("META")),
        map_service_errors=_flag(raw, "MAP_SERVICE_ERRORS", True),
        close_in_thread=_flag(raw, "CLOSE_IN_THREAD", False),
    )


def _flag(raw: Mapping[str, Any], key: str, default: bool) -> bool:
    flag = raw.get(key, default)
    if not isinstance(flag, bool):
        raise DatumConfigError(
            "django_datum.E005",
            f'{SETTING}["{key}"] must be True or False, got {flag!r}.',
            f"Remove it to keep the default ({default}).",
        )
    return flag


def _import(key: str, path: object) -> Any:
    if not isinstance(path, str):
        # An object given directly (handy in tests and settings built in code).
        return path
    try:
        return import_string(path)
    except ImportError as err:
        raise DatumConfigError(
            "django_datum.E002",
            f'{SETTING}["{key}"] = {path!r} could not be imported: {err}',
            "Give the dotted path of a module attribute, e.g. 'myproject.dal.dm'.",
        ) from err


def _resolve_data_manager(path: object) -> DataManager[Any, Any]:
    target = _import("DATA_MANAGER", path)
    if isinstance(target, DataManager):
        return _checked(path, target)
    if callable(target) and not isinstance(target, type):
        produced = target()
        if isinstance(produced, DataManager):
            return _checked(path, produced)
        target = produced
    raise DatumConfigError(
        "django_datum.E003",
        f'{SETTING}["DATA_MANAGER"] = {path!r} is not a polydatum DataManager '
        f"(got {type(target).__name__}).",
        "Point it to a DataManager instance or to a function that takes no "
        "argument and returns one.",
    )


def _checked(path: object, dm: DataManager[Any, Any]) -> DataManager[Any, Any]:
    """``dm``, once it registers everything its classes declare (``DataManager.check``)."""
    try:
        dm.check()
    except RegistrationError as err:
        raise DatumConfigError(
            "django_datum.E007",
            f'{SETTING}["DATA_MANAGER"] = {path!r}: {err}',
            "Register each of them where the DataManager is built, or drop the declaration.",
        ) from err
    return dm


def _resolve_meta(path: object) -> MetaHook | None:
    if path is None:
        return None
    target = _import("META", path)
    if not callable(target):
        raise DatumConfigError(
            "django_datum.E004",
            f'{SETTING}["META"] = {path!r} is not callable.',
            "Point it to a function taking the request and returning a dict of meta entries.",
        )
    hook: MetaHook = target
    return hook
