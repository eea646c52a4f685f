"""Partition ownership through the lease bucket: fair shares, hand-over when workers join and
leave, and a lease that stops counting the moment it cannot be renewed (a pinned clock decides
when a lease lapses locally; the bucket's own expiry is not waited for here)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from lendguard.app import Services, build_services
from lendguard.config import Settings
from lendguard.stream.leases import PARTITION_KEY, PartitionLeases, leases_kv
from stream.conftest import PARTITIONS, connect, eventually, running_worker, stream_settings

TTL_S = 30.0  # long: nothing expires in the bucket during these tests


class ManualClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_fair_shares_and_a_stolen_or_unrenewed_lease_stops_counting(
    nats_url: str, stream_prefix: str
) -> None:
    clock = ManualClock()

    async def scenario() -> None:
        nc, js = await connect(nats_url)
        try:
            kv = await leases_kv(js, stream_prefix, TTL_S)
            first = PartitionLeases(kv, "first", PARTITIONS, TTL_S, clock)
            second = PartitionLeases(kv, "second", PARTITIONS, TTL_S, clock)

            alone = await first.tick()
            assert sorted(alone.taken) == list(range(PARTITIONS))
            assert all(first.held(p) for p in range(PARTITIONS))

            # A second worker: nothing is free yet; the first sees two live workers and names
            # its surplus (half), releases it, and the second takes exactly that.
            joined = await second.tick()
            assert (joined.taken, joined.live_workers) == ([], 2)
            crowded = await first.tick()
            assert len(crowded.surplus) == PARTITIONS // 2
            for partition in crowded.surplus:
                await first.release(partition)
            again = await second.tick()
            assert sorted(again.taken) == sorted(crowded.surplus)
            assert set(first.owned).isdisjoint(second.owned)
            assert len(first.owned) + len(second.owned) == PARTITIONS

            # Not renewed for 2/3 of the TTL: the first stops trusting its leases locally
            # (before the bucket could let anyone else have them).
            kept = sorted(first.owned)
            clock.now += TTL_S * 2 / 3
            assert not any(first.held(p) for p in kept)
            renewed = await first.tick()
            assert renewed.lost == []
            assert all(first.held(p) for p in kept)

            # Taken by someone else meanwhile (here: deleted and re-created by the second):
            # the first's renewal fails and the partition is lost at once.
            stolen = kept[0]
            await kv.delete(f"{PARTITION_KEY}{stolen}")
            await kv.create(f"{PARTITION_KEY}{stolen}", b"second")
            after = await first.tick()
            assert after.lost == [stolen]
            assert not first.held(stolen)
        finally:
            await nc.close()

    asyncio.run(scenario())


@pytest.fixture
def services(nats_url: str, sqlite_url: str, stream_prefix: str) -> Iterator[Services]:
    # Shared state (here on the SQLite file): several workers decide on one state.
    built = build_services(
        stream_settings(nats_url, sqlite_url, stream_prefix, state_backend="shared"),
        migrate=False,
    )
    try:
        yield built
    finally:
        built.close()
        built.decisions.db.dispose()


def test_workers_share_partitions_and_a_leaving_worker_hands_them_over(
    nats_url: str, sqlite_url: str, stream_prefix: str, services: Services
) -> None:
    settings: Settings = stream_settings(
        nats_url, sqlite_url, stream_prefix, state_backend="shared"
    )

    async def scenario() -> None:
        async with running_worker(settings, services, worker_id="one", lease_ttl_s=1.5) as one:
            assert one.partitions == list(range(PARTITIONS))
            async with running_worker(settings, services, worker_id="two", lease_ttl_s=1.5) as two:

                async def split() -> bool:
                    return len(one.partitions) == len(two.partitions) == PARTITIONS // 2

                await eventually(split, "the partitions to be split between two workers")
                assert set(one.partitions).isdisjoint(two.partitions)

            # The second stopped cleanly and released its leases: the first takes them back.
            async def whole() -> bool:
                return one.partitions == list(range(PARTITIONS))

            await eventually(whole, "the remaining worker to hold every partition")

    asyncio.run(scenario())
