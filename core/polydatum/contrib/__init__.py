"""Ready-made pieces for common backends; each module needs its own extra.

``polydatum.contrib.sqlalchemy`` (extra ``sqlalchemy``): per-context SQLAlchemy
connections or sessions and a middleware that makes each context one transaction.

``polydatum.contrib.celery`` (extra ``celery``): a base task class that runs each
Celery task in a context of its own, on behalf of the user who sent it.

``polydatum.contrib.opentelemetry`` (extra ``opentelemetry``): a span per data
context, ended after the commit, and spans for resources and service calls.
"""

from __future__ import annotations

__all__: list[str] = []
