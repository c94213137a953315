"""The type variables of polydatum's generic classes, and their ``Generic``, in one place.

Type checkers read the ``TYPE_CHECKING`` branch: each variable has a bound and
a default (PEP 696), so an app that declares nothing gets ``DataManager`` =
``DataManager[DataAccessLayer, DataAccessContext]``, whose DAL and contexts
read any name as ``Any``, as before.

At run time typing is declarations, never work on the per-request path: the
variables are plain TypeVars, and ``Generic[...]`` adds no base class (a class
with ``typing.Generic`` among its bases costs a few instructions more to build
and to set attributes on, which contexts do on every request). The generic
classes take ``__class_getitem__ = classmethod(GenericAlias)`` instead, so
``Context[Dal, User]`` works in a base class list as it does for ``list[int]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["CA", "C", "D", "Generic", "T", "U"]

if TYPE_CHECKING:
    from typing import Any, Generic

    from typing_extensions import TypeVar

    from .context import Context, DataAccessContext
    from .dal import DataAccessLayer, Layer

    #: The app's DAL: a ``Layer`` subclass declaring its services.
    D = TypeVar("D", bound=Layer, default=DataAccessLayer)
    #: The type of ``meta.user``.
    U = TypeVar("U", default=Any)
    #: The app's context: a ``Context`` subclass declaring its resources.
    C = TypeVar("C", bound=Context[Any, Any], default=DataAccessContext[D, Any])
    #: The same, for type aliases (where no ``D`` is in scope).
    CA = TypeVar("CA", bound=Context[Any, Any], default=DataAccessContext[DataAccessLayer, Any])
    #: A value of any type.
    T = TypeVar("T")
else:
    from typing import TypeVar

    class _NoBase:
        """What ``Generic[...]`` gives at run time: no base class at all (PEP 560)."""

        __slots__ = ()

        def __mro_entries__(self, bases: tuple[object, ...]) -> tuple[()]:
            return ()

    class _GenericShim:
        """``Generic[...]`` for type checkers only: classes get ``__class_getitem__``."""

        __slots__ = ()

        def __getitem__(self, params: object) -> _NoBase:
            return _NoBase()

    Generic = _GenericShim()

    D = TypeVar("D")
    U = TypeVar("U")
    C = TypeVar("C")
    CA = TypeVar("CA")
    T = TypeVar("T")
