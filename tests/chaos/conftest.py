"""The fault matrix's services: a fresh PostgreSQL database per run, Redis (which the harness
restarts and flushes) and NATS JetStream.

Each comes from the same variables as the unit suite (``LENDGUARD_TEST_DATABASE_URL``,
``LENDGUARD_TEST_REDIS_URL``) plus ``LENDGUARD_TEST_NATS_URL``; a missing one skips with the
reason, or fails under ``LENDGUARD_REQUIRE_SERVICES=1`` (``make chaos`` in CI).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import fresh_postgres_database


@pytest.fixture
def chaos_database() -> Iterator[str]:
    """A fresh, uniquely named, migrated database for one run; dropped at the end."""
    with fresh_postgres_database("lg_chaos", "the fault matrix needs it") as url:
        yield url


@pytest.fixture
def chaos_redis_url(redis_server_url: str) -> str:
    """The machine's Redis (the matrix restarts and flushes it: nothing may depend on it)."""
    return redis_server_url


@pytest.fixture
def chaos_nats_url(nats_url: str) -> str:
    """The machine's NATS JetStream (a URL nobody listens on is reported at once)."""
    return nats_url
