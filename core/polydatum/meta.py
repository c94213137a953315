"""Meta: read-only data about a context, with lazily computed values."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator, Mapping
from functools import partial
from types import GenericAlias, MethodType, SimpleNamespace
from typing import TYPE_CHECKING, Any, Literal, overload

from ._types import Generic, U
from .util import describe

__all__ = ["SOURCE", "Meta", "lazy", "sourced_meta"]

# Plain values live in the instance __dict__, so ``meta.user`` is a plain
# attribute read. Lazy values wait under _PENDING, which can not be an
# attribute name. A key named like a Meta method (``get``...) sits in the
# __dict__ too: the methods are data descriptors (see the end of this module),
# which take precedence over instance values, so no key can hide one.
_PENDING = " pending"
# With a source (see sourced_meta), the loaders are shared by many Metas (on
# their class): each is called with this Meta's source (in a slot named
# _SOURCE) and never removed; a loaded value sits in the __dict__, read first.
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
            loaded = loader.load() if type(loader) is lazy else loader()
            values[key] = loaded
            del pending[key]
            return loaded
        shared = _shared_loaders(self)
        if shared is not None and key in shared:
            # Shared loaders (sourced_meta): called with the source, never removed.
            loaded = values[key] = _load(shared[key], _source_of(self))
            return loaded
        return default

    @overload
    async def aget(self, key: Literal["user"]) -> U: ...
    @overload
    async def aget(self, key: str, default: Any = None) -> Any: ...
    async def aget(self, key: str, default: Any = None) -> Any:
        """Like :meth:`get`, but a lazy value with an async loader is awaited."""
        values = self.__dict__
        if key not in values:
            pending: Mapping[str, Any] = values.get(_PENDING) or {}
            loader = pending.get(key)
            if type(loader) is lazy and loader.aload is not None:
                loaded = await loader.aload()
                values[key] = loaded
                del pending[key]  # type: ignore[attr-defined]
                return loaded
            shared = _shared_loaders(self)
            loader = shared.get(key) if shared is not None else None
            if type(loader) is lazy and loader.aload is not None:
                # Shared loaders (sourced_meta): called with the source, never removed.
                loaded = values[key] = await loader.aload(_source_of(self))
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
            *(k for k in _shared_loaders(self) or () if k not in values),
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
        for pending in (values.get(_PENDING) or {}, _shared_loaders(self) or {}):
            shown.update({k: repr(v) for k, v in pending.items() if k not in shown})
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


class _SourcedMeta(_ContextMeta):
    """A Meta whose lazy entries are shared loaders called with its source (see sourced_meta).

    The source sits in a slot (under a name no key can have: see below), so
    building one sets no dictionary entry for it. The loaders sit on the class
    (``_SHARED``): a class made once per loaders mapping (``_sourced_class``).
    """

    __slots__ = ("_source",)

    def __reduce__(self) -> tuple[Any, ...]:
        # SimpleNamespace's own copies the __dict__ alone: the source (a slot) goes along too.
        return (_rebuilt, (type(self), _source_of(self), dict(self.__dict__)))


def _rebuilt(cls: Callable[..., Meta], source: Any, values: dict[str, Any]) -> Meta:
    """A copy of a sourced Meta (see ``_SourcedMeta.__reduce__``)."""
    meta = cls(**values)
    _set_source(meta, source)
    return meta


# The slot is moved to a name that is no identifier, so no meta key can hide it or be hidden
# by it; its descriptor sets and reads it without going through Meta's __setattr__.
_SOURCE_SLOT: Any = _SourcedMeta.__dict__["_source"]
del _SourcedMeta._source
setattr(_SourcedMeta, _SOURCE, _SOURCE_SLOT)
_set_source: Callable[[Meta, Any], None] = _SOURCE_SLOT.__set__
_source_of: Callable[[Meta], Any] = _SOURCE_SLOT.__get__
#: The class attribute of a sourced Meta's class holding its loaders mapping (or, past
#: ``_SOURCED_MAX`` mappings, the instance entry).
_SHARED = " shared"


class _Source:
    """The type of :data:`SOURCE`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SOURCE"

    def __reduce__(self) -> str:
        return "SOURCE"  # the one instance, when copied or pickled (found by identity)


#: As a shared loader (``loaders={"request": SOURCE}``): the entry is the source itself,
#: read without a call (a plugin's request, say).
SOURCE: Any = _Source()


def _shared_loaders(meta: Meta) -> Mapping[str, Any] | None:
    """The shared loaders of ``meta`` (a Meta of :func:`sourced_meta`), else None."""
    if not isinstance(meta, _SourcedMeta):
        return None
    shared: Mapping[str, Any] | None = meta.__dict__.get(_SHARED)
    return shared if shared is not None else getattr(type(meta), _SHARED, None)


def _load(loader: Any, source: Any) -> Any:
    if loader is SOURCE:
        return source
    return loader.load(source) if type(loader) is lazy else loader(source)


class _Loaded:
    """A shared loader as an attribute of a sourced Meta's class (see :func:`sourced_meta`).

    A non-data descriptor: the first read calls the loader with the Meta's
    source and caches the value in the Meta's ``__dict__``, which later reads
    find first. The loader is looked up in the mapping on each first read, so
    a replaced loader is used and a removed one reads as None.
    """

    __slots__ = ("key", "loaders")

    def __init__(self, key: str, loaders: Mapping[str, Any]) -> None:
        self.key = key
        self.loaders = loaders

    def __get__(self, meta: Any, owner: type | None = None) -> Any:
        if meta is None:
            return self
        loader = self.loaders.get(self.key)
        if loader is None:
            return None  # removed from the mapping since the class was made
        value = meta.__dict__[self.key] = _load(loader, _source_of(meta))
        return value


#: ``id(loaders)`` -> (loaders, the Meta class reading its keys as attributes).
_SOURCED: dict[int, tuple[Mapping[str, Any], Callable[..., Meta]]] = {}
#: How many loaders mappings get a class of their own (a plugin has one, shared by every
#: request); Metas of further mappings hold theirs as an entry and load through ``get``.
_SOURCED_MAX = 64


def _sourced_class(loaders: Mapping[str, Any]) -> Callable[..., Meta]:
    """What builds a Meta of ``loaders`` (called with its plain values): a class made once.

    Each key of ``loaders`` is an attribute of the class that loads it (see
    ``_Loaded``); keys added to the mapping later load through ``get``.
    """
    entry = _SOURCED.get(id(loaders))
    if entry is not None and entry[0] is loaders:
        return entry[1]
    if len(_SOURCED) >= _SOURCED_MAX:
        return _without_attributes(loaders)
    attributes: dict[str, Any] = {"__slots__": (), "__module__": __name__, _SHARED: loaders}
    for key, loader in loaders.items():
        # A key named like a method or attribute of Meta stays for meta.get(key).
        if type(key) is str and key.isidentifier() and not hasattr(_SourcedMeta, key):
            # The source itself is read from its slot, in C (fixed once the class is made).
            attributes[key] = property(_source_of) if loader is SOURCE else _Loaded(key, loaders)
    cls = type("_ContextMeta", (_SourcedMeta,), attributes)
    # The mapping is kept, so its id is not reused while the entry lives.
    _SOURCED[id(loaders)] = (loaders, cls)
    return cls


def _without_attributes(loaders: Mapping[str, Any]) -> Callable[..., Meta]:
    """What builds a Meta of ``loaders`` that reads them through ``get`` (its entry, no class)."""
    return partial(_SourcedMeta, **{_SHARED: loaders})


def _maker_for(
    values: Mapping[str, Any], loaders: Mapping[str, Any], make: Callable[..., Meta]
) -> Callable[..., Meta]:
    """What builds a Meta of ``loaders`` with the plain ``values`` (``make``, unless shadowed).

    A plain value wins over a loader of the same key; the attribute of a
    :data:`SOURCE` loader would hide it, so such a Meta is of the class
    without attributes, which reads its loaders through ``get``.

    Raises:
        TypeError: ``values`` is not a dict of plain values.
    """
    if type(values) is not dict:
        raise _not_plain(f"got {describe(values)}")
    shadowed = False
    for key, value in values.items():
        if type(value) is lazy:
            raise _not_plain(f"{key!r} is {describe(value)}")
        if key in loaders and loaders[key] is SOURCE:
            shadowed = True
    return _without_attributes(loaders) if shadowed else make


def _not_plain(what: str) -> TypeError:
    return TypeError(
        f"With loaders=, meta= must be a dict of plain values (put lazy entries in loaders=); "
        f"{what}."
    )


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
    ``aload``, for ``await meta.aget(key)``) take the source, or
    :data:`SOURCE`: the entry is then the source itself. ``values`` are
    plain entries (a key in both is plain).
    """
    # DataManager.context does the same inline, with the maker it keeps at hand.
    make = _sourced_class(loaders)
    meta = _maker_for(dict(values), loaders, make)(**values) if values else make()
    _set_source(meta, source)
    return meta


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
