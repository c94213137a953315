"""What an app's classes declare (``notes: Notes``), checked against what it registers.

A ``Layer`` subclass declares the DAL's services, a ``Service`` subclass its
sub-services (annotations whose type is a Service class) and a ``Context``
subclass the context's resources: each public annotation without a value.
Registration checks the type of what is registered under a declared name;
``DataManager.check()`` lists what is declared and not registered. All of it
runs at registration or start-up, never per request.
"""

from __future__ import annotations

import inspect
import sys
import weakref
from types import GenericAlias, UnionType
from typing import TYPE_CHECKING, Any, ClassVar, Union, get_origin

from .errors import RegistrationError
from .util import describe

if TYPE_CHECKING:
    from .dal import DataManager

__all__ = ["Unresolved", "check_declared", "declarations", "missing_declarations"]


class Unresolved(str):
    """An annotation that did not evaluate at run time (a name imported for type checkers only,
    a class local to a function): what it names is declared, its type is not checked."""

    __slots__ = ()


# polydatum's own classes declare nothing for an app (their annotations are internals).
_OWN_MODULES = frozenset(
    {"polydatum.context", "polydatum.dal", "polydatum.services", "typing", "builtins"}
)

_cache: weakref.WeakKeyDictionary[type, dict[str, Any]] = weakref.WeakKeyDictionary()


def _resolve(owner: type, annotation: object) -> Any:
    if not isinstance(annotation, str):
        return annotation
    module = sys.modules.get(owner.__module__)
    namespace = dict(vars(module)) if module is not None else {}
    try:
        return eval(annotation, namespace, dict(vars(owner)))  # the app's own annotation
    except Exception:
        return Unresolved(annotation)


def _is_classvar(annotation: object, value: Any) -> bool:
    if isinstance(annotation, str):
        return annotation.startswith(("ClassVar", "typing.ClassVar"))
    return value is ClassVar or get_origin(value) is ClassVar


def declarations(cls: type, *, exclude: type | None = None) -> dict[str, Any]:
    """The public attributes ``cls`` and its bases declare without a value: name -> type.

    The type is evaluated in the declaring module (an :class:`Unresolved`
    when that fails). polydatum's own classes, and classes deriving from ``exclude``,
    declare nothing.
    """
    key = cls if exclude is None else None
    if key is not None and key in _cache:
        return _cache[key]
    found: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__ in _OWN_MODULES or (exclude is not None and issubclass(klass, exclude)):
            continue
        own = inspect.get_annotations(klass)
        for name, annotation in own.items():
            if name.startswith("_") or name in klass.__dict__:
                continue
            value = _resolve(klass, annotation)
            if _is_classvar(annotation, value):
                continue
            found[name] = value
    if key is not None:
        _cache[key] = found
    return found


def _is_service_class(kind: Any) -> bool:
    from .services import Service

    origin = get_origin(kind) or kind
    return isinstance(origin, type) and issubclass(origin, Service)


def _matches(service: object, kind: Any) -> bool | None:
    """Whether ``service`` is of the declared ``kind``; None when that can not be told."""
    if isinstance(kind, Unresolved) or kind is Any:
        return None
    if isinstance(kind, GenericAlias) or (get_origin(kind) is not None and not _is_union(kind)):
        kind = get_origin(kind)
    try:
        return isinstance(service, kind)
    except TypeError:
        return None


def _is_union(kind: Any) -> bool:
    return isinstance(kind, UnionType) or get_origin(kind) is Union


def _name(kind: Any) -> str:
    if isinstance(kind, type):
        return kind.__qualname__
    return str(kind).replace("typing.", "")


def check_declared(owner: object, key: str, service: object, *, closed: bool = False) -> None:
    """Refuse to register ``service`` as ``key`` of ``owner`` if it is not what ``owner`` declares.

    ``closed``: ``owner`` (a declared DAL) takes no name it does not declare.

    Raises:
        RegistrationError: the service is not of the declared type (or, when
            ``closed``, the name is not declared).
    """
    declared = declarations(type(owner))
    where = _owner_name(owner)
    if key not in declared:
        if closed:
            names = ", ".join(sorted(declared)) or "none"
            raise RegistrationError(
                f"{where} declares no service named {key!r} (it declares: {names}); "
                f"declare it on the class ({key}: {type(service).__qualname__}) or "
                "register it under a declared name."
            )
        return
    kind = declared[key]
    if _matches(service, kind) is False:
        raise RegistrationError(
            f"{where} declares {key!r} as {_name(kind)}, but the service registered as "
            f"{key!r} is {describe(service)}; register an instance of {_name(kind)} "
            f"(a subclass, or a test double such as Mock(spec={_name(kind)}), will do)."
        )


def _owner_name(owner: object) -> str:
    from .services import Service

    if isinstance(owner, Service):
        return f"Service {type(owner).__qualname__}"
    return f"The DAL class {type(owner).__qualname__}"


def missing_declarations(dm: DataManager[Any, Any]) -> list[str]:
    """What ``dm``'s declared DAL, services and context declare and nobody registered."""
    from .context import DataAccessContext

    dal = dm.get_dal()
    services: dict[str, Any] = dal._services
    missing: list[str] = []
    for name, kind in declarations(type(dal)).items():
        if name not in services:
            missing.append(
                f"dal.{name} ({_describe_kind(kind)}): "
                f"dm.register_services({name}={_example(kind)})"
            )
    for name, service in services.items():
        _missing_subservices(f"dal.{name}", service, missing)
    registered = set(dm._resource_manager.names())
    declared = declarations(dm.context_class, exclude=DataAccessContext)
    for name, kind in declared.items():
        if name not in registered and not hasattr(dm.context_class, name):
            missing.append(
                f"ctx.{name} (a resource: {_describe_kind(kind)}): "
                f"dm.register_resources({name}=...)"
            )
    return missing


def _missing_subservices(path: str, service: Any, missing: list[str]) -> None:
    subs: dict[str, Any] = getattr(service, "_services", {})
    for name, kind in declarations(type(service)).items():
        if _is_service_class(kind) and name not in subs and name not in vars(service):
            missing.append(
                f"{path}.{name} ({_describe_kind(kind)}): "
                f"{type(service).__qualname__}().register_services({name}={_example(kind)})"
            )
    for name, sub in subs.items():
        _missing_subservices(f"{path}.{name}", sub, missing)


def _describe_kind(kind: Any) -> str:
    if isinstance(kind, Unresolved):
        return f"{kind}, not known at run time"
    return _name(kind)


def _example(kind: Any) -> str:
    if isinstance(kind, Unresolved):
        return f"{kind}()" if kind.isidentifier() else "..."
    return f"{_name(kind)}()"
