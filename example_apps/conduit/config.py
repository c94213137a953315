"""This process's Conduit DataManager, from the environment (every web app calls it once).

``$DATABASE_URL`` (default ``sqlite:///conduit.sqlite3``), ``$DATABASE_POOL_SIZE``
and ``$CONDUIT_SECRET_KEY`` (required: the apps refuse to start without it;
``python -m example_apps --app conduit --demo`` makes a throwaway one). The
tables are created here, on start, if they do not exist.
"""

from __future__ import annotations

from functools import cache

from polydatum import DataManager

from example_apps import config as shared

from .security import secret_key
from .services import ConduitContext, ConduitDal
from .wiring import build_data_manager, prepare_database

__all__ = ["DEFAULT_DATABASE_URL", "data_manager", "database_url"]

#: A SQLite file in the working directory.
DEFAULT_DATABASE_URL = "sqlite:///conduit.sqlite3"


def database_url() -> str:
    """Return ``$DATABASE_URL``, or Conduit's SQLite default."""
    return shared.database_url(DEFAULT_DATABASE_URL)


@cache
def data_manager() -> DataManager[ConduitDal, ConduitContext]:
    """Return this process's DataManager; create the tables first if needed.

    Raises:
        ConfigurationError: ``$CONDUIT_SECRET_KEY`` is missing or too short.
    """
    secret = secret_key()  # before anything else: a missing secret fails at once
    url = database_url()
    prepare_database(url)
    dm = build_data_manager(url, secret, shared.database_pool_size())
    return shared.with_test_hooks(dm)
