"""What both soak apps share: the DataManager over PostgreSQL and its counters.

Configured by environment variables, since the apps run in server processes:
``SOAK_DB_URL`` (a SQLAlchemy URL carrying the ``application_name`` the test
looks for in ``pg_stat_activity``) and ``SOAK_TABLE``.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from polydatum import DataManager, NotFound, Service
from polydatum.testing import ResourceTracker
from sqlalchemy import text

TABLE = os.environ.get("SOAK_TABLE", "soak_notes")
#: Requests with ``?fail=1`` write, then fail: the write must be rolled back.
FAIL_PARAM = "fail"


class Notes(Service):
    """Writes one row per request; fails after writing when asked."""

    def add(self, who: str, fail: bool) -> int:
        conn = self._ctx.db
        row_id: int = conn.execute(
            text(f"INSERT INTO {TABLE} (who) VALUES (:who) RETURNING id"), {"who": who}
        ).scalar_one()
        if fail:
            raise NotFound(f"rolled back {row_id}")
        return row_id

    async def aadd(self, who: str, fail: bool) -> int:
        conn = await self._ctx.aget("db")
        result = await conn.execute(
            text(f"INSERT INTO {TABLE} (who) VALUES (:who) RETURNING id"), {"who": who}
        )
        row_id: int = result.scalar_one()
        if fail:
            raise NotFound(f"rolled back {row_id}")
        return row_id


class Counters:
    """Contexts opened and closed in this process, and its resources' set-ups and teardowns.

    Create it once the resources are registered: it tracks those.
    """

    def __init__(self, dm: DataManager) -> None:
        self.lock = threading.Lock()
        self.opened = 0
        self.closed = 0
        self.tracker = ResourceTracker(dm).__enter__()
        dm.register_context_middleware(self.count)

    def count(self, ctx: Any) -> Any:
        with self.lock:
            self.opened += 1
        try:
            yield
        finally:
            with self.lock:
                self.closed += 1

    def snapshot(self) -> dict[str, Any]:
        """Counts so far (the request asking for them is one open context)."""
        with self.lock:
            return {
                "opened": self.opened,
                "closed": self.closed,
                "set_up": dict(self.tracker.set_up),
                "torn_down": dict(self.tracker.torn_down),
            }
