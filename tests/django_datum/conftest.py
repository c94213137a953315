"""Configure Django for this folder only: other folders' tests run without it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import django
import pytest
from asgiref.sync import sync_to_async

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django_datum.settings")
django.setup()

from django.contrib.auth.models import User  # noqa: E402 - needs django.setup()
from django.test import AsyncClient  # noqa: E402

from tests.django_datum.app import PROBE, Probe, dm  # noqa: E402

POSTGRES_URL = os.environ.get("POLYDATUM_TEST_POSTGRES_URL")
REQUIRE_POSTGRES = os.environ.get("POLYDATUM_REQUIRE_POSTGRES") == "1"


@pytest.fixture(autouse=True)
def probe() -> Iterator[Probe]:
    """A fresh probe for each test; afterwards no context may be left active."""
    PROBE.reset()
    yield PROBE
    assert dm.get_active_context() is None


@pytest.fixture
def postgres() -> str:
    """The PostgreSQL alias; skips without a URL unless PostgreSQL is required."""
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail("POLYDATUM_REQUIRE_POSTGRES=1 but POLYDATUM_TEST_POSTGRES_URL is unset.")
        pytest.skip("POLYDATUM_TEST_POSTGRES_URL is not set.")
    return "pg"


@pytest.fixture
async def logged_in(async_client: AsyncClient) -> AsyncClient:
    """The async client with a session of the user "ada" (a row in the database)."""
    user = await sync_to_async(User.objects.create_user)("ada", password="pw-ada-123")
    await async_client.aforce_login(user)
    return async_client
