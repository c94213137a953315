"""Meta: read-only context data with lazily computed values."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest
from polydatum import DataManager, Meta, lazy
from polydatum.meta import SOURCE, sourced_meta


def test_keys_read_as_attributes() -> None:
    """Meta keys are readable as attributes and with get()."""
    meta = Meta({"user": "bob"})
    assert meta.user == "bob"
    assert meta.get("user") == "bob"


def test_missing_key_reads_as_none() -> None:
    """A missing key reads as None, and get() gives the default."""
    meta = Meta({})
    assert meta.user is None
    assert meta.get("user", "anon") == "anon"


def test_require_raises_on_missing() -> None:
    """require() returns a value and raises ValueError for a missing or empty one."""
    meta = Meta({"user": "bob", "empty": ""})
    assert meta.require("user") == "bob"
    with pytest.raises(ValueError, match="Meta 'empty' is required here, but it is empty"):
        meta.require("empty")
    with pytest.raises(ValueError, match="Meta has no 'nope', which is required here"):
        meta.require("nope")


def test_require_of_a_missing_key_lists_the_keys_and_the_fix(dm: DataManager) -> None:
    """require() of a key the meta lacks says so, lists its keys and how to pass the key."""
    with (
        dm.context(meta={"request": "GET /", "tenant": "acme"}) as ctx,
        pytest.raises(ValueError, match="Meta has no 'user'") as info,
    ):
        ctx.meta.require("user")
    assert str(info.value) == (
        "Meta has no 'user', which is required here; its keys: request, tenant. "
        "Pass it when the context opens: dm.context(meta={'user': ...})."
    )


def test_item_assignment_says_meta_is_read_only_and_where_state_goes(dm: DataManager) -> None:
    """``meta[key] = value`` raises TypeError saying meta is read-only and where state goes."""
    with dm.context(meta={"user": "bob"}) as ctx:
        with pytest.raises(TypeError, match="can not be changed") as info:
            ctx.meta["user"] = "eve"
        with pytest.raises(TypeError, match="can not be changed"):
            del ctx.meta["user"]
        assert ctx.meta.user == "bob"
    assert "in a resource (dm.register_resources)" in str(info.value)
    assert "on the context itself (ctx.<name> = value)" in str(info.value)


def test_meta_is_read_only() -> None:
    """Setting or deleting a Meta attribute raises AttributeError."""
    meta = Meta({"user": "bob"})
    with pytest.raises(AttributeError, match="can not be changed"):
        meta.user = "eve"
    with pytest.raises(AttributeError, match="can not be changed"):
        del meta.user
    assert meta.user == "bob"


def test_meta_copies_its_input() -> None:
    """Changing the dict a Meta was built from does not change the Meta."""
    source = {"user": "bob"}
    meta = Meta(source)
    source["user"] = "eve"
    assert meta.user == "bob"


def test_context_meta_copies_its_input(dm: DataManager) -> None:
    """Changing the dict given to dm.context() does not change the context's meta."""
    source = {"user": "bob"}
    with dm.context(meta=source) as ctx:
        source["user"] = "eve"
        assert ctx.meta.user == "bob"


def test_lazy_value_computed_on_first_read_only() -> None:
    """A lazy value is computed on first read, then cached."""
    calls = []

    def load() -> str:
        calls.append(1)
        return "bob"

    meta = Meta({"user": lazy(load)})
    assert calls == []
    assert meta.user == "bob"
    assert meta.get("user") == "bob"
    assert calls == [1]


def test_lazy_value_never_read_is_never_computed(dm: DataManager) -> None:
    """A context whose lazy meta value is never read never computes it."""
    calls = []
    with dm.context(meta={"user": lazy(lambda: calls.append(1))}):
        pass
    assert calls == []


def test_lazy_value_in_context_meta(dm: DataManager) -> None:
    """dm.context(meta=...) accepts lazy values."""
    with dm.context(meta={"user": lazy(lambda: "ann")}) as ctx:
        assert ctx.meta.user == "ann"


@pytest.mark.anyio
async def test_lazy_value_async_loader() -> None:
    """await meta.aget() uses a lazy value's async loader and caches the result."""
    calls = []

    async def aload() -> str:
        calls.append("async")
        return "ann"

    meta = Meta({"user": lazy(lambda: "sync", aload)})
    assert await meta.aget("user") == "ann"
    assert meta.user == "ann"
    assert calls == ["async"]


@pytest.mark.anyio
async def test_aget_falls_back_to_sync_loader() -> None:
    """await meta.aget() of a lazy value without an async loader uses the sync one."""
    meta = Meta({"user": lazy(lambda: "sync")})
    assert await meta.aget("user") == "sync"
    assert await meta.aget("nope", "default") == "default"


def test_keys_named_like_methods_stay_readable() -> None:
    """A key named like a Meta method keeps the method working and is read with get()."""
    meta = Meta({"get": 1, "items": 2, "user": "bob"})
    assert meta.get("get") == 1
    assert meta.get("items") == 2
    assert dict(meta.items()) == {"get": 1, "items": 2, "user": "bob"}


def test_mapping_protocol() -> None:
    """Meta supports len, iteration, membership and item access, lazy values included."""
    meta = Meta({"a": 1, "b": lazy(lambda: 2)})
    assert len(meta) == 2
    assert sorted(meta) == ["a", "b"]
    assert "b" in meta
    assert "c" not in meta
    assert meta["b"] == 2
    with pytest.raises(KeyError):
        meta["c"]


def test_str_shows_values_without_computing_lazy_ones() -> None:
    """str(meta) is JSON of the values and does not compute lazy values."""
    calls = []
    meta = Meta({"a": 1, "b": lazy(lambda: calls.append(1))})
    text = str(meta)
    assert '"a": 1' in text
    assert "lazy" in text
    assert calls == []


def test_meta_instance_is_used_as_is(dm: DataManager) -> None:
    """A Meta given to dm.context() is the context's meta."""
    meta = Meta({"user": "bob"})
    with dm.context(meta=meta) as ctx:
        assert ctx.meta is meta


def test_sourced_meta_calls_shared_loaders_with_its_own_source(dm: DataManager) -> None:
    """One shared loaders mapping serves many Metas; each loader gets its Meta's source."""
    calls: list[str] = []

    def upper(source: str) -> str:
        calls.append(source)
        return source.upper()

    loaders = {"shout": upper}
    ann, bob = sourced_meta(loaders, "ann"), sourced_meta(loaders, "bob", {"team": "blue"})
    assert calls == []  # nothing computed before a read
    assert (ann.shout, bob.shout, ann.shout) == ("ANN", "BOB", "ANN")
    assert calls == ["ann", "bob"]  # computed once per Meta, then cached
    assert loaders == {"shout": upper}  # the shared mapping is never changed
    assert sorted(bob.keys()) == ["shout", "team"]  # a loaded entry is listed once
    assert dict(bob.items()) == {"team": "blue", "shout": "BOB"}
    with dm.context(sourced_meta(loaders, "cy")) as ctx:
        assert ctx.meta.shout == "CY"


def test_sourced_meta_plain_value_wins_over_a_loader() -> None:
    """A key given both as a plain value and as a loader reads as the plain value."""
    meta = sourced_meta({"user": lambda source: "loaded"}, None, {"user": "given"})
    assert meta.user == "given"
    assert meta.keys() == ["user"]


def test_context_loaders_run_on_first_read_with_the_source(dm: DataManager) -> None:
    """``dm.context(loaders=, source=)`` calls a loader with the source on the first read only."""
    calls: list[object] = []
    loaders = {"path": lambda source: calls.append(source) or source["path"]}
    with dm.context({"user": "ann"}, loaders=loaders, source={"path": "/a"}) as ctx:
        assert calls == []
        assert (ctx.meta.user, ctx.meta.path, ctx.meta.path) == ("ann", "/a", "/a")
    assert calls == [{"path": "/a"}]
    assert loaders == {"path": loaders["path"]}  # shared by every context: never changed


def test_context_loaders_plain_entry_wins(dm: DataManager) -> None:
    """A plain ``meta`` entry wins over a loader of the same key."""
    with dm.context({"user": "given"}, loaders={"user": lambda s: "loaded"}, source=None) as ctx:
        assert ctx.meta.user == "given"


def test_context_loaders_must_be_a_mapping(dm: DataManager) -> None:
    """``loaders=`` that is not a mapping is refused, saying what it must be."""
    with pytest.raises(TypeError, match="loaders= must be a mapping of meta keys to callables"):
        dm.context(loaders=[lambda s: s])  # type: ignore[arg-type]


def test_context_loaders_refuse_lazy_meta_values(dm: DataManager) -> None:
    """With ``loaders=``, a lazy ``meta`` value is refused: it belongs in ``loaders=``."""
    with pytest.raises(TypeError, match="put lazy entries in loaders="):
        dm.context({"user": lazy(lambda: "ann")}, loaders={}, source=None)


def test_a_data_manager_builds_one_context_class(dm: DataManager) -> None:
    """Contexts are of the DataManager's own class, with or without ``loaders=``."""
    assert type(dm.context()) is dm.context_class
    assert type(dm.context(loaders={}, source=None)) is dm.context_class


def test_context_loaders_meta_is_built_with_the_context(dm: DataManager) -> None:
    """With ``loaders=`` the context's Meta is there at once; no loader runs before a read."""
    calls: list[object] = []
    loaders = {"path": lambda source: calls.append(source) or source}
    ctx = dm.context({"user": "ann"}, loaders, "/a")
    assert isinstance(ctx.meta, Meta)
    assert ctx.meta is ctx.meta
    assert calls == []
    assert ctx.meta.keys() == ["user", "path"]
    assert (ctx.meta.path, calls) == ("/a", ["/a"])


@pytest.mark.anyio
async def test_sourced_lazy_loader_takes_the_source_sync_and_async() -> None:
    """A ``lazy`` among shared loaders gets the source, in ``get`` and in ``aget``."""

    async def aload(source: str) -> str:
        return f"async {source}"

    loaders = {"user": lazy(lambda source: f"sync {source}", aload)}
    assert sourced_meta(loaders, "ann").user == "sync ann"
    meta = sourced_meta(loaders, "bob")
    assert await meta.aget("user") == "async bob"
    assert meta.user == "async bob"  # cached
    assert list(loaders) == ["user"]  # shared: never changed


def test_sourced_meta_follows_a_changed_loaders_mapping() -> None:
    """Loaders read as attributes follow the mapping: a loader replaced or added is used."""
    loaders: dict[str, Any] = {"user": lambda source: f"first {source}"}
    assert sourced_meta(loaders, "ann").user == "first ann"
    loaders["user"] = lambda source: f"second {source}"
    loaders["team"] = lambda source: f"team of {source}"
    meta = sourced_meta(loaders, "bob")
    assert (meta.user, meta.team) == ("second bob", "team of bob")
    del loaders["team"]
    assert sourced_meta(loaders, "cy").team is None  # a missing key reads as None


def test_sourced_meta_keys_named_like_methods_stay_methods() -> None:
    """A loader named like a Meta method is read with ``get``; the method still works."""
    loaders = {"get": lambda source: f"got {source}", "items": lambda source: [source]}
    meta = sourced_meta(loaders, "ann")
    assert meta.get("get") == "got ann"
    assert dict(meta.items()) == {"get": "got ann", "items": ["ann"]}


def test_sourced_meta_stays_read_only_and_prints_like_any_meta() -> None:
    """A sourced Meta refuses writes and shows its class as other contexts' Metas do."""
    meta = sourced_meta({"user": lambda source: source}, "ann")
    with pytest.raises(AttributeError, match="read-only"):
        meta.user = "bob"  # type: ignore[misc]
    assert meta.user == "ann"
    assert repr(meta).startswith("<_ContextMeta ")
    assert isinstance(meta, Meta)


def test_sourced_meta_with_many_loaders_mappings_still_loads() -> None:
    """Past the mappings that get a class of their own, a Meta still loads its entries."""
    metas = [sourced_meta({"n": lambda source, i=i: i * source}, 2) for i in range(100)]
    assert [meta.n for meta in metas] == [i * 2 for i in range(100)]
    assert [meta.get("n") for meta in metas] == [i * 2 for i in range(100)]


def test_source_loader_is_the_source_itself(dm: DataManager) -> None:
    """A ``SOURCE`` loader reads as the source, in every way a Meta is read."""
    source = object()
    loaders = {"request": SOURCE, "get": SOURCE}
    with dm.context(None, loaders, source) as ctx:
        assert '"request": "SOURCE"' in str(ctx.meta)  # not read yet
        assert ctx.meta.request is source
        assert ctx.meta.get("request") is source
        assert ctx.meta.get("get") is source  # named like a method: read with get
        assert ctx.meta.keys() == ["request", "get"]
    assert sourced_meta(loaders, "other").request == "other"


def test_a_plain_value_wins_over_a_source_loader(dm: DataManager) -> None:
    """A plain ``meta`` entry wins over a ``SOURCE`` loader of the same key too."""
    loaders = {"request": SOURCE, "user": lambda source: f"user of {source}"}
    with dm.context({"request": "given"}, loaders, "req") as ctx:
        assert (ctx.meta.request, ctx.meta.user) == ("given", "user of req")
    with dm.context(None, loaders, "req") as ctx:
        assert ctx.meta.request == "req"  # the same mapping, without the plain entry
    meta = sourced_meta(loaders, "req", {"request": "given"})
    assert (meta.request, meta.user) == ("given", "user of req")


def test_sourced_meta_keys_never_hide_its_source() -> None:
    """A key named like the slot's Python name is a plain key; the loaders still get the source."""
    meta = sourced_meta({"user": lambda source: source}, "ann", {"_source": "given"})
    assert (meta._source, meta.user) == ("given", "ann")


def test_a_copied_sourced_meta_keeps_its_source_and_loaded_values() -> None:
    """``copy.copy`` and ``copy.deepcopy`` of a sourced Meta still load from the same source."""
    calls: list[str] = []
    loaders = {"request": SOURCE, "user": lambda source: calls.append(source) or source.upper()}
    meta = sourced_meta(loaders, "ann", {"team": "blue"})
    assert meta.user == "ANN"
    for copied in (copy.copy(meta), copy.deepcopy(meta)):
        assert (copied.request, copied.user, copied.team) == ("ann", "ANN", "blue")
        assert type(copied) is type(meta)
    assert calls == ["ann"]  # the loaded value was copied, not loaded again
    shadowed = sourced_meta(loaders, "bob", {"request": "given"})
    assert (copy.copy(shadowed).request, copy.copy(shadowed).user) == ("given", "BOB")


def test_source_survives_copy_and_pickle() -> None:
    """``SOURCE`` is one object: copies and unpickled loaders mappings still name it."""
    loaders = copy.deepcopy({"request": SOURCE})
    assert loaders["request"] is SOURCE
    assert pickle.loads(pickle.dumps(SOURCE)) is SOURCE
    assert sourced_meta(loaders, "req").request == "req"


def test_contexts_alternating_two_loaders_mappings_load_from_their_own(dm: DataManager) -> None:
    """One DataManager given two mappings in turn (two plugins, say) loads each from its own."""
    first = {"who": lambda source: f"first {source}"}
    second = {"who": lambda source: f"second {source}", "extra": SOURCE}
    seen = []
    for loaders in (first, second, first, first, second):
        with dm.context(None, loaders, "ann") as ctx:
            seen.append((ctx.meta.who, ctx.meta.extra))
    assert seen == [
        ("first ann", None),
        ("second ann", "ann"),
        ("first ann", None),
        ("first ann", None),
        ("second ann", "ann"),
    ]
