"""The fault matrix's services: a fresh PostgreSQL database per run, Redis (which the harness
restarts and flushes) and NATS JetStream.

Each comes from the same variables as the unit suite (``LENDGUARD_TEST_DATABASE_URL``,
``LENDGUARD_TEST_REDIS_URL``) plus ``LENDGUARD_TEST_NATS_URL``; a missing one skips with the
reason, or fails under ``LENDGUARD_REQUIRE_SERVICES=1`` (``make chaos`` in CI).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import redis

from conftest import fresh_postgres_database, service_unavailable


@pytest.fixture
def chaos_database() -> Iterator[str]:
    """A fresh, uniquely named, migrated database for one run; dropped at the end."""
    with fresh_postgres_database("lg_chaos", "the fault matrix needs it") as url:
        yield url


@pytest.fixture
def chaos_redis_url() -> str:
    url = os.environ.get("LENDGUARD_TEST_REDIS_URL")
    if not url:
        service_unavailable("LENDGUARD_TEST_REDIS_URL is not set: the fault matrix needs it")
    assert url is not None
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_unavailable(f"Redis at {url} is unreachable: {exc}")
    finally:
        client.close()
    return url


@pytest.fixture
def chaos_nats_url() -> str:
    url = os.environ.get("LENDGUARD_TEST_NATS_URL")
    if not url:
        service_unavailable("LENDGUARD_TEST_NATS_URL is not set: the fault matrix needs it")
    assert url is not None
    problem = asyncio.run(_jetstream_problem(url))
    if problem is not None:
        service_unavailable(f"NATS JetStream at {url} is unusable: {problem}")
    return url


async def _jetstream_problem(url: str) -> str | None:
    import nats

    async def quiet(_: Exception) -> None:
        """nats-py reports connection errors here as well as raising them."""

    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4222), 2).close()
    except OSError as exc:  # refused at once: nats-py would keep trying until the timeout
        return f"{type(exc).__name__}: {exc}"
    try:
        # (With reconnects allowed, a first connect to a closed port retries for ever.)
        client = await asyncio.wait_for(
            nats.connect(url, connect_timeout=2, allow_reconnect=False, error_cb=quiet), 10
        )
    except Exception as exc:  # nats-py raises several unrelated types for "not there"
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    try:
        await client.jetstream().account_info()
    except Exception as exc:  # JetStream off on this server
        return f"{type(exc).__name__}: {exc}"
    finally:
        await client.close()
    return None
