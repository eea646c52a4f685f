"""Dependencies go away under a running worker. The database (PostgreSQL refusing connections,
its sessions terminated): the worker pauses without acknowledging anything, says so on /readyz,
keeps the batch from being redelivered elsewhere, and decides everything exactly once by itself
when the database is back. NATS (a server of the test's own, stopped and started again): the
worker reports it, reconnects, takes its partitions again and goes on."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from conftest import service_unavailable
from fixtures import free_port, make_event
from lendguard.app import Services, build_services
from lendguard.config import Settings
from lendguard.stream.partitions import consumer_name, events_subject, partition_of, stream_name
from stream.conftest import (
    PARTITIONS,
    connect,
    decision_rows,
    eventually,
    publish,
    running_worker,
    stream_messages,
    stream_settings,
)

OUTAGE_ACK_WAIT_S = 3.0


@pytest.fixture
def settings(nats_url: str, stream_database: str, stream_prefix: str) -> Settings:
    # A longer AckWait than the other tests: the worker extends it every third of it, and a
    # loaded machine must not delay that past the deadline while the test watches.
    return stream_settings(
        nats_url,
        stream_database,
        stream_prefix,
        state_backend="shared",
        worker_ack_wait_s=OUTAGE_ACK_WAIT_S,
    )


def set_reachable(database_url: str, reachable: bool) -> None:
    """Let the database take connections again, or refuse them and end every session on it
    (what a failed-over or stopped server looks like to the worker)."""
    url = make_url(database_url)
    name = url.database
    admin = create_engine(
        url.set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as conn:
            conn.execute(
                text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(reachable).lower()}')
            )
            if not reachable:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
    finally:
        admin.dispose()


@pytest.mark.postgres
def test_the_worker_pauses_while_the_database_is_away_and_resumes_by_itself(
    settings: Settings, services: Services, nats_url: str, stream_database: str
) -> None:
    first = make_event(customer_id="cust-outage-0")
    during = [make_event(customer_id=f"cust-outage-{i % 3}") for i in range(6)]

    async def consumer_totals() -> tuple[int, int, int]:
        """(waiting, unacknowledged, redelivered) over every partition."""
        nc, js = await connect(nats_url)
        try:
            totals = [0, 0, 0]
            for partition in range(PARTITIONS):
                info = await js.consumer_info(
                    stream_name(settings.stream_prefix, "events"),
                    consumer_name(settings.stream_prefix, partition),
                )
                totals[0] += info.num_pending or 0
                totals[1] += info.num_ack_pending or 0
                totals[2] += info.num_redelivered or 0
            return totals[0], totals[1], totals[2]
        finally:
            await nc.close()

    async def scenario() -> None:
        nc, js = await connect(nats_url)

        def subject(event: dict[str, str]) -> str:
            return events_subject(
                settings.stream_prefix, partition_of(event["customer_id"], PARTITIONS)
            )

        try:
            async with running_worker(settings, services) as worker:
                await publish(js, subject(first), first, first["event_id"])

                async def first_done() -> bool:
                    return worker.stats.decided == 1

                await eventually(first_done, "the first event to be decided")

                set_reachable(stream_database, False)
                for event in during:
                    await publish(js, subject(event), event, event["event_id"])

                async def paused() -> bool:
                    return bool(worker.stats.paused)

                await eventually(paused, "the worker to pause")
                ready, body = await worker.readiness()
                assert not ready
                assert body["paused"] is True
                assert body["checks"]["database"].startswith("error: ")
                assert body["checks"]["nats"] == "ok"
                # Held past two AckWaits: still not acknowledged, and not redelivered (the
                # worker keeps the batch in progress instead of letting it go elsewhere).
                await asyncio.sleep(OUTAGE_ACK_WAIT_S * 2)
                waiting, unacknowledged, redelivered = await consumer_totals()
                assert worker.stats.decided == 1
                assert waiting + unacknowledged == len(during)
                assert unacknowledged > 0
                assert redelivered == 0

                set_reachable(stream_database, True)

                async def all_done() -> bool:
                    return worker.stats.decided == 1 + len(during)

                await eventually(all_done, "the worker to resume by itself")
                ready, body = await worker.readiness()
                assert ready, body
                assert body["paused"] is False
                assert await consumer_totals() == (0, 0, 0)
            decisions = await stream_messages(js, settings.stream_prefix, "decisions")
        finally:
            await nc.close()
            set_reachable(stream_database, True)
        everything = [first, *during]
        assert decision_rows(services) == {e["event_id"]: 1 for e in everything}
        assert sorted(h["Nats-Msg-Id"] for h, _ in decisions) == sorted(
            e["event_id"] for e in everything
        )

    asyncio.run(scenario())


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[NatsServer]:
    """A NATS server of this test's own (it is stopped and started again), on a free port."""
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    if not Path(binary).exists():
        service_unavailable("nats-server is not installed: the NATS outage test needs its own")
    server = NatsServer(binary, free_port(), tmp_path / "jetstream")
    server.start()
    try:
        yield server
    finally:
        server.stop()


class NatsServer:
    def __init__(self, binary: str, port: int, store: Path) -> None:
        self.binary, self.port, self.store = binary, port, store
        self.url = f"nats://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.1),
            ):
                return
            time.sleep(0.05)
        pytest.fail("the private NATS server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def test_the_worker_rides_out_a_nats_outage(
    private_nats: NatsServer, sqlite_url: str, stream_prefix: str
) -> None:
    settings = stream_settings(private_nats.url, sqlite_url, stream_prefix)
    services = build_services(settings, migrate=False)
    before = [make_event(customer_id=f"cust-nats-{i}") for i in range(4)]
    after = [make_event(customer_id=f"cust-nats-{i}") for i in range(4)]

    def subject(event: dict[str, str]) -> str:
        return events_subject(stream_prefix, partition_of(event["customer_id"], PARTITIONS))

    async def publish_all(events: list[dict[str, str]]) -> None:
        nc, js = await connect(private_nats.url)
        try:
            for event in events:
                await publish(js, subject(event), event, event["event_id"])
        finally:
            await nc.close()

    async def scenario() -> list[str]:
        async with running_worker(settings, services) as worker:
            await publish_all(before)

            async def first_done() -> bool:
                return worker.stats.decided == len(before)

            await eventually(first_done, "the first events to be decided")

            private_nats.stop()

            async def noticed() -> bool:
                ready, body = await worker.readiness()
                return not ready and body["checks"]["nats"] != "ok"

            await eventually(noticed, "the worker to report NATS down")
            ready, body = await worker.readiness()
            assert body["checks"]["database"] == "ok"

            private_nats.start()
            await publish_all(after)

            async def all_done() -> bool:
                return worker.stats.decided == len(before) + len(after)

            await eventually(all_done, "the worker to come back by itself")

            async def whole() -> bool:
                ready, _ = await worker.readiness()
                return ready and worker.partitions == list(range(PARTITIONS))

            await eventually(whole, "the worker to hold every partition again")
        nc, js = await connect(private_nats.url)
        try:
            decisions = await stream_messages(js, stream_prefix, "decisions")
        finally:
            await nc.close()
        return sorted(h["Nats-Msg-Id"] for h, _ in decisions)

    try:
        published = asyncio.run(scenario())
        everything = [*before, *after]
        assert decision_rows(services) == {e["event_id"]: 1 for e in everything}
        assert published == sorted(e["event_id"] for e in everything)
    finally:
        services.close()
        services.decisions.db.dispose()
