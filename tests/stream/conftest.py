"""Stream worker tests run against the real NATS JetStream (``LENDGUARD_TEST_NATS_URL``) and,
for outages and several workers, a PostgreSQL database of their own
(``LENDGUARD_TEST_DATABASE_URL``); a missing service skips with the reason, or fails under
``LENDGUARD_REQUIRE_SERVICES=1``.

Every test gets its own ``stream_prefix`` (so its streams, consumers and lease bucket are its
own) and they are deleted afterwards. AckWait, the lease TTL and the fetch timeout are short so
the whole folder runs in well under a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import orjson
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy import text

from conftest import fresh_postgres_database
from lendguard.app import Services, build_services
from lendguard.config import Settings
from lendguard.stream.partitions import leases_bucket, stream_name
from lendguard.stream.streams import delete_streams, ensure_streams
from lendguard.stream.tools import connect_once
from lendguard.stream.worker import StreamWorker

# Short enough for a quick suite, long enough for a loaded 2-core machine.
ACK_WAIT_S = 2.0
LEASE_TTL_S = 3.0
PARTITIONS = 4
# How long a test waits for something the worker does before it fails.
PATIENCE_S = 30.0


@pytest.fixture
def stream_prefix(nats_url: str) -> Iterator[str]:
    """A prefix of this test's own; its streams and lease bucket are deleted afterwards."""
    prefix = f"t{secrets.token_hex(5)}"
    yield prefix

    async def clean() -> None:
        nc = await connect_once(nats_url, "lendguard-test")
        try:
            js = nc.jetstream()
            await delete_streams(js, prefix)
            with contextlib.suppress(NotFoundError):
                await js.delete_key_value(leases_bucket(prefix))
        finally:
            await nc.close()

    asyncio.run(clean())


@pytest.fixture
def stream_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test alone (the outage test makes it
    unavailable); dropped afterwards."""
    with fresh_postgres_database("lg_stream") as url:
        yield url


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    """The services a worker decides with, on the test module's ``settings`` fixture."""
    built = build_services(settings, migrate=False)
    try:
        yield built
    finally:
        built.close()
        built.decisions.db.dispose()


def stream_settings(nats_url: str, database_url: str, prefix: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "nats_url": nats_url,
        "stream_prefix": prefix,
        "stream_partitions": PARTITIONS,
        "worker_ack_wait_s": ACK_WAIT_S,
        "worker_max_deliver": 5,
        "worker_batch": 20,
        "log_level": "WARNING",
        **overrides,
    }
    return Settings(_env_file=None, **values)


async def connect(url: str) -> tuple[NatsClient, JetStreamContext]:
    nc = await connect_once(url, "lendguard-test")
    return nc, nc.jetstream()


async def publish(
    js: JetStreamContext, subject: str, payload: bytes | dict[str, Any], msg_id: str | None
) -> None:
    data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    await js.publish(subject, data, headers={"Nats-Msg-Id": msg_id} if msg_id else None)


async def stream_messages(
    js: JetStreamContext, prefix: str, kind: str
) -> list[tuple[dict[str, str], Any]]:
    """Every message of a stream, in order: (headers, parsed JSON body)."""
    name = stream_name(prefix, kind)
    info = await js.stream_info(name)
    found: list[tuple[dict[str, str], Any]] = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        if info.state.messages == 0:
            break
        try:
            msg = await js.get_msg(name, seq)
        except NotFoundError:
            continue
        found.append((dict(msg.headers or {}), orjson.loads(msg.data or b"null")))
    return found


async def eventually(
    probe: Callable[[], Awaitable[bool]], what: str, patience_s: float = PATIENCE_S
) -> None:
    """Wait until ``probe()`` is true; fail with ``what`` after ``patience_s`` (a bound on the
    wait only: what the test asserts never depends on the clock)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience_s
    while not await probe():
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def running_worker(
    settings: Settings, services: Services, worker_id: str = "w-test", **options: Any
) -> AsyncIterator[StreamWorker]:
    """A worker deciding in this event loop (its streams created first), stopped at the end."""

    def database_check() -> None:
        with services.decisions.db.connect() as conn:
            conn.execute(text("SELECT 1"))

    worker = StreamWorker(
        settings,
        options.pop("decisions", services.decisions),
        worker_id=worker_id,
        lease_ttl_s=options.pop("lease_ttl_s", LEASE_TTL_S),
        fetch_timeout_s=options.pop("fetch_timeout_s", 0.3),
        database_check=database_check,
        **options,
    )
    js = await worker.connect()
    await ensure_streams(js, settings)
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(worker.started.wait(), PATIENCE_S)
    try:
        yield worker
    finally:
        worker.stop()
        await asyncio.wait_for(task, PATIENCE_S)


def decision_rows(services: Services) -> dict[str, int]:
    """event_id → how many decision rows it has."""
    with services.decisions.db.connect() as conn:
        rows = conn.execute(
            text("SELECT event_id, count(*) FROM decisions GROUP BY event_id")
        ).all()
    return {str(event_id): int(n) for event_id, n in rows}
