"""State stores: where window state lives between events.

Two real implementations behind one small interface:

* :class:`MemoryStateStore` (default) keeps states in process and checkpoints changed keys to the
  database every ``checkpoint_every`` events (and on close). Because every accepted event is in
  the ``events`` table with a ``seq``, a restart loads the checkpoint and replays the events after
  it: state is never lost, and the hot path never serialises state.
* :class:`SharedStateStore` keeps each key as one row of ``entity_states``, locked and written
  in the decision's own transaction, so any number of API processes and stream workers share
  one exact state (see its docstring).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update

from lendguard.decisions.features.state import EntityState
from lendguard.models import SharedEntityState, StateCheckpoint, StateSnapshot


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


class SharedStateStore:
    """Window state in the database, shared by every API process and stream worker.

    Exact by locking, not by retrying: the decider opens one transaction per group of events,
    :meth:`lock` creates the missing rows and takes every row the group touches with
    ``SELECT ... FOR UPDATE`` in key order (so two processes never deadlock on each other, and
    a process waits only for the transactions that touch the same keys), decides on the states
    it read, writes the events, the decisions and the new states (:meth:`write`), and commits.
    Two events that share a key are therefore decided one after the other, in the order of
    their ``seq`` in the log, on the state the earlier one left: a single-process replay of the
    log in ``seq`` order gives the same states and decisions.

    The table is not a cache: it is written in the same transaction as the decision log, so
    nothing is ever rebuilt from elsewhere and a crash loses nothing. (Redis in front of it was
    measured and dropped: reading the row under its lock costs the same round trip as checking
    a cached copy's version, and the cache had to be rebuilt from the log after a flush.)
    On SQLite the same statements run without ``FOR UPDATE``: the first ``INSERT`` takes the
    database's single write lock, which serialises whole groups instead of keys.
    """

    transactional = True

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._empty = EntityState().to_bytes()
        self._postgres = engine.dialect.name == "postgresql"

    def _insert_missing(self, conn: Connection, keys: list[str]) -> None:
        rows = [{"key": key, "seq": 0, "blob": self._empty} for key in keys]
        if self._postgres:
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            conn.execute(pg_insert(SharedEntityState).on_conflict_do_nothing(), rows)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            conn.execute(sqlite_insert(SharedEntityState).on_conflict_do_nothing(), rows)

    def lock(self, conn: Connection, keys: Iterable[str]) -> dict[str, EntityState]:
        """Inside the caller's transaction: lock these keys' rows (creating empty ones) and
        return their states. Held until the caller commits or rolls back."""
        ordered = sorted(set(keys))
        if not ordered:
            return {}
        states: dict[str, EntityState] = {}
        for start in range(0, len(ordered), 1_000):
            chunk = ordered[start : start + 1_000]
            # One statement per chunk, rows in key order: every process locks in the same
            # order, so none waits for another that waits for it.
            self._insert_missing(conn, chunk)
            query = (
                select(SharedEntityState.key, SharedEntityState.blob)
                .where(SharedEntityState.key.in_(chunk))
                .order_by(SharedEntityState.key)
                .with_for_update()
            )
            for key, blob in conn.execute(query):
                states[key] = EntityState.from_bytes(blob)
        return states

    def write(
        self, conn: Connection, states: dict[str, EntityState], seq: int | None = None
    ) -> None:
        """Inside the caller's transaction, on rows it locked: store the new states (``seq``:
        the highest event folded in; None for a change that is not an event, a label)."""
        if not states:
            return
        values: dict[str, Any] = {"blob": bindparam("state_blob")}
        if seq is not None:
            values["seq"] = bindparam("state_seq")
        conn.execute(
            update(SharedEntityState)
            .where(SharedEntityState.key == bindparam("state_key"))
            .values(**values),
            [
                {"state_key": key, "state_seq": seq, "state_blob": state.to_bytes()}
                for key, state in states.items()
            ],
        )

    def load(self, keys: Iterable[str]) -> dict[str, EntityState]:
        """A read without locks (what a key holds now; tools and read paths only)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, EntityState] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 1_000):
                chunk = wanted[start : start + 1_000]
                query = select(SharedEntityState.key, SharedEntityState.blob).where(
                    SharedEntityState.key.in_(chunk)
                )
                for key, blob in conn.execute(query):
                    found[key] = EntityState.from_bytes(blob)
        return {key: found.get(key) or EntityState() for key in wanted}

    def save(self, states: dict[str, EntityState], seq: int) -> None:
        """Never called: the decider writes shared state inside its own transaction."""
        raise TypeError("SharedStateStore is written with write() inside a transaction")

    def close(self) -> None:
        """Nothing to release: the decider owns the connections."""

    def clear(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(SharedEntityState))
