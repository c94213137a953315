"""Redis, the database and unique queue names for the Celery tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from tests.core._sql_backends import POSTGRES_URL_ENV, schema

#: A redis database of these tests' own; they delete only keys under their queue names.
REDIS_URL = os.environ.get("POLYDATUM_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
REQUIRE_REDIS_ENV = "POLYDATUM_REQUIRE_REDIS"


def redis_url(url: str = REDIS_URL) -> str:
    """Return the broker ``url``; skip (or fail, when required) when redis does not answer."""
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if os.environ.get(REQUIRE_REDIS_ENV) == "1":
            pytest.fail(f"{REQUIRE_REDIS_ENV}=1 but redis at {url} does not answer: {exc}")
        pytest.skip(f"redis at {url} does not answer: {exc}")
    return url


def unique_queue() -> str:
    """Return a queue name no other test run uses."""
    return f"pd-celery-{uuid.uuid4().hex[:10]}"


def forget_queue(queue: str, url: str = REDIS_URL) -> None:
    """Delete the redis keys of ``queue`` (the queue, its bindings and the probes' counters)."""
    client = redis.Redis.from_url(url)
    keys = [*client.scan_iter(f"{queue}*"), *client.scan_iter(f"_kombu.binding*.{queue}")]
    if keys:
        client.delete(*keys)
    client.close()


def database(folder: Path, prefix: str = "pd_celery") -> Iterator[str]:
    """Yield a database URL with fresh ``<prefix>_parent``/``_child`` tables (PostgreSQL if set)."""
    pg = os.environ.get(POSTGRES_URL_ENV)
    if pg:
        url = "postgresql+psycopg://" + pg.split("://", 1)[1]
    else:
        url = f"sqlite+pysqlite:///{folder / 'celery.db'}"
    engine = create_engine(url)
    create, drop = schema(prefix)
    with engine.begin() as conn:
        for statement in [*drop, *create]:
            conn.execute(text(statement))
    yield url
    with engine.begin() as conn:
        for statement in drop:
            conn.execute(text(statement))
    engine.dispose()


def count_rows(url: str, table: str) -> int:
    """Count the committed rows of ``table`` on a connection of its own."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(text(f"SELECT count(*) FROM {table}")) or 0)
    finally:
        engine.dispose()


__all__ = ["count_rows", "database", "forget_queue", "redis_url", "unique_queue"]
