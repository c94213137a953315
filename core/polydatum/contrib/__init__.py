"""Ready-made pieces for common backends; each module needs its own extra.

``polydatum.contrib.sqlalchemy`` (extra ``sqlalchemy``): per-context SQLAlchemy
connections or sessions and a middleware that makes each context one transaction.
"""

from __future__ import annotations

__all__: list[str] = []
