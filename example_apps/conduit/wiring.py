"""Wiring: the DataManager of the Conduit domain and the per-request meta that finds the reader.

``build_data_manager(url, secret)`` registers one resource, ``db`` (a pooled
connection, checked out on first use), one context middleware (the request
is one transaction) and the services, every web app's the same.
"""

from __future__ import annotations

from polydatum import DataManager, lazy
from polydatum.contrib.sqlalchemy import ConnectionResource, TransactionMiddleware

from example_apps.engines import make_engine, temporary_engine

from .schema import create_schema
from .security import ConfigurationError, Tokens
from .services import Articles, Comments, ConduitContext, ConduitDal, Profiles, Tags, Users

__all__ = ["DIALECTS", "build_data_manager", "prepare_database", "user_meta"]

#: The databases Conduit's statements are written for.
DIALECTS = ("sqlite", "postgresql")


def build_data_manager(
    url: str, secret: str, pool_size: int | None = None
) -> DataManager[ConduitDal, ConduitContext]:
    """Return the DataManager of the Conduit domain on ``url``, signing tokens with ``secret``.

    Raises:
        ConfigurationError: ``url`` is not SQLite or PostgreSQL, or ``secret`` is too short.
    """
    engine = make_engine(url, pool_size)
    if engine.dialect.name not in DIALECTS:
        raise ConfigurationError(
            f"Conduit runs on SQLite or PostgreSQL; {engine.dialect.name} was given "
            "($DATABASE_URL / --database-url)."
        )
    dm = DataManager(dal_class=ConduitDal, context_class=ConduitContext)
    dm.register_resources(db=ConnectionResource(engine))
    dm.register_context_middleware(TransactionMiddleware("db"))
    dm.register_services(
        users=Users(Tokens(secret)),
        profiles=Profiles(),
        articles=Articles(),
        comments=Comments(),
        tags=Tags(),
    )
    return dm


def user_meta(dal: ConduitDal, authorization: str | None) -> dict[str, lazy]:
    """Return a request's meta: ``user``, loaded from its token when a service first reads it.

    The user is looked up on the request's connection, in its transaction; a
    request whose services never read ``meta.user`` never decodes its token.
    """
    return {"user": lazy(lambda: dal.users.authenticate(authorization))}


def prepare_database(url: str) -> None:
    """Create the tables that do not exist yet."""
    with temporary_engine(url) as engine:
        create_schema(engine)
