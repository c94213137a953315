"""starlette_datum: one polydatum data context per Starlette/FastAPI request.

``Middleware(DatumMiddleware, data_manager=dm)``, then ``request.state.dal`` or
``get_dal(request)``; FastAPI apps use ``starlette_datum.fastapi.DAL``.
"""

from __future__ import annotations

from .middleware import DAL_STATE_KEY, REQUEST_SCOPE_KEY, DatumMiddleware, MetaFactory, get_dal

__all__ = ["DAL_STATE_KEY", "REQUEST_SCOPE_KEY", "DatumMiddleware", "MetaFactory", "get_dal"]
