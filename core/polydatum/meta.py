"""Meta: read-only data about a context, with lazily computed values."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator, Mapping
from functools import partial
from types import GenericAlias, MethodType, SimpleNamespace
from typing import TYPE_CHECKING, Any, Literal, overload

from ._types import Generic, U
from .util import describe

__all__ = ["Meta", "lazy"]

# Plain values live in the instance __dict__, so ``meta.user`` is a plain
# attribute read. Lazy values wait under _PENDING, which can not be an
# attribute name. A key named like a Meta method (``get``...) sits in the
# __dict__ too: the methods are data descriptors (see the end of this module),
# which take precedence over instance values, so no key can hide one.
_PENDING = " pending"
# With a source (see sourced_meta), the pending loaders are shared by many
# Metas: each is called with this Meta's source and never removed; a loaded
# value sits in the __dict__, which is read first.
_SOURCE = " source"


class lazy:  # noqa: N801 - used like a function: meta={"user": lazy(load_user)}
    """A meta value computed on first read, then cached for the context.

    ``load`` is called with no arguments the first time the key is read
    (with the source, among a plugin's shared loaders: see :func:`sourced_meta`).
    ``aload``, if given, is an async twin used by ``await meta.aget(key)``.
    """

    __slots__ = ("aload", "load")

    def __init__(
        self,
        load: Callable[..., Any],
        aload: Callable[..., Awaitable[Any]] | None = None,
    ) -> None:
        self.load = load
        self.aload = aload

    def __repr__(self) -> str:
        return f"<lazy {describe(self.load)}>"


class Meta(SimpleNamespace, Generic[U]):
    """Read-only data about a context (the request, the user).

    Keys read as attributes (``meta.user``); a missing key reads as None.
    Values wrapped in :class:`lazy` are computed on first read and cached.
    A key named like a Meta method (``get``, ``items``...) is read with
    ``meta.get(key)``. For type checkers ``meta.user`` (and ``get``,
    ``aget`` and ``require`` of ``"user"``) is a ``U`` (``Any`` unless the
    context declares it: ``Context[Dal, User]``); other keys are ``Any``.
    """

    # A SimpleNamespace underneath: built in C, and every plain value is an
    # instance attribute, so ``meta.user`` is a plain attribute read.
    __slots__ = ()

    if not TYPE_CHECKING:
        # ``Meta[...]`` at run time (in a base class list, say), without typing.Generic.
        __class_getitem__ = classmethod(GenericAlias)

    if TYPE_CHECKING:

        @property
        def user(self) -> U:
            """The user the context acts for (None when the meta has none)."""

    def __init__(self, opts: Mapping[str, Any] | None = None) -> None:
        if opts:
            _init(self, **_split_lazy(opts))
        else:
            _init(self)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(_READ_ONLY)

    def __delattr__(self, key: str) -> None:
        raise AttributeError(_READ_ONLY)

    if not TYPE_CHECKING:
        # At run time only: for type checkers item assignment stays an error.

        def __setitem__(self, key: str, value: Any) -> None:
            raise TypeError(_READ_ONLY)

        def __delitem__(self, key: str) -> None:
            raise TypeError(_READ_ONLY)

    def __getattr__(self, key: str) -> Any:
        # Only reached for keys that are not plain values: lazy, or missing.
        if key[:2] == "__":
            raise AttributeError(key)
        return self.get(key)

    @overload
    def get(self, key: Literal["user"]) -> U: ...
    @overload
    def get(self, key: str, default: Any = None) -> Any: ...
    def get(self, key: str, default: Any = None) -> Any:
        """Return the value for ``key`` (computing a lazy one), or ``default``."""
        values = self.__dict__
        if key in values and key[0] != " ":
            return values[key]
        pending = values.get(_PENDING)
        if pending is not None and key in pending:
            loader = pending[key]
            if _SOURCE in values:
                source = values[_SOURCE]
                loaded = values[key] = (
                    loader.load(source) if type(loader) is lazy else loader(source)
                )
                return loaded
            loaded = loader.load() if type(loader) is lazy else loader()
            values[key] = loaded
            del pending[key]
            return loaded
        return default

    @overload
    async def aget(self, key: Literal["user"]) -> U: ...
    @overload
    async def aget(self, key: str, default: Any = None) -> Any: ...
    async def aget(self, key: str, default: Any = None) -> Any:
        """Like :meth:`get`, but a lazy value with an async loader is awaited."""
        values = self.__dict__
        pending: dict[str, Any] = values.get(_PENDING) or {}
        loader = pending.get(key)
        if type(loader) is lazy and loader.aload is not None and key not in values:
            if _SOURCE in values:
                # Shared loaders (sourced_meta): called with the source, never removed.
                loaded = values[key] = await loader.aload(values[_SOURCE])
                return loaded
            loaded = await loader.aload()
            values[key] = loaded
            del pending[key]
            return loaded
        return self.get(key, default)

    @overload
    def require(self, key: Literal["user"]) -> U: ...
    @overload
    def require(self, key: str) -> Any: ...
    def require(self, key: str) -> Any:
        """Return the value for ``key``; raise ValueError when it is missing or empty."""
        value = self.get(key, _NOT_SET)
        if value is _NOT_SET:
            keys = ", ".join(sorted(self.keys())) or "none"
            raise ValueError(
                f"Meta has no {key!r}, which is required here; its keys: {keys}. "
                f"Pass it when the context opens: dm.context(meta={{{key!r}: ...}})."
            )
        if not value:
            raise ValueError(f"Meta {key!r} is required here, but it is empty ({value!r}).")
        return value

    def keys(self) -> list[str]:
        """Return the keys, lazy ones included."""
        values = self.__dict__
        return [
            *(k for k in values if k[0] != " "),
            *(k for k in values.get(_PENDING, ()) if k not in values),
        ]

    def items(self) -> Iterator[tuple[str, Any]]:
        """Iterate over ``(key, value)`` pairs, computing lazy values."""
        for key in self.keys():
            yield key, self.get(key)

    def __getitem__(self, key: str) -> Any:
        value = self.get(key, _NOT_SET)
        if value is _NOT_SET:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Meta):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    __hash__ = None

    def __str__(self) -> str:
        values = self.__dict__
        shown = {k: v for k, v in values.items() if k[0] != " "}
        pending = values.get(_PENDING, {})
        shown.update({k: repr(v) for k, v in pending.items() if k not in values})
        return json.dumps(shown, indent=2, default=repr)

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} {self}>"


class _ContextMeta(Meta):
    """The Meta contexts build: SimpleNamespace's own (C) __init__, keyword values only."""

    __slots__ = ()
    __init__ = SimpleNamespace.__init__


_NOT_SET: Any = object()
_READ_ONLY = (
    "Meta values can not be changed: meta is read-only data about the context, given when "
    "it opens (dm.context(meta={...})). Keep per-request state in a resource "
    "(dm.register_resources) or on the context itself (ctx.<name> = value)."
)
#: ``_ContextMeta`` as a type checker should see it (its __init__ is SimpleNamespace's).
_meta: Callable[..., Meta] = _ContextMeta
_new = SimpleNamespace.__new__
_init = SimpleNamespace.__init__

# Meta's public methods become data descriptors built from C parts (a property
# whose getter binds the function): ``meta.get`` is the method even when the
# meta holds a key named "get", which is then read with ``meta.get("get")``.
# Values are never checked against method names on the per-request path.
for _name in ("get", "aget", "require", "keys", "items"):
    setattr(Meta, _name, property(partial(MethodType, Meta.__dict__[_name])))
del _name


def _split_lazy(opts: Mapping[str, Any], pending: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return ``opts``' plain values, its lazy ones under the pending key, in one pass.

    ``pending`` (lazy entries the caller keeps apart) is taken over; its
    entries win over lazy ones of ``opts`` with the same key.
    """
    values: dict[str, Any] = {}
    pending = pending if pending else {}
    for key, value in opts.items():
        if type(value) is lazy:
            if key not in pending:
                pending[key] = value
        else:
            values[key] = value
    if pending:
        values[_PENDING] = pending
    return values


def as_meta(meta: Mapping[str, object] | Meta | None) -> Meta:
    """The Meta of a context given ``meta``: a mapping (lazy values allowed), a Meta or None."""
    if type(meta) is dict:
        for value in meta.values():
            if type(value) is lazy:
                return new_meta(meta)
        return _meta(**meta)
    if meta is None:
        return _meta()
    if isinstance(meta, Meta):
        return meta
    return new_meta(meta)


class _Loaded:
    """A shared loader as an attribute of a sourced Meta's class (see :func:`sourced_meta`).

    A non-data descriptor: the first read calls the loader with the Meta's
    source and caches the value in the Meta's ``__dict__``, which later reads
    find first. Reading ``meta.user`` this way is one Python call, against a
    failed attribute lookup, ``__getattr__`` and ``get`` otherwise.
    """

    __slots__ = ("key", "load")

    def __init__(self, key: str, loader: Any) -> None:
        self.key = key
        self.load: Callable[[Any], Any] = loader.load if type(loader) is lazy else loader

    def __get__(self, meta: Any, owner: type | None = None) -> Any:
        if meta is None:
            return self
        values = meta.__dict__
        value = values[self.key] = self.load(values[_SOURCE])
        return value


#: ``id(loaders)`` -> (loaders, a copy of it, the Meta class reading its keys as attributes).
_SOURCED: dict[int, tuple[Mapping[str, Any], dict[str, Any], type[Meta]]] = {}
#: How many loaders mappings get a class of their own (a plugin has one, shared by every
#: request); Metas of further mappings read their loaders through ``__getattr__``.
_SOURCED_MAX = 64


def _sourced_class(loaders: Mapping[str, Any]) -> type[Meta]:
    """The Meta class for ``loaders``: each key an attribute that loads it (see ``_Loaded``)."""
    entry = _SOURCED.get(id(loaders))
    # Still the same mapping, with the same loaders (one dict comparison, in C).
    if entry is not None and entry[0] is loaders and entry[1] == loaders:
        return entry[2]
    if len(_SOURCED) >= _SOURCED_MAX and entry is None:
        plain: type[Meta] = _ContextMeta
        return plain
    attributes: dict[str, Any] = {"__slots__": (), "__module__": __name__}
    for key, loader in loaders.items():
        # A key named like a method or attribute of Meta stays for meta.get(key).
        if type(key) is str and key.isidentifier() and not hasattr(Meta, key):
            attributes[key] = _Loaded(key, loader)
    cls = type("_ContextMeta", (_ContextMeta,), attributes)
    _SOURCED[id(loaders)] = (loaders, dict(loaders), cls)
    return cls


def sourced_meta(
    loaders: Mapping[str, Callable[[Any], Any]],
    source: Any,
    values: Mapping[str, Any] | None = None,
) -> Meta:
    """Build a Meta whose lazy entries are ``loaders`` called with ``source``.

    ``loaders`` may be one mapping shared by every Meta (a plugin's module
    constant): it is never changed, so a request builds no loader of its own.
    ``loaders[key](source)`` runs on the first read of ``key``; the value is
    then cached. A loader may be a :class:`lazy` whose ``load`` (and
    ``aload``, for ``await meta.aget(key)``) take the source. ``values`` are
    plain entries (a key in both is plain).
    """
    entry = _SOURCED.get(id(loaders))
    # _sourced_class's first case, inlined (a Python call less); keep the two alike.
    if entry is not None and entry[0] is loaders and entry[1] == loaders:
        meta: Callable[..., Meta] = entry[2]
    else:
        meta = _sourced_class(loaders)
    if values:
        return meta(**values, **{_PENDING: loaders, _SOURCE: source})
    return meta(**{_PENDING: loaders, _SOURCE: source})


def new_meta(opts: Mapping[str, Any] | None, lazy_values: dict[str, Any] | None = None) -> Meta:
    """Build a Meta without going through ``Meta.__init__`` (the per-request path).

    ``lazy_values`` are lazy entries the caller already keeps apart, which
    saves looking for them among ``opts``: each a :class:`lazy` or a plain
    zero-argument callable. The Meta takes that dict over.
    """
    if opts:
        for value in opts.values():
            if type(value) is lazy:
                break
        else:
            if lazy_values:
                # One C call: the caller hands the lazy_values dict over.
                return _meta(**opts, **{_PENDING: lazy_values})
            return _meta(**opts)
        return _meta(**_split_lazy(opts, lazy_values))
    if lazy_values:
        return _meta(**{_PENDING: lazy_values})
    return _meta()
