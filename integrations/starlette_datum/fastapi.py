"""FastAPI dependency for the request's DAL: ``dal: DAL``.

Import this module only in FastAPI apps; the rest of the package needs Starlette alone.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from polydatum import DataAccessLayer
from starlette.requests import HTTPConnection

from .middleware import get_dal

__all__ = ["DAL", "dal_dependency"]


async def dal_dependency(conn: HTTPConnection) -> DataAccessLayer:
    """Return the request's (or WebSocket's) DAL; async, so FastAPI skips the thread pool.

    Raises:
        RuntimeError: ``DatumMiddleware`` is not installed on the app.
    """
    return get_dal(conn)


#: Annotate a path operation's or a dependency's parameter: ``async def f(dal: DAL)``.
DAL = Annotated[DataAccessLayer, Depends(dal_dependency)]
