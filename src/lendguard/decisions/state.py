"""State stores: where window state lives between events.

Two real implementations behind one small interface:

* :class:`MemoryStateStore` (default) keeps states in process and checkpoints changed keys to the
  database every ``checkpoint_every`` events (and on close). Because every accepted event is in
  the ``events`` table with a ``seq``, a restart loads the checkpoint and replays the events after
  it: state is never lost, and the hot path never serialises state.
* :class:`RedisStateStore` keeps each key as one msgpack blob in Redis (30-day TTL), read with
  ``MGET`` and written with a pipelined ``SET`` per event, so several API processes can share it.
  Events of one customer must be processed in order by one worker (the scale-out path partitions
  the stream by customer); shared keys (device, ip, payee) are last-writer-wins per event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from sqlalchemy import Engine, delete, insert, select

from lendguard.decisions.features.state import EntityState
from lendguard.kit.timeutil import LONGEST_WINDOW_S
from lendguard.models import StateCheckpoint, StateSnapshot


class StateStore(Protocol):
    def load(self, keys: Iterable[str]) -> dict[str, EntityState]:
        """States for these keys; a key never seen gets a fresh, empty state."""

    def save(self, states: dict[str, EntityState], seq: int) -> None:
        """Record these states as updated by the event with this ``seq``."""

    def close(self) -> None: ...

    def clear(self) -> None:
        """Forget everything (tests and demo resets)."""


class MemoryStateStore:
    def __init__(self, engine: Engine | None = None, checkpoint_every: int = 5_000) -> None:
        self.engine = engine
        self.checkpoint_every = checkpoint_every
        self.states: dict[str, EntityState] = {}
        self.dirty: set[str] = set()
        self.seq = 0
        self.checkpoint_seq = 0
        # The highest label id whose effect the in-memory states include.
        self.label_id = 0

    def load(self, keys: Iterable[str]) -> dict[str, EntityState]:
        out: dict[str, EntityState] = {}
        states = self.states
        for key in keys:
            state = states.get(key)
            if state is None:
                state = states[key] = EntityState()
            out[key] = state
        return out

    def save(self, states: dict[str, EntityState], seq: int) -> None:
        self.dirty.update(states)
        if seq > self.seq:
            self.seq = seq

    def maybe_checkpoint(self) -> None:
        """Checkpoint when enough events have passed; call only with no decision in flight."""
        if self.engine is not None and self.seq - self.checkpoint_seq >= self.checkpoint_every:
            self.checkpoint()

    def reset_memory(self) -> None:
        """Drop in-memory state (it will be rebuilt from the checkpoint and the event log)."""
        self.states.clear()
        self.dirty.clear()

    def checkpoint(self) -> None:
        """Write changed keys and the seq they are complete up to, in one transaction."""
        if self.engine is None or not self.dirty:
            self.checkpoint_seq = self.seq
            return
        rows = [
            {"key": k, "blob": self.states[k].to_bytes()} for k in self.dirty if k in self.states
        ]
        with self.engine.begin() as conn:
            keys = [r["key"] for r in rows]
            for start in range(0, len(keys), 500):
                conn.execute(
                    delete(StateSnapshot).where(StateSnapshot.key.in_(keys[start : start + 500]))
                )
            if rows:
                conn.execute(insert(StateSnapshot), rows)
            conn.execute(delete(StateCheckpoint))
            conn.execute(
                insert(StateCheckpoint), [{"id": 1, "seq": self.seq, "label_id": self.label_id}]
            )
        self.dirty.clear()
        self.checkpoint_seq = self.seq

    def restore(self, replay: Callable[[int], int]) -> int:
        """Load the checkpoint, then ask ``replay(after_seq)`` to re-apply later events.

        Returns how many events were replayed.
        """
        if self.engine is None:
            return 0
        with self.engine.connect() as conn:
            checkpoint = conn.execute(select(StateCheckpoint.seq, StateCheckpoint.label_id)).first()
            for key, blob in conn.execute(select(StateSnapshot.key, StateSnapshot.blob)):
                self.states[key] = EntityState.from_bytes(blob)
        self.seq = self.checkpoint_seq = int(checkpoint[0]) if checkpoint else 0
        self.label_id = int(checkpoint[1]) if checkpoint else 0
        replayed = replay(self.seq)
        return replayed

    def close(self) -> None:
        self.checkpoint()

    def clear(self) -> None:
        self.states.clear()
        self.dirty.clear()
        self.seq = self.checkpoint_seq = 0
        if self.engine is not None:
            with self.engine.begin() as conn:
                conn.execute(delete(StateSnapshot))
                conn.execute(delete(StateCheckpoint))


class RedisStateStore:
    def __init__(self, url: str, prefix: str = "lendguard:state:") -> None:
        import redis

        # Short timeouts: Redis away is a 503 with Retry-After within seconds, never a hang.
        self.client: Any = redis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=2, health_check_interval=10
        )
        self.prefix = prefix
        self.ttl_s = LONGEST_WINDOW_S + 86_400

    def ping(self) -> bool:
        return bool(self.client.ping())

    def load(self, keys: Iterable[str]) -> dict[str, EntityState]:
        keys = list(keys)
        blobs = self.client.mget([self.prefix + k for k in keys])
        return {
            key: EntityState.from_bytes(blob) if blob is not None else EntityState()
            for key, blob in zip(keys, blobs, strict=True)
        }

    def save(self, states: dict[str, EntityState], seq: int) -> None:
        pipe = self.client.pipeline(transaction=False)
        for key, state in states.items():
            pipe.set(self.prefix + key, state.to_bytes(), ex=self.ttl_s)
        pipe.execute()

    def close(self) -> None:
        self.client.close()

    def clear(self) -> None:
        cursor = 0
        while True:
            cursor, found = self.client.scan(cursor, match=self.prefix + "*", count=1000)
            if found:
                self.client.delete(*found)
            if cursor == 0:
                break
