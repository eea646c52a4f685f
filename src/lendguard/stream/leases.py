"""Partition ownership: each partition is decided by one worker at a time.

Workers agree through a NATS key-value bucket (``<prefix>_leases``) whose entries expire after
the lease TTL (the bucket's maximum age), using compare-and-set on the entry revision:

- ``worker.<id>``: a worker's heartbeat, written every TTL/3. The live workers are the
  heartbeats that have not expired.
- ``partition.<n>``: the id of the worker holding partition *n*. Taken with ``create`` (only if
  absent), renewed with ``update(last=revision)`` every TTL/3 (fails if anyone else wrote it),
  released with ``delete(last=revision)``.

A worker holds at most its fair share, ``ceil(partitions / live workers)``: it takes free
partitions up to it and releases the extras when more workers join (after finishing the batch
in hand). A worker killed with ``-9`` stops renewing; its entries expire after the TTL and the
others take its partitions.

A lease is trusted locally only until ``renewed_at + 2/3 TTL`` (the time the successful renewal
was *sent*): a worker that cannot renew (NATS away, the process paused) stops fetching a third
of a TTL before the entry can expire and be taken, so two workers never fetch one partition
at once unless a process is paused for longer than that between its check and its fetch.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from nats.js.api import KeyValueConfig, StorageType
from nats.js.client import JetStreamContext
from nats.js.errors import BucketNotFoundError, KeyWrongLastSequenceError, NoKeysError
from nats.js.kv import KeyValue

from lendguard.stream.partitions import leases_bucket

log = structlog.get_logger(__name__)

WORKER_KEY = "worker."
PARTITION_KEY = "partition."


async def leases_kv(js: JetStreamContext, prefix: str, ttl_s: float) -> KeyValue:
    """The lease bucket, created on first use (every worker passes the same TTL)."""
    bucket = leases_bucket(prefix)
    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        return await js.create_key_value(
            KeyValueConfig(bucket=bucket, ttl=ttl_s, history=1, storage=StorageType.FILE)
        )


@dataclass
class Lease:
    partition: int
    revision: int
    # Monotonic time until which this worker may fetch from the partition.
    valid_until: float


@dataclass
class LeaseChanges:
    """What one round of :meth:`PartitionLeases.tick` decided."""

    taken: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    # Partitions over the fair share: the worker stops them, then calls ``release``.
    surplus: list[int] = field(default_factory=list)
    live_workers: int = 1


class PartitionLeases:
    """One worker's view of the lease bucket (see the module doc)."""

    def __init__(
        self,
        kv: KeyValue,
        worker_id: str,
        partitions: int,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kv = kv
        self.worker_id = worker_id
        self.partitions = partitions
        self.ttl_s = ttl_s
        self.clock = clock
        self.owned: dict[int, Lease] = {}
        # Where this worker starts looking for free partitions: workers starting together
        # try different ones first instead of racing for partition 0.
        self._start = zlib.crc32(worker_id.encode()) % partitions

    @property
    def renew_every_s(self) -> float:
        return self.ttl_s / 3

    def held(self, partition: int) -> bool:
        """Whether this worker may fetch from the partition now."""
        lease = self.owned.get(partition)
        return lease is not None and self.clock() < lease.valid_until

    def _valid_until(self, sent_at: float) -> float:
        return sent_at + self.ttl_s * 2 / 3

    async def tick(self) -> LeaseChanges:
        """Heartbeat, renew every lease, then take free partitions up to the fair share or name
        the surplus. Raises the NATS error when the bucket cannot be reached (leases then lapse
        locally, see :meth:`held`)."""
        changes = LeaseChanges()
        await self.kv.put(f"{WORKER_KEY}{self.worker_id}", self.worker_id.encode())
        for partition, lease in list(self.owned.items()):
            sent_at = self.clock()
            try:
                revision = await self.kv.update(
                    f"{PARTITION_KEY}{partition}", self.worker_id.encode(), last=lease.revision
                )
            except KeyWrongLastSequenceError:
                # Expired and taken (or deleted) meanwhile: it is not ours any more.
                del self.owned[partition]
                changes.lost.append(partition)
                log.warning("stream.lease_lost", partition=partition, worker=self.worker_id)
                continue
            lease.revision = revision
            lease.valid_until = self._valid_until(sent_at)
        keys = await self._keys()
        live = max(1, sum(1 for k in keys if k.startswith(WORKER_KEY)))
        changes.live_workers = live
        share = math.ceil(self.partitions / live)
        taken_by_others = {
            int(k[len(PARTITION_KEY) :])
            for k in keys
            if k.startswith(PARTITION_KEY) and int(k[len(PARTITION_KEY) :]) not in self.owned
        }
        if len(self.owned) > share:
            changes.surplus = sorted(self.owned)[share:]
            return changes
        for offset in range(self.partitions):
            if len(self.owned) >= share:
                break
            partition = (self._start + offset) % self.partitions
            if partition in self.owned or partition in taken_by_others:
                continue
            sent_at = self.clock()
            try:
                revision = await self.kv.create(
                    f"{PARTITION_KEY}{partition}", self.worker_id.encode()
                )
            except KeyWrongLastSequenceError:
                continue  # another worker was quicker
            self.owned[partition] = Lease(partition, revision, self._valid_until(sent_at))
            changes.taken.append(partition)
        return changes

    async def live_workers(self) -> list[str]:
        """The workers whose heartbeat has not expired (this one's, once it has ticked)."""
        return [k[len(WORKER_KEY) :] for k in await self._keys() if k.startswith(WORKER_KEY)]

    async def _keys(self) -> list[str]:
        try:
            return list(await self.kv.keys())
        except NoKeysError:
            return []

    async def release(self, partition: int) -> None:
        """Give a partition back (its loop has stopped): another worker may take it at once."""
        lease = self.owned.pop(partition, None)
        if lease is None:
            return
        try:
            await self.kv.delete(f"{PARTITION_KEY}{partition}", last=lease.revision)
        except KeyWrongLastSequenceError:
            pass  # already expired or taken: nothing to give back

    async def release_all(self) -> None:
        """On shutdown: every partition and the heartbeat, so others take over without
        waiting for the TTL."""
        for partition in list(self.owned):
            await self.release(partition)
        try:
            await self.kv.delete(f"{WORKER_KEY}{self.worker_id}")
        except KeyWrongLastSequenceError:
            pass

    def drop_all(self) -> None:
        """Forget every lease locally (the connection is gone: they will expire)."""
        self.owned.clear()
