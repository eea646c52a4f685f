"""State stores: where window state lives between events.

Two real implementations behind one small interface:

* :class:`MemoryStateStore` (default) keeps states in process and checkpoints changed keys to the
  database every ``checkpoint_every`` events (and on close). Because every accepted event is in
  the ``events`` table with a ``seq``, a restart loads the checkpoint and replays the events after
  it: state is never lost, and the hot path never serialises state. Keys that have become
  equivalent to a fresh state are evicted by event time (see the class), so its memory follows
  the keys the last ``RETENTION_S`` of events touched, not every key ever seen.
* :class:`SharedStateStore` keeps each key as one row of ``entity_states``, locked and written
  in the decision's own transaction, so any number of API processes and stream workers share
  one exact state (see its docstring). It evicts too: a decision's transaction now and then
  deletes a slice of rows equivalent to a fresh state that no one else holds.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import structlog
from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update

from lendguard.decisions.features.state import RETENTION_S, EntityState
from lendguard.models import SharedEntityState, StateCheckpoint, StateSnapshot

log = structlog.get_logger()

# Second row of a key in ``state_snapshots`` (entity keys start with a role letter, never "~").
SLOT1_PREFIX = "~1:"
# Blobs stamped with the checkpoint seq they hold the state as of (rows from before stamping
# have no stamp and were written with their checkpoint row: as old as any stamp).
STAMP_MAGIC = b"LGS1"


# Eviction sweep (MemoryStateStore): one slice every SWEEP_EVERY saves, visiting SWEEP_KEYS
# keys plus SWEEP_PER_NEW per key made since the last slice, so a pass over every key ends
# before the keys made meanwhile outnumber the keys it started with (see _sweep). About 1.5 µs
# per event on the 20,000-event workload (under 2 % of engine only).
SWEEP_EVERY = 32
SWEEP_KEYS = 8
SWEEP_PER_NEW = 2
# sys.getrefcount of a state held only by the store's dict, in _sweep's loop (the dict, the
# loop variable, the call's argument): anything more is a caller holding it (a decision in
# flight, a checkpoint), and such a state is not evicted.
_ONLY_THE_STORE = 3
# Shared store: every SHARED_SWEEP_EVERY writes of events, the writing transaction visits the
# next SHARED_SWEEP_ROWS rows (in key order, wrapping around) and deletes the evictable ones.
SHARED_SWEEP_EVERY = 16
SHARED_SWEEP_ROWS = 64


class EvictionClock:
    """The event time that eviction measures a key's idleness against, robust to a stray one.

    A key is evicted when its newest entry is ``RETENTION_S`` behind this time; taken as the
    newest event time ever seen, one event dated years ahead (a lender's clock bug; the
    contract accepts instants up to 2100) would make every device, IP and payee look idle and
    wipe their windows. So each sweep samples the time of the event just saved (the earliest
    of the newest entries of the keys it touched: a key polluted by a future entry is one of
    several) and the clock moves to the median of the last ``SAMPLES`` samples, never back.
    It lags true time by a few sweeps, which only evicts later: always safe."""

    SAMPLES = 5

    def __init__(self) -> None:
        self.now = float("-inf")
        self._recent: deque[float] = deque(maxlen=self.SAMPLES)

    def observe(self, saved: Iterable[EntityState]) -> float:
        sample = min((s.ts[-1] for s in saved if s.ts), default=None)
        if sample is not None:
            recent = self._recent
            recent.append(sample)
            if len(recent) == self.SAMPLES:
                median = sorted(recent)[self.SAMPLES // 2]
                if median > self.now:
                    self.now = median
        return self.now

    def reset(self) -> None:
        self.now = float("-inf")
        self._recent.clear()


# How long the background checkpoint writer sleeps between slices and chunks (yields the GIL
# and the database to decisions).
PAUSE_S = 0.0005


class _Cancelled(Exception):
    """The background checkpoint was dropped while waiting to write (its rows so far are
    stamped after the checkpoint row, so nothing reads them)."""


@contextmanager
def _no_wal_autocheckpoint(conn: Connection) -> Iterator[None]:
    """On SQLite, commits on ``conn`` do not run the WAL checkpoint themselves meanwhile (with
    a long WAL, each of the writer's small commits would copy it back and sync: several ms
    holding the write lock); the decider checkpoints the WAL on a thread of its own."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
    conn.commit()
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={int(before or 1000)}")
        conn.commit()


def _stamp(seq: int, blob: bytes) -> bytes:
    return STAMP_MAGIC + seq.to_bytes(8, "big") + blob


def _unstamp(blob: bytes) -> tuple[int, bytes]:
    if blob[:4] == STAMP_MAGIC:
        return int.from_bytes(blob[4:12], "big"), blob[12:]
    return -1, blob


class WrittenEventIds:
    """The event ids this process has written, as a Bloom filter: "certainly not" or "maybe".

    The idempotency check of the single-owner mode (memory state): an event whose id is
    certainly new is decided without reading the log; only a "maybe" (a resend, or a false
    positive) pays the ``SELECT`` of the stored body hash, as every event did before. It is
    rebuilt from the log at start and after every rebuild (the decider reads every event then
    anyway, for the link graph). An id written by another process is not in it: that event's
    insert fails on the log's unique ``event_id``, the decider rebuilds from the log, and the
    resend finds it.

    Memory is bounded by the log, not by a cap: a layer holds ``capacity`` ids at
    ``bits_per_id`` bits each (10 bits, ~1.25 bytes an id, ~0.8 % false positives); a full
    layer is followed by one twice its size with 2 bits more per id (its false-positive rate
    about a third), so ten million ids take ~20 MB and "maybe" stays under ~1.5 % for ids never
    written. (A set of the ids would take ~60 bytes each.) Python's string hash gives the bit
    positions: it is per process, and so is the filter.
    """

    # The first layer's size when the log is (nearly) empty.
    MIN_CAPACITY = 1 << 16
    BITS_PER_ID = 10
    # A layer never exceeds 2**32 bits (positions come from two 32-bit halves of one hash).
    MAX_LAYER_BITS = 1 << 32

    def __init__(self, expected: int = 0) -> None:
        # Per layer: bits, mask (bit count - 1), hashes, capacity; the last one takes adds.
        self._layers: list[tuple[bytearray, int, int, int]] = []
        self._count = 0
        self._bits_per_id = self.BITS_PER_ID
        self._add_layer(max(self.MIN_CAPACITY, 2 * expected))

    def _add_layer(self, capacity: int) -> None:
        bits = 1 << max(6, (capacity * self._bits_per_id - 1).bit_length())
        bits = min(bits, self.MAX_LAYER_BITS)
        hashes = max(1, round(self._bits_per_id * 0.693))
        self._layers.append((bytearray(bits >> 3), bits - 1, hashes, bits // self._bits_per_id))
        self._count = 0
        self._bits_per_id += 2

    def add(self, event_id: str) -> None:
        bits, mask, hashes, capacity = self._layers[-1]
        if self._count >= capacity:
            self._add_layer(2 * capacity)
            bits, mask, hashes, capacity = self._layers[-1]
        self._count += 1
        h = hash(event_id)
        low, step = h & 0xFFFFFFFF, ((h >> 32) & 0xFFFFFFFF) | 1
        for i in range(hashes):
            position = (low + i * step) & mask
            bits[position >> 3] |= 1 << (position & 7)

    def __contains__(self, event_id: str) -> bool:
        h = hash(event_id)
        low, step = h & 0xFFFFFFFF, ((h >> 32) & 0xFFFFFFFF) | 1
        for bits, mask, hashes, _ in self._layers:
            for i in range(hashes):
                position = (low + i * step) & mask
                if not bits[position >> 3] & (1 << (position & 7)):
                    break
            else:
                return True
        return False

    @property
    def nbytes(self) -> int:
        """Memory held by the bit arrays."""
        return sum(len(layer[0]) for layer in self._layers)


class StateStore(Protocol):
    def load(self, keys: Iterable[str]) -> dict[str, EntityState]:
        """States for these keys; a key never seen gets a fresh, empty state."""

    def save(self, states: dict[str, EntityState], seq: int) -> None:
        """Record these states as updated by the event with this ``seq``."""

    def close(self) -> None: ...

    def clear(self) -> None:
        """Forget everything (tests and demo resets)."""


class MemoryStateStore:
    """Window state in process, checkpointed to the database without stalling decisions.

    A checkpoint is taken between decisions (:meth:`maybe_checkpoint`, called by the decider
    with its lock held and nothing in flight), but only its cheap part runs there: it notes the
    ``seq`` and ``label_id`` the states are complete up to and takes the set of changed keys as
    ``pending`` (O(1)). A background thread then serialises the pending keys a slice at a time
    and writes the blobs in small transactions, then the checkpoint row, without the decider's
    lock (see :meth:`_write` for why a crash half-way is safe). The blobs stay exactly the
    states as of that ``seq`` by copy-on-write: every path that changes a state gets it
    through :meth:`load` (the decider's loads, labels, replay), and :meth:`load` first
    serialises a requested key that is still pending. A key changed meanwhile is dirty again
    and goes into the next checkpoint. A checkpoint with few changed keys (under
    ``background_from_keys``) is written inline: cheaper than handing it over.

    Keys are evicted once they are equivalent to a fresh state
    (:meth:`~lendguard.decisions.features.state.EntityState.fresh_after`: nothing that
    outlives the windows, every entry older than ``RETENTION_S`` behind the event-time clock,
    :class:`EvictionClock`), so memory follows the keys that the last ``RETENTION_S`` of events
    touched, not every key ever seen. :meth:`save` sweeps a bounded slice of keys every
    ``SWEEP_EVERY`` saves (no pass over every key at once: no stall), by event time only, so
    engine-only, replay, in-process and restarted stores decide alike. The next checkpoint
    deletes the evicted keys' rows (see :meth:`_write`). ``evict=False`` keeps every key (the
    reference the tests compare against).
    """

    # Keys serialised per hold of the store lock by the background writer: a decision that
    # needs a pending key waits for one slice at most (~1-2 ms).
    SLICE_KEYS = 100
    # Rows per write transaction: on SQLite each holds the database's write lock (~1-2 ms),
    # and the writer pauses 4 x PAUSE_S between them so commits mostly find the gate free.
    WRITE_ROWS = 32

    def __init__(
        self,
        engine: Engine | None = None,
        checkpoint_every: int = 5_000,
        background_from_keys: int = 256,
        evict: bool = True,
    ) -> None:
        self.engine = engine
        self.checkpoint_every = checkpoint_every
        self.background_from_keys = background_from_keys
        self.states: dict[str, EntityState] = {}
        self.dirty: set[str] = set()
        self.seq = 0
        self.checkpoint_seq = 0
        # The highest label id whose effect the in-memory states include.
        self.label_id = 0
        # The checkpoint being written in the background: its keys not serialised yet, the
        # blobs serialised so far, every key it covers (dirty again if it fails), the seq of
        # the last checkpoint known written (to retry from if it fails), and whether it was
        # cancelled (the memory it reads was dropped) or failed.
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._blobs: dict[str, bytes] = {}
        self._covered: set[str] = set()
        self._written_seq = 0
        self._cancelled = False
        self._failed = False
        self._writer: threading.Thread | None = None
        # Tests: called with "serialise" on the writer thread before it serialises anything,
        # "write" before it writes, and "checkpoint-row" between the blobs and the checkpoint
        # row (lets a test hold, or fail, a checkpoint half-way).
        self.checkpoint_hook: Callable[[str], None] | None = None
        # Held by the background writer around each of its transactions: the decider's commit
        # lock on SQLite, whose single write lock the writer would otherwise keep winning
        # against a commit polling for it (a decision waits one chunk at most instead).
        self.write_gate: threading.Lock | None = None
        self._waited_for = False
        # Keys whose current checkpointed blob is in slot 1 (see _write).
        self._in_slot1: set[str] = set()
        # Eviction (see _sweep): the event-time clock (EvictionClock), the keys of the current
        # pass not visited yet (from ``_cursor``; keys made during the pass are appended), the
        # keys it kept, saves and keys made since the last slice, the keys evicted since the last
        # checkpoint began (their rows go with the next one; engine only) and the keys the
        # checkpoint being written deletes (evicted again if it fails).
        self.evict = evict
        self.sweep_every = SWEEP_EVERY
        self.clock = EvictionClock()
        self._order: list[str] = []
        self._cursor = 0
        self._kept: list[str] = []
        self._saves = 0
        self._made = 0
        self._evicted: set[str] = set()
        self._gone: set[str] = set()
        self.evicted_total = 0

    def load(self, keys: Iterable[str]) -> dict[str, EntityState]:
        out: dict[str, EntityState] = {}
        states = self.states
        if self._pending:
            keys = list(keys)
            self._copy_before_write(keys)
        for key in keys:
            state = states.get(key)
            if state is None:
                state = states[key] = EntityState()
                self._order.append(key)
                self._made += 1
            out[key] = state
        return out

    def _copy_before_write(self, keys: list[str]) -> None:
        """Serialise any of these keys the checkpoint in progress has not taken yet: the caller
        may change them, and the checkpoint must hold them as they were at its ``seq``."""
        with self._lock:
            pending = self._pending
            for key in keys:
                if key in pending:
                    pending.discard(key)
                    state = self.states.get(key)
                    if state is not None:
                        self._blobs[key] = state.to_bytes()

    def save(self, states: dict[str, EntityState], seq: int) -> None:
        self.dirty.update(states)
        if seq > self.seq:
            self.seq = seq
        self._saves += 1
        if self._saves >= self.sweep_every and self.evict:
            self._sweep(states)

    def _sweep(self, saved: dict[str, EntityState]) -> None:
        """Visit the next slice of keys and evict those equivalent to a fresh state.

        The slice is ``SWEEP_KEYS`` keys plus ``SWEEP_PER_NEW`` per key made since the last one, so
        a pass (every key once, those made meanwhile included) ends before the keys made during it
        outnumber the keys it started with: after a pass, every key whose newest entry was
        ``RETENTION_S`` behind the clock (:class:`EvictionClock`) when the pass began is gone. Keys
        alive are thus at most those that events of the last ``RETENTION_S``, and of one pass (at
        most the keys alive at its start), touched. A state that someone besides the store holds (a
        decision in flight in the decider's overlay, whose save will follow) is left for the next
        pass, and one the checkpoint being written has not serialised yet is serialised first (the
        checkpoint holds every key as of its ``seq``)."""
        newest = self.clock.observe(saved.values())
        budget = SWEEP_KEYS + SWEEP_PER_NEW * self._made
        self._saves = self._made = 0
        order, states, kept = self._order, self.states, self._kept
        cursor = self._cursor
        end = min(len(order), cursor + budget)
        cutoff = newest - RETENTION_S
        victims: list[str] = []
        refcount, get, keep = sys.getrefcount, states.get, kept.append
        for key in order[cursor:end]:
            state = get(key)
            if state is None:
                continue  # (not in the store any more: dropped with the whole memory)
            # EntityState.fresh_after, spelled out (a few hundred thousand visits a minute).
            times = state.ts
            if times and times[-1] > cutoff:
                keep(key)
                continue
            if state.stats or state.known or refcount(state) != _ONLY_THE_STORE:
                keep(key)
            else:
                victims.append(key)
        if end >= len(order):
            self._order, self._kept, self._cursor = kept, [], 0
        else:
            self._cursor = end
        if victims:
            self._drop(victims)

    def _drop(self, keys: list[str]) -> None:
        states = self.states
        if self._writer is not None:
            with self._lock:
                pending = self._pending
                for key in keys:
                    if key in pending:
                        pending.discard(key)
                        self._blobs[key] = states[key].to_bytes()
                    del states[key]
        else:
            for key in keys:
                del states[key]
        self.evicted_total += len(keys)
        if self.engine is not None:
            self._evicted.update(keys)

    def maybe_checkpoint(self) -> None:
        """Start a checkpoint when enough events have passed (and none is being written); call
        only with no decision in flight. Returns at once unless the checkpoint is small."""
        if self.engine is None or self._writer_busy():
            return
        if self.seq - self.checkpoint_seq >= self.checkpoint_every:
            if len(self.dirty) < self.background_from_keys:
                self.checkpoint()
            else:
                self._start_background()

    def _writer_busy(self) -> bool:
        """Whether a background checkpoint is still running; a finished one is collected (a
        failed one's keys are dirty again, and the next call retries)."""
        writer = self._writer
        if writer is None:
            return False
        if writer.is_alive():
            return True
        writer.join()
        self._writer = None
        if self._failed:
            self.dirty |= self._covered
            self._evicted |= self._gone
            self.checkpoint_seq = self._written_seq
        else:
            self._written_seq = self.checkpoint_seq
        self._covered = set()
        self._gone = set()
        self._failed = False
        return False

    def _start_background(self) -> None:
        seq, label_id = self.seq, self.label_id
        keys, self.dirty = self.dirty, set()
        gone, self._evicted = self._evicted, set()
        with self._lock:
            self._pending = set(keys)
            self._blobs = {}
            self._cancelled = self._failed = False
        self._covered = keys
        self._gone = gone
        self.checkpoint_seq = seq
        self._writer = threading.Thread(
            target=self._write_in_background,
            args=(seq, label_id, gone),
            name="lendguard-state-checkpoint",
            daemon=True,
        )
        self._writer.start()

    def _write_in_background(self, seq: int, label_id: int, gone: set[str]) -> None:
        hook = self.checkpoint_hook
        try:
            time.sleep(PAUSE_S)  # hand the GIL straight back to the decider that started us
            if hook is not None:
                hook("serialise")
            while True:
                with self._lock:
                    if self._cancelled:
                        return
                    pending, blobs, states = self._pending, self._blobs, self.states
                    for _ in range(min(self.SLICE_KEYS, len(pending))):
                        key = pending.pop()
                        state = states.get(key)
                        if state is not None:
                            blobs[key] = state.to_bytes()
                    if not pending:
                        self._blobs = {}
                        break
                time.sleep(PAUSE_S)  # a decision waiting for the GIL runs between slices
            if hook is not None:
                hook("write")
            self._write(blobs, seq, label_id, self.write_gate, gone)
        except _Cancelled:
            return
        except Exception:
            # The log has every event: the keys are dirty again and the next checkpoint
            # (or close) writes them.
            log.exception("state.checkpoint_failed")
            with self._lock:
                self._failed = True

    def wait_for_checkpoint(self) -> None:
        """Block until the checkpoint being written in the background (if any) is done."""
        writer = self._writer
        if writer is not None:
            self._waited_for = True
            try:
                writer.join()
            finally:
                self._waited_for = False
        self._writer_busy()

    def _cancel_background(self) -> None:
        """Drop the checkpoint in progress (the memory it reads is about to go); one already
        in its write transaction is waited for (it is exact either way)."""
        with self._lock:
            self._cancelled = True
            self._pending = set()
            self._blobs = {}
        writer = self._writer
        if writer is not None:
            writer.join()
        self._writer = None
        self._covered = set()
        self._gone = set()
        self._failed = False

    def reset_memory(self) -> None:
        """Drop in-memory state (it will be rebuilt from the checkpoint and the event log)."""
        self._cancel_background()
        self.states.clear()
        self.dirty.clear()
        self._in_slot1.clear()
        self._forget_sweep()

    def _forget_sweep(self) -> None:
        """The memory is gone (to be rebuilt from the checkpoint): so is the sweep's pass, and
        the evictions not checkpointed yet (their rows come back, and are evicted again)."""
        self._order, self._kept, self._cursor = [], [], 0
        self._saves = self._made = 0
        self._evicted = set()
        self.clock = EvictionClock()

    def checkpoint(self) -> None:
        """Write changed keys and the seq they are complete up to, now (after the checkpoint
        being written in the background, if any)."""
        self.wait_for_checkpoint()
        if self.engine is None or not (self.dirty or self._evicted):
            self.checkpoint_seq = self._written_seq = self.seq
            return
        blobs = {k: self.states[k].to_bytes() for k in self.dirty if k in self.states}
        self._write(blobs, self.seq, self.label_id, gone=self._evicted)
        self.dirty.clear()
        self._evicted = set()
        self.checkpoint_seq = self._written_seq = self.seq

    def _write(
        self,
        blobs: dict[str, bytes],
        seq: int,
        label_id: int,
        gate: threading.Lock | None = None,
        gone: set[str] | frozenset[str] = frozenset(),
    ) -> None:
        """Write these blobs, delete the rows of the keys evicted (``gone``) before ``seq``,
        then the checkpoint row saying states are complete up to ``seq``.

        Each key has two rows (slots): the one the current checkpoint row vouches for is
        never touched; the new blob goes to the other slot, stamped with ``seq``. So the rows
        can be written in many small transactions (on SQLite a long one would hold the single
        write lock, and every decision's commit would wait for it), and a crash half-way leaves
        the last checkpoint whole: :meth:`restore` takes, per key, the newest blob stamped at or
        before the checkpoint row's ``seq``.

        An evicted key's two rows are deleted (in small transactions too), unless it was made
        again and is among the blobs: it is fresh as of ``seq``. A crash before the checkpoint
        row leaves the last checkpoint without those rows: the keys then restore fresh instead
        of as they were then, which decides alike, since each was equivalent to a fresh state
        when evicted, and so was every earlier state of it (entries only get older, and stats
        and known counterparts, once held, are never emptied)."""
        assert self.engine is not None
        in_slot1 = self._in_slot1
        dropped = [key for key in gone if key not in blobs]
        rows = [
            {
                "key": key if key in in_slot1 else SLOT1_PREFIX + key,
                "blob": _stamp(seq, blob),
            }
            for key, blob in blobs.items()
        ]
        hook = self.checkpoint_hook
        # One connection, taken before the gate: opening one is not done while holding it.
        with self.engine.connect() as conn, _no_wal_autocheckpoint(conn):
            for start in range(0, len(rows), self.WRITE_ROWS):
                chunk = rows[start : start + self.WRITE_ROWS]
                keys = [r["key"] for r in chunk]
                with self._gated(gate), conn.begin():
                    conn.execute(delete(StateSnapshot).where(StateSnapshot.key.in_(keys)))
                    conn.execute(insert(StateSnapshot), chunk)
                if gate is not None:
                    time.sleep(4 * PAUSE_S)  # a commit waiting for the gate gets it
            for start in range(0, len(dropped), self.WRITE_ROWS):
                chunk_keys = dropped[start : start + self.WRITE_ROWS]
                both = chunk_keys + [SLOT1_PREFIX + key for key in chunk_keys]
                with self._gated(gate), conn.begin():
                    conn.execute(delete(StateSnapshot).where(StateSnapshot.key.in_(both)))
                if gate is not None:
                    time.sleep(4 * PAUSE_S)
            if hook is not None:
                hook("checkpoint-row")
            with self._gated(gate), conn.begin():
                conn.execute(delete(StateCheckpoint))
                conn.execute(insert(StateCheckpoint), [{"id": 1, "seq": seq, "label_id": label_id}])
        # The checkpoint row now vouches for the new slots.
        for key in blobs:
            if key in in_slot1:
                in_slot1.discard(key)
            else:
                in_slot1.add(key)
        in_slot1.difference_update(dropped)

    @contextmanager
    def _gated(self, gate: threading.Lock | None) -> Iterator[None]:
        """Hold ``gate`` (when given) for one write; give up if the checkpoint is cancelled
        meanwhile (whoever cancels it may hold the gate while waiting for this thread)."""
        if gate is None:
            yield
            return
        while not gate.acquire(timeout=0.05):
            if self._cancelled:
                raise _Cancelled
            if self._waited_for:
                # Someone waits for this checkpoint, maybe holding the gate: write ungated.
                yield
                return
        try:
            if self._cancelled:
                raise _Cancelled
            yield
        finally:
            gate.release()

    def restore(self, replay: Callable[[int], int]) -> int:
        """Load the checkpoint, then ask ``replay(after_seq)`` to re-apply later events.

        Returns how many events were replayed.
        """
        if self.engine is None:
            return 0
        self._cancel_background()
        with self.engine.connect() as conn:
            checkpoint = conn.execute(select(StateCheckpoint.seq, StateCheckpoint.label_id)).first()
            top = int(checkpoint[0]) if checkpoint else 0
            # Per key, the newest blob the checkpoint vouches for (stamped at or before its
            # seq; a blob stamped after it is from a checkpoint that never finished).
            best: dict[str, tuple[int, bool, bytes]] = {}
            for row_key, blob in conn.execute(select(StateSnapshot.key, StateSnapshot.blob)):
                slot1 = row_key.startswith(SLOT1_PREFIX)
                key = row_key[len(SLOT1_PREFIX) :] if slot1 else row_key
                stamp, payload = _unstamp(blob)
                if stamp > top:
                    continue
                found = best.get(key)
                if found is None or stamp > found[0]:
                    best[key] = (stamp, slot1, payload)
        self._in_slot1 = set()
        self._forget_sweep()
        for key, (_, slot1, payload) in best.items():
            self.states[key] = EntityState.from_bytes(payload)
            if slot1:
                self._in_slot1.add(key)
        self._order = list(self.states)
        self.seq = self.checkpoint_seq = top
        self._written_seq = self.seq
        self.label_id = int(checkpoint[1]) if checkpoint else 0
        replayed = replay(self.seq)
        return replayed

    def close(self) -> None:
        self.checkpoint()

    def clear(self) -> None:
        self._cancel_background()
        self.states.clear()
        self.dirty.clear()
        self._in_slot1.clear()
        self._forget_sweep()
        self.seq = self.checkpoint_seq = self._written_seq = 0
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

    Eviction, as in the memory store (same rule, event time only): every
    ``SHARED_SWEEP_EVERY`` writes of events, :meth:`write` also locks the next
    ``SHARED_SWEEP_ROWS`` rows with ``SKIP LOCKED`` (rows another transaction holds are left
    for a later pass, and nothing waits, so no deadlock), and deletes those equivalent to a
    fresh state, in the decision's own transaction (a rollback undoes it). A deleted row is
    recreated empty by the next :meth:`lock` of its key, which decides alike. The clock is this
    process's :class:`EvictionClock` over the events it writes (at most the true event time:
    eviction comes later, never earlier, than the rule allows).
    """

    transactional = True

    def __init__(self, engine: Engine, evict: bool = True) -> None:
        self.engine = engine
        self.evict = evict
        self.sweep_every = SHARED_SWEEP_EVERY
        self.clock = EvictionClock()
        self.evicted_total = 0
        self._writes = 0
        self._after = ""
        self._empty = EntityState().to_bytes()
        # The statements of every group, built once (each decision runs both).
        from sqlalchemy.dialects import postgresql, sqlite

        dialect: Any = postgresql if engine.dialect.name == "postgresql" else sqlite
        self._insert_missing_rows = dialect.insert(SharedEntityState).on_conflict_do_nothing()
        self._lock_rows = (
            select(SharedEntityState.key, SharedEntityState.blob)
            .where(SharedEntityState.key.in_(bindparam("keys", expanding=True)))
            .order_by(SharedEntityState.key)
            .with_for_update()
        )
        self._sweep_rows = (
            select(SharedEntityState.key, SharedEntityState.blob)
            .where(SharedEntityState.key > bindparam("after"))
            .order_by(SharedEntityState.key)
            .limit(bindparam("rows"))
            .with_for_update(skip_locked=True)
        )

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
            conn.execute(
                self._insert_missing_rows,
                [{"key": key, "seq": 0, "blob": self._empty} for key in chunk],
            )
            for key, blob in conn.execute(self._lock_rows, {"keys": chunk}):
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
        if seq is not None and self.evict:
            self._writes += 1
            if self._writes >= self.sweep_every:
                self._writes = 0
                self._sweep(conn, states)

    def _sweep(self, conn: Connection, written: dict[str, EntityState]) -> None:
        """Delete the evictable rows among the next slice (never one this transaction just
        wrote: a late event's key is in use)."""
        cutoff = self.clock.observe(written.values()) - RETENTION_S
        rows = conn.execute(
            self._sweep_rows, {"after": self._after, "rows": SHARED_SWEEP_ROWS}
        ).all()
        self._after = rows[-1][0] if len(rows) == SHARED_SWEEP_ROWS else ""
        gone: list[str] = []
        for key, blob in rows:
            if key in written:
                continue
            if EntityState.from_bytes(blob).fresh_after(cutoff):
                gone.append(key)
        if gone:
            conn.execute(delete(SharedEntityState).where(SharedEntityState.key.in_(gone)))
            self.evicted_total += len(gone)

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
