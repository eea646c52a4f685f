"""Deciding and committing: idempotency, state, engine, durable log — in that order.

This is the hot path of :class:`~lendguard.decisions.service.DecisionService` (which is a
:class:`Decider` plus the components that change what decides: rule sets, models, labels,
lists). Decisions are serialised by a lock: the window state of a customer must see that
customer's events one at a time, and SQLite has one writer anyway. A decision is returned only
after its row is committed; the window state is updated only after that commit, so an event
that failed to be written leaves no trace.

What decides an event (rule set, model, lists, twins) is read once per decision from the
shared :class:`~lendguard.decisions.configuration.LiveConfiguration`, so a decision always sees
one consistent configuration.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
import structlog
from pydantic import ValidationError
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from lendguard.config import DEFAULT_PII_KEY
from lendguard.decisions import engine as decision_engine
from lendguard.decisions.challenges import challenge_for
from lendguard.decisions.configuration import LiveConfiguration
from lendguard.decisions.features.compute import (
    LazyFeatures,
    apply_event,
    entity_keys,
    open_context,
    record_fraud_label,
)
from lendguard.decisions.features.links import STRONG_LINK_FIELDS, LinkGraph
from lendguard.decisions.features.state import EntityState
from lendguard.decisions.holds import hold_notice
from lendguard.decisions.policy import epoch_seconds
from lendguard.decisions.repository import decision_repository as repo
from lendguard.decisions.repository import sqlite_hot_path
from lendguard.decisions.rules.loader import Action
from lendguard.decisions.scoring.events import feature_row
from lendguard.decisions.scoring.explain import explain_contributions
from lendguard.decisions.state import (
    MemoryStateStore,
    SharedStateStore,
    StateStore,
    WrittenEventIds,
)
from lendguard.errors import (
    Conflict,
    FieldError,
    IdempotencyMismatch,
    LendGuardError,
    NotFound,
    ServiceUnavailable,
)
from lendguard.events.parse import parse_event
from lendguard.events.schemas import OUTFLOW_TYPES, Event
from lendguard.kit.crypto import PSEUDONYM_PREFIX, pseudonymise
from lendguard.kit.ids import new_id
from lendguard.privacy import intake

log = structlog.get_logger()

# Shared state: how often a group whose row locks collided (a deadlock PostgreSQL broke, or
# SQLite's write lock refused) is tried again before the callers get a 503.
LOCK_ATTEMPTS = 5
# The log follower waits this long for an event ``seq`` below the highest one it has seen (a
# transaction of another process still open) before deciding it was rolled back.
GAP_WAIT_S = 60.0
# ...and tracks gaps only this far below the top (older ones are long settled).
GAP_TRACK_SEQS = 10_000
# Events the log follower reads per query.
LOG_CHUNK = 5_000
# Fraud labels are re-read this far back (ids are allotted before their transactions commit;
# marking a customer again is harmless).
LABEL_LOOKBACK = 20
# Card aliases of payees kept by the decider (~250 bytes each: ~4 MB at most).
CARD_ALIASES = 16_384
# The collector's generations are frozen every this many decided events (see _HeapFreezer).
FREEZE_EVERY = 500


class EntityLinks(LinkGraph, Protocol):
    """The entity-link graph the decider keeps: what the features read, plus the rebuild from
    the log and the fraud labels."""

    events: int
    customer_entities: dict[str, set[str]]

    def add_raw(self, body: Mapping[str, Any]) -> None: ...

    def mark_fraud(self, customer: str, event_id: str | None = None) -> None: ...

    def clear_fraud(self, customer: str, event_id: str | None = None) -> None: ...


class LinkIndexFactory(Protocol):
    """Builds an empty entity-link graph (``lendguard.graph.index.LinkIndex`` in the app).

    A factory, not an instance: the graph is rebuilt from the log at start and after a failed
    event, and a backtest replays into a fresh one. ``card_alias`` maps a payee id into the
    card namespace (the keyed hash cards are stored under)."""

    def __call__(self, *, card_alias: Callable[[str], str]) -> EntityLinks: ...


class _Pending:
    """One decided event waiting for the commit that makes it durable."""

    __slots__ = (
        "challenger_row",
        "decision",
        "done",
        "error",
        "event_row",
        "shadow_row",
        "states",
        "waiters",
    )

    def __init__(
        self, event_row: dict[str, Any], decision: dict[str, Any], states: dict[str, EntityState]
    ) -> None:
        self.event_row = event_row
        self.decision = decision
        self.states = states
        self.shadow_row: dict[str, Any] | None = None
        self.challenger_row: dict[str, Any] | None = None
        self.done = False
        self.error: BaseException | None = None
        self.waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []


def _resolve_all(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


def _wake(waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]) -> None:
    """Resolve these futures on their loops: one call into each loop, not one per future."""
    if not waiters:
        return
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for loop, future in waiters:
        by_loop.setdefault(loop, []).append(future)
    for loop, futures in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve_all, futures)
        except RuntimeError:  # that loop is closed: nobody waits there any more
            log.debug("decisions.waiter_loop_closed")


class _HeapFreezer:
    """Keeps the cyclic garbage collector's full collections small (no stall in the tail).

    The window state and the link graph are a large heap of long-lived containers that only
    grows; every automatic full collection would walk all of it (17-50 ms at 20,000 events on
    the benchmark, and more as the state grows). So the heap is frozen (``gc.freeze``: moved
    out of the collector's generations) after start and then every ``every`` decided events,
    each time right after a full collection, which walks only what was allocated since the
    previous freeze (0.5-2 ms at 500 events on the benchmark; 1,000 gave 1-9 ms).

    The decision path makes no reference cycles (tests/decisions/test_deciding_heap.py checks
    it): its garbage is freed by reference counting, frozen or not. What a freeze keeps alive
    is a cycle among objects that were alive at the freeze and became garbage afterwards (a
    caller's objects in flight at that moment could be such); the service's close unfreezes
    the heap (``gc.unfreeze``), so a test process that starts many services collects them all.
    """

    def __init__(self, every: int = FREEZE_EVERY) -> None:
        self.every = every
        self._since = 0

    def decided(self, events: int) -> None:
        self._since += events
        if self._since >= self.every:
            self.freeze()

    def freeze(self) -> None:
        self._since = 0
        gc.collect()
        gc.freeze()

    @staticmethod
    def thaw() -> None:
        gc.unfreeze()


class _WalCheckpointer:
    """Moves SQLite's WAL checkpoints off the commit path (PASSIVE: never blocks writers)."""

    def __init__(self, engine: Engine, interval_s: float = 0.5) -> None:
        self._engine = engine
        self._interval_s = interval_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lendguard-wal", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = self._engine.raw_connection()
        try:
            while not self._stopped.wait(self._interval_s):
                self._checkpoint(conn, "PASSIVE")
            self._checkpoint(conn, "TRUNCATE")  # leave a small WAL behind on shutdown
        finally:
            conn.close()

    @staticmethod
    def _checkpoint(conn: Any, mode: str) -> None:
        try:
            cursor = conn.cursor()
            cursor.execute(f"PRAGMA wal_checkpoint({mode})")
            cursor.fetchall()
            cursor.close()
            conn.commit()
        except Exception:  # a failed checkpoint is retried on the next tick
            log.warning("sqlite.wal_checkpoint_failed", mode=mode)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)


def _as_public_error(error: BaseException, item: _Pending) -> BaseException:
    # SQLAlchemy's IntegrityError, or the driver's own from the SQLite hot path.
    if isinstance(error, IntegrityError) or type(error).__name__ == "IntegrityError":
        return Conflict(
            f"event '{item.event_row['event_id']}' could not be written: another writer stored "
            "an event with the same id at the same time; send it again to get its decision",
            errors=[FieldError("event_id", "written concurrently by another process")],
        )
    return error


class Decider:
    """Decides events and makes them durable (one instance per process; see module doc)."""

    def __init__(
        self,
        engine: Engine,
        link_index: LinkIndexFactory,
        store: StateStore | None = None,
        pii_key: str | None = None,
    ) -> None:
        self.db = engine
        self.pii_key = (pii_key or DEFAULT_PII_KEY).encode()
        self.store: StateStore = store if store is not None else MemoryStateStore(engine)
        self.lock = threading.RLock()
        # What decides an event, as one snapshot swapped whole (shared with the components
        # that change it: rule sets, models, lists).
        self.configuration = LiveConfiguration(self.lock)
        self._link_index = link_index
        self._card_aliases: dict[str, str] = {}
        self._heap = _HeapFreezer()
        # The entity-link graph (rings, mules): in process, rebuilt from the decision log at
        # start and updated under ``lock`` with every decided event.
        self.graph: EntityLinks = self.new_link_index()
        self._graph_stale = False
        self._writer: Connection | None = None
        self._reader: Connection | None = None
        self._reader_suspect = self._writer_suspect = False
        self._hot: Any = sqlite_hot_path if engine.dialect.name == "sqlite" else repo
        self._commit_lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._inflight: dict[str, _Pending] = {}
        # States touched by decisions not yet committed (the store sees them after the commit).
        self._overlay: dict[str, EntityState] = {}
        # The thread that writes the groups queued by the event loop (see _Committer).
        self._committer: _Committer | None = None
        self._wake_scheduled = False
        # Set when an event failed half-way through being folded into the state (or a batch
        # was abandoned after some of its events were folded): the in-memory state and graph
        # hold effects of events that will never be written. The next decision rebuilds both
        # from the durable log first (after any commit in flight), and nothing is checkpointed
        # meanwhile.
        self._rebuild_pending = False
        # Batches being decided: their events are folded into the state but not yet queued for
        # writing (a batch is written whole or not at all), so the overlay must stay.
        self._holding = 0
        self._wal_checkpointer: _WalCheckpointer | None = None
        # Called after each commit with that group's decisions at remind or more (cases, the
        # rescue ladder); each consumer filters what it needs and is idempotent.
        self.after_commit: list[Callable[[list[dict[str, Any]]], object]] = []
        # The consumer-education content answering an intervention's reasons (issue #21): a
        # pure function of the stored reasons, wired in by the app (the education area sits
        # above this one); none without it.
        self.education_for: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None
        # Encryption at rest for the clear phone, card and address (privacy/vault.py).
        self.vault: Any = None
        # Several processes share one state (SharedStateStore): each group of events is decided
        # in one transaction holding its keys' rows (_decide_shared); requests from the event
        # loop are grouped by one thread (_SharedGroups).
        self._shared = isinstance(self.store, SharedStateStore)
        self._shared_groups: _SharedGroups | None = None
        # Memory state (one owner): the ids of the events in the log, so a new event is decided
        # without reading the log first (built with the graph from the log; None until then).
        self._written: WrittenEventIds | None = None
        # The log follower (shared state only): the highest event seq folded into the graph,
        # the seqs below it not seen yet (another process's transaction still open, or rolled
        # back) with when each was first missed, and the highest fraud label id folded.
        self._log_top = 0
        self._log_gaps: dict[int, float] = {}
        self._label_top = 0
        # Shared state: reloads what decides when another process changed it (set by the
        # service once started), looked at no more than once a second.
        self.configuration_follower: Callable[[], None] | None = None
        self._configuration_marker = 0
        self._configuration_checked = 0.0

    # -- start-up ------------------------------------------------------------------------------

    def restore(self) -> None:
        """Rebuild the graph and the window state from the log, then fold in the labels that
        arrived after the last checkpoint (the configuration is loaded first, by the service)."""
        self._rebuild_graph()
        if isinstance(self.store, MemoryStateStore):
            if self.db.dialect.name == "sqlite":
                # The background checkpoint writes between group commits, never during one
                # (SQLite has one write lock, and a commit polling for it loses to the writer).
                self.store.write_gate = self._commit_lock
            replayed = self.store.restore(self._replay_after)
            if replayed:
                log.info("state.restored", replayed_events=replayed)
            with self.db.connect() as conn:
                pending_labels = repo.labels_after(conn, self.store.label_id)
            self.apply_labels(pending_labels)
        self._heap.freeze()

    def new_link_index(self) -> EntityLinks:
        """An empty entity-link graph keyed as this service keys cards."""
        return self._link_index(card_alias=self._card_pseudonym)

    def _card_pseudonym(self, value: str) -> str:
        # The graph asks for a payee's card alias on every payment (an HMAC each): the answers
        # are kept, up to CARD_ALIASES of them (then forgotten all at once, and asked again).
        aliases = self._card_aliases
        alias = aliases.get(value)
        if alias is None:
            if len(aliases) >= CARD_ALIASES:
                aliases.clear()
            alias = aliases[value] = pseudonymise(value, self.pii_key)
        return alias

    def _rebuild_graph(self) -> None:
        """The link graph from every logged event and fraud label (the log is the truth; the
        graph is not checkpointed, and its fold needs no validation: the API validated each
        body when it took it)."""
        graph = self.new_link_index()
        top = label_top = 0
        gaps: dict[int, float] = {}
        written: WrittenEventIds | None = None
        with self.db.connect() as conn:
            if not self._shared:
                written = WrittenEventIds(expected=repo.top_seq(conn))
            for seq, body in repo.events_after(conn, 0):
                graph.add_raw(body)
                top = _advance_log(top, gaps, seq, 0.0)
                if written is not None:
                    written.add(body["event_id"])
            for item in repo.labels_after(conn, 0):
                _fold_label_into_graph(graph, item)
                label_top = max(label_top, int(item["id"]))
        now = time.monotonic()
        with self.lock:
            if written is not None:
                for event_id in self._inflight:  # queued, being written: in the log soon
                    written.add(event_id)
                self._written = written
            self.graph = graph
            self._graph_stale = False
            self._log_top, self._label_top = top, label_top
            self._log_gaps = {seq: now for seq in gaps if seq > top - GAP_TRACK_SEQS}
        if graph.events:
            log.info("graph.rebuilt", events=graph.events, customers=len(graph.customer_entities))

    def _replay_after(self, seq: int) -> int:
        count = 0
        with self.db.connect() as conn:
            for event_seq, body in repo.events_after(conn, seq):
                event = Event.model_validate(body)
                ctx = open_context(event, self.store.load)
                apply_event(event, ctx.states, ctx)
                self.store.save(ctx.states.by_key, event_seq)
                count += 1
        return count

    def close(self) -> None:
        committer, self._committer = self._committer, None
        if committer is not None:
            committer.stop()
        groups, self._shared_groups = self._shared_groups, None
        if groups is not None:
            groups.stop()
        with self.lock:
            self.store.close()
            for conn in (self._writer, self._reader):
                if conn is not None:
                    conn.close()
            self._writer = self._reader = None
            if self._wal_checkpointer is not None:
                self._wal_checkpointer.stop()
                self._wal_checkpointer = None
        self._heap.thaw()

    # -- deciding ------------------------------------------------------------------------------

    def decide(self, event: Event, *, started: float | None = None) -> dict[str, Any]:
        """Decide one validated event and return once its decision is durable.

        The same event again returns the original decision; the same ``event_id`` with another
        body is refused. Concurrent callers share commits (group commit): each waits until the
        transaction holding its decision has committed.
        """
        if self._shared:
            return _raise_or_return(self._decide_shared([(event, _started(started))])[0])
        outcome = self._enqueue(event, started)
        if isinstance(outcome, dict):
            return outcome
        pending, body_hash = outcome
        while not pending.done:
            self._commit_queued()
        return self._answer(event.event_id, body_hash, pending)

    async def decide_async(self, event: Event, *, started: float | None = None) -> dict[str, Any]:
        """As :meth:`decide`, for the event loop, with group commit across requests.

        A decision is queued, and the committer thread is woken at the end of the loop
        iteration (once per iteration); it writes everything queued in one transaction, then
        whatever was queued meanwhile in the next, so groups grow with load, the loop goes on
        deciding while a group is written, and it never waits on the database.
        """
        if self._shared:
            groups = self._shared_groups
            if groups is None:
                groups = self._shared_groups = _SharedGroups(self._decide_shared)
            return _raise_or_return(await groups.submit(event, _started(started)))
        outcome = self._enqueue(event, started)
        if isinstance(outcome, dict):
            return outcome
        pending, body_hash = outcome
        if not pending.done:
            loop = asyncio.get_running_loop()
            future: asyncio.Future[None] = loop.create_future()
            with self.lock:
                if pending.done:
                    future.set_result(None)
                else:
                    pending.waiters.append((loop, future))
            if not self._wake_scheduled:
                # The committer is woken at the end of this loop iteration, so every request
                # decided in it joins the group (woken at once, it would wait for the GIL and
                # then take the loop's GIL in the middle of deciding them).
                self._wake_scheduled = True
                loop.call_soon(self._wake_committer)
            await future
        return self._answer(event.event_id, body_hash, pending)

    def _enqueue(
        self, event: Event, started: float | None, held: list[_Pending] | None = None
    ) -> dict[str, Any] | tuple[_Pending, str]:
        """Decide and queue for writing; or answer at once for an event already written.

        With ``held``, the decided event is put there instead of on the write queue: the
        caller queues the whole list at once (a batch is written whole or not at all)."""
        t0 = started if started is not None else time.perf_counter()
        if self._rebuild_pending:
            self._rebuild_after_failure()
        self._pseudonymise(event)
        body = event.model_dump(mode="json", exclude_none=True)
        body_hash = hashlib.sha256(_canonical(body)).hexdigest()
        with self.lock:
            inflight = self._inflight.get(event.event_id)
            if inflight is not None:
                # The same event is being written for another caller: answer as it is answered.
                return inflight, body_hash
            written = self._written
            if written is None or event.event_id in written:
                # Maybe written already (or no index yet): the log says.
                try:
                    stored_hash = self._hot.event_hash(self._reader_conn(), event.event_id)
                except DBAPIError:
                    self._suspect_connections()
                    raise
                if stored_hash is not None:
                    return self._replayed(event.event_id, body_hash, stored_hash)
            return self._decide_locked(event, body, body_hash, t0, held), body_hash

    def _rebuild_after_failure(self) -> None:
        """Rebuild state and graph from the log after a half-folded event, once every commit
        in flight has finished (the commit lock first, as every committer takes them)."""
        with self._commit_lock, self.lock:
            if not self._rebuild_pending:
                return
            self._rebuild_state()
            self._rebuild_pending = False
            log.warning("state.rebuilt_after_failed_event")

    def _abandon_folded(self, error: BaseException, held: list[_Pending] | None = None) -> None:
        """An event (or a batch) failed after touching the state: nothing of it will be written.

        Every decision queued but not yet being written was made on that state too: each is
        failed with a retryable 503 (nothing of it is written either; the same event sent again
        is decided afresh), and the state is rebuilt from the log before the next decision.
        Call with ``self.lock`` held."""
        retry = ServiceUnavailable(
            "the decision state was being rebuilt after another event failed; nothing was "
            "written: send the event again"
        )
        dropped, self._queue = self._queue, []
        waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        for item in [*(held or []), *dropped]:
            item.error = retry if item.error is None else item.error
            item.done = True
            self._inflight.pop(item.event_row["event_id"], None)
            waiters.extend(item.waiters)
        _wake(waiters)
        self._rebuild_pending = True
        self._graph_stale = True
        log.error(
            "decision.fold_failed",
            error=type(error).__name__,
            abandoned=len(dropped) + len(held or []),
        )

    def _pseudonymise(self, event: Event) -> None:
        """Phone, card and address never reach the log or the state in clear; with a vault,
        the clear values are kept there, encrypted, under the same keyed hash.

        Personal information sent where the contract has no field for it is caught too
        (:mod:`lendguard.privacy.intake`): an identifier (customer, payee, payer, device) that
        is or holds a mobile, card, ID number or e-mail is replaced by its keyed hash (so the
        answer and the decision carry that, never the clear id), with the clear value in the
        vault; free-form values (``attributes``, the profile's extra fields) are masked. All of
        it is deterministic: the same event gives the same body, hash and links."""
        vault = self.vault
        # Identifiers first: the vault rows below are filed under the customer id as stored.
        clear_ids: list[str] = []
        for field in intake.IDENTIFIER_FIELDS:
            raw = getattr(event, field)
            if raw is None:
                continue
            token = intake.protect_identifier(raw, self.pii_key)
            if token is not None:
                setattr(event, field, token)
                # (A value that only looks like a pseudonym is hashed but not vaulted: the
                # vault would file it under itself.)
                if not raw.startswith(PSEUDONYM_PREFIX):
                    clear_ids.append(raw)
        if vault is not None:
            for raw in clear_ids:
                vault.put(intake.VAULT_KIND, raw, event.customer_id)
        for field, kind in (("phone", "phone"), ("card_id", "card"), ("address_id", "address")):
            raw = getattr(event, field)
            if raw is None:
                continue
            if vault is not None and not raw.startswith(PSEUDONYM_PREFIX):
                setattr(event, field, vault.put(kind, raw, event.customer_id))
            else:
                setattr(event, field, pseudonymise(raw, self.pii_key))
        # The voice vendor's speaker id is derived from biometric data (PIPL Art. 28): only its
        # keyed hash is kept. Equal ids still meet in the link graph (rings sharing a voice).
        session = event.session
        if session is not None and session.voice_id is not None:
            session.voice_id = pseudonymise(session.voice_id, self.pii_key)
        # Numbers in a contact list are third parties' phones: the same keyed hash as a
        # customer's own phone (so the graph can link them), never kept in clear.
        contacts = event.attributes.get("contact_phones")
        if isinstance(contacts, list):
            event.attributes["contact_phones"] = [
                pseudonymise(str(number), self.pii_key) for number in contacts if number
            ]
        if event.attributes:
            event.attributes = intake.mask_free_form(event.attributes, self.pii_key)
        extra = event.customer.model_extra if event.customer is not None else None
        if extra:
            masked = intake.mask_free_form(extra, self.pii_key)
            if masked is not extra:
                extra.clear()
                extra.update(masked)

    def _answer(self, event_id: str, body_hash: str, pending: _Pending) -> dict[str, Any]:
        if pending.error is not None:
            raise pending.error
        return self._replayed(event_id, body_hash, pending.event_row["body_hash"], pending.decision)

    def _load_states(self, keys: Iterable[str]) -> dict[str, EntityState]:
        """States for these keys, newest first: those changed by decisions not yet committed
        (the overlay), else the store's."""
        wanted = list(keys)
        overlay = self._overlay
        missing = [k for k in wanted if k not in overlay]
        if missing:
            overlay.update(self.store.load(missing))
        return {k: overlay[k] for k in wanted}

    def _wake_committer(self) -> None:
        self._wake_scheduled = False
        committer = self._committer
        if committer is None:
            with self.lock:
                if self._committer is None:
                    self._committer = _Committer(self._commit_queued)
                committer = self._committer
        committer.wake()

    def _decide_locked(
        self,
        event: Event,
        body: dict[str, Any],
        body_hash: str,
        t0: float,
        held: list[_Pending] | None = None,
    ) -> _Pending:
        """Decide on the state as it is, build every row to write, and only then fold the
        event into the state and the graph: whatever can fail has failed before anything
        changed. A failure while folding abandons the fold (see :meth:`_abandon_folded`)."""
        config = self.configuration.active
        ruleset, version, lists = config.ruleset, config.ruleset_version, config.lists
        assert ruleset is not None, "DecisionService.start() was not called"
        if self._graph_stale:
            self._rebuild_graph()
        ctx = open_context(event, self._load_states, self.graph)
        bundle, states = ctx.states, ctx.states.by_key
        values = LazyFeatures(ctx, ruleset.params)
        model = config.model
        row = None
        if model is not None:
            row = feature_row(values, model.model.features)
            ctx.model_score = model.model.score_row(row)
        result = decision_engine.evaluate(ctx, ruleset, lists, values)
        model_reasons = None
        if model is not None and row is not None and result.action != Action.allow:
            model_reasons = explain_contributions(model.model, row)
        # The twins see exactly what the live rule set and model saw: same state, same
        # instant — so they are judged before the event is folded into the state and graph.
        # Recorded, never acted on.
        challenger = config.challenger
        challenger_score = challenger.judge(values, model, row) if challenger is not None else None
        shadow = config.shadow
        candidate = shadow.judge(ctx, lists) if shadow is not None else None
        now = datetime.now(UTC)
        occurred_utc = event.occurred_at.astimezone(UTC)
        decision_id = new_id("dec")
        decision: dict[str, Any] = {
            "decision_id": decision_id,
            "event_id": event.event_id,
            "customer_id": event.customer_id,
            "event_type": event.type.value,
            "occurred_at": occurred_utc,
            "action": result.action.value,
            "score": result.score,
            "model_score": None if ctx.model_score is None else round(ctx.model_score, 6),
            "reasons": [r.as_dict() for r in result.reasons],
            "measures": [m.value for m in result.measures],
            "messages": result.messages,
            "guardrails": result.guardrails,
            "ruleset_version": version,
            "model_version": None if model is None else str(model.version),
            "model_reasons": model_reasons,
            "latency_us": int((time.perf_counter() - t0) * 1e6),
            "decided_at": now,
            # At dissuade or more (rare): the bespoke questions the customer answers (#19);
            # the follow-up exists once they are answered, so never on a fresh decision.
            "challenge": (
                challenge_for(decision_fields(decision_id, event, result))
                if result.action.rank >= Action.dissuade.rank
                else None
            ),
            "follow_up": None,
            "hold": None,
        }
        if result.action.rank >= Action.dissuade.rank:
            # Money held (rare): its release deadline and the customer's instructions.
            decision["hold"] = hold_notice(decision)
        decision["education"] = self._education(decision)
        event_row = {
            "event_id": event.event_id,
            "customer_id": event.customer_id,
            "type": event.type.value,
            "occurred_at": occurred_utc,
            "body_hash": body_hash,
            "body": body,
            "received_at": now,
        }
        pending = _Pending(event_row, decision, states)
        if challenger is not None and challenger_score is not None:
            pending.challenger_row = challenger.record(
                challenger_score, decision, model, ctx.model_score, now
            )
        if shadow is not None and candidate is not None:
            pending.shadow_row = shadow.record(candidate, decision, now)
        try:
            apply_event(event, bundle, ctx)
        except BaseException as exc:
            self._abandon_folded(exc, held)
            raise
        (held if held is not None else self._queue).append(pending)
        self._inflight[event.event_id] = pending
        if self._written is not None:
            # From now on in the log or in flight (a write that fails leaves a false "maybe").
            self._written.add(event.event_id)
        return pending

    def _commit_queued(self) -> None:
        """Write everything queued so far in one transaction (group commit).

        Callers that queued while another group was being written find their work done when
        they get the commit lock, or write the next group themselves.
        """
        with self._commit_lock:
            with self.lock:
                batch, self._queue = self._queue, []
            if not batch:
                return
            wake = self._commit_batch(batch)
        try:
            self._after_commit(batch)
        finally:
            # The callers hear of their decisions once the cases and rescue steps they open
            # exist: an analyst fetching the case right after the answer finds it.
            _wake(wake)

    def _after_commit(self, batch: list[_Pending]) -> None:
        if self.after_commit:
            # Only decisions that act (remind or more) can matter to cases or the rescue
            # ladder; allows are the bulk of traffic and are skipped here.
            acted = [
                p.decision for p in batch if p.error is None and p.decision["action"] != "allow"
            ]
            if acted:
                for hook in self.after_commit:
                    try:
                        hook(acted)
                    except Exception:  # durable already: each consumer has a sweep
                        log.exception("decisions.after_commit_failed", decisions=len(acted))

    def _commit_batch(
        self, batch: list[_Pending]
    ) -> list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]:
        """Write one group, then publish its states (or fail every item and rebuild); returns
        the waiters to wake (the caller wakes them after the after-commit hooks)."""
        wake: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        error: BaseException | None = None
        seq = 0
        try:
            seq = self._write(batch)
        except BaseException as exc:  # every waiter must hear about the failure
            error = exc
        with self.lock:
            if error is None:
                touched: dict[str, EntityState] = {}
                for item in batch:
                    touched.update(item.states)
                try:
                    self.store.save(touched, seq)
                except Exception:
                    # The decisions are durable: their callers get them. The shared state
                    # missed them, so it is rebuilt before the next decision.
                    log.exception("state.save_failed", events=len(batch))
                    self._rebuild_pending = True
                self._heap.decided(len(batch))
            else:
                # The window state holds effects of events that were never written: fail
                # everything queued on top of them too, and rebuild state from the log.
                batch.extend(self._queue)
                self._queue = []
            for item in batch:
                item.error = _as_public_error(error, item) if error is not None else None
                item.done = True
                self._inflight.pop(item.event_row["event_id"], None)
                wake.extend(item.waiters)
            if error is not None:
                try:
                    self._rebuild_state()
                    self._rebuild_pending = False
                except Exception:  # the database is still away: rebuilt before the next one
                    log.exception("state.rebuild_failed")
                    self._rebuild_pending = True
            elif not self._queue and not self._holding and not self._rebuild_pending:
                self._overlay = {}
                if isinstance(self.store, MemoryStateStore):
                    try:
                        self.store.maybe_checkpoint()
                    except Exception:  # the log has every event: the next checkpoint catches up
                        log.exception("state.checkpoint_failed")
        return wake

    def _suspect_connections(self) -> None:
        """The database failed: the long-lived reader and writer may hold dead connections
        (the pool's pre-ping never sees them). Each is replaced before its next use, so the
        first request after the database is back succeeds."""
        self._reader_suspect = self._writer_suspect = True

    @staticmethod
    def _discard(conn: Connection | None) -> None:
        if conn is None:
            return
        try:
            conn.invalidate()
            conn.close()
        except Exception:  # already dead: nothing to release
            log.debug("decisions.discard_connection_failed")

    def _write(self, batch: list[_Pending]) -> int:
        """Commit a group of events and decisions on the service's own connection."""
        conn = self._writer_conn()
        try:
            return int(
                self._hot.commit_group(
                    conn,
                    [p.event_row for p in batch],
                    [p.decision for p in batch],
                    [p.shadow_row for p in batch if p.shadow_row is not None],
                    [p.challenger_row for p in batch if p.challenger_row is not None],
                )
            )
        except DBAPIError:
            self._suspect_connections()  # the writer is replaced before its next use
            raise

    def _writer_conn(self) -> Connection:
        """The service's long-lived writing connection (replaced after a database failure)."""
        conn = self._writer
        if self._writer_suspect:
            self._writer_suspect = False
            self._discard(conn)
            conn = self._writer = None
        if conn is None or conn.closed or conn.invalidated:
            conn = self._writer = self.db.connect()
            if self.db.dialect.name == "sqlite":
                # The WAL checkpoint (and its fsync) runs on a background thread instead of
                # inside whichever commit happens to cross the threshold.
                conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
                conn.commit()
                if self._wal_checkpointer is None:
                    self._wal_checkpointer = _WalCheckpointer(self.db)
        return conn

    def _reader_conn(self) -> Connection:
        conn = self._reader
        if self._reader_suspect:
            self._reader_suspect = False
            self._discard(conn)
            conn = self._reader = None
        if conn is None or conn.closed or conn.invalidated:
            conn = self._reader = self.db.connect()
        elif self._hot is repo:
            conn.rollback()  # end the previous read snapshot: see the latest commits
        # (The SQLite hot path reads on the DBAPI cursor outside any transaction.)
        return conn

    def _rebuild_state(self) -> None:
        self._overlay = {}
        # The graph folded in the events that were never written too: stale until rebuilt
        # from the log (here, or before the next decision if the database is still down).
        self._graph_stale = True
        if isinstance(self.store, MemoryStateStore):
            self.store.reset_memory()
            self.store.restore(self._replay_after)
        self._rebuild_graph()

    def _same_in_todays_form(self, event_id: str, body_hash: str) -> bool:
        """Whether the stored event, read through today's contract, hashes as the resent one.

        An event written by an earlier release was hashed in that release's canonical form
        (amounts were kept as sent, ``"3000"``; today they are ``"3000.00"``), so a lender's
        retry across an upgrade would otherwise be refused as a different event. Only the
        rare mismatch path pays for this read."""
        try:
            with self.db.connect() as conn:
                stored = repo.event_body(conn, event_id)
            if stored is None:
                return False
            again = Event.model_validate(stored).model_dump(mode="json", exclude_none=True)
        except (ValidationError, DBAPIError):
            return False
        return hashlib.sha256(_canonical(again)).hexdigest() == body_hash

    def _replayed(
        self,
        event_id: str,
        body_hash: str,
        stored_hash: str,
        decision: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        if stored_hash != body_hash and not self._same_in_todays_form(event_id, body_hash):
            raise IdempotencyMismatch(
                f"event_id '{event_id}' was already used for a different event",
                errors=[FieldError("event_id", "already used with a different body")],
            )
        if decision is not None:
            return decision
        with self.db.connect() as conn:
            found = repo.find_by_event_id(conn, event_id)
        if found is None:
            raise NotFound(f"event '{event_id}' has no decision")
        return self._as_read(found[1])

    def decide_many(self, events: Iterable[Event | Any]) -> list[dict[str, Any] | LendGuardError]:
        """Decide events in order, written in one group commit; returns once all are durable.

        Items may be validated events or raw dicts (validated here). A refused item comes back
        as its error, in its place, and is not written; the others are decided.
        """
        if self._shared:
            return self._decide_many_shared(events)
        slots: list[dict[str, Any] | LendGuardError | tuple[str, str, _Pending]] = []
        held: list[_Pending] = []
        with self.lock:
            self._holding += 1
        try:
            for item in events:
                t0 = time.perf_counter()
                try:
                    event = item if isinstance(item, Event) else parse_event(item)
                    outcome = self._enqueue(event, t0, held)
                except LendGuardError as exc:
                    slots.append(exc)
                    continue
                if isinstance(outcome, dict):
                    slots.append(outcome)
                else:
                    slots.append((event.event_id, outcome[1], outcome[0]))
                # This loop never waits on the database (new events are not looked up in the
                # log), so nothing else would get the GIL from it but every switch interval
                # (5 ms): a single event needs it several times (the loop, the committer after
                # each round trip). Hand it over after each item, and write the single events
                # decided meanwhile here, at once.
                time.sleep(0)
                if self._queue:
                    self._commit_queued()
        except BaseException as exc:
            # An internal failure: the whole batch fails and nothing of it is written; what
            # its decided events folded into the state is rolled back (rebuilt from the log).
            with self.lock:
                self._holding -= 1
                # (A failed fold has abandoned the batch already, in _decide_locked.)
                if held and not all(p.done for p in held):
                    self._abandon_folded(exc, held)
            raise
        with self.lock:
            self._holding -= 1
            self._queue.extend(held)
        results: list[dict[str, Any] | LendGuardError] = []
        for slot in slots:
            if isinstance(slot, tuple):
                event_id, body_hash, pending = slot
                while not pending.done:
                    self._commit_queued()
                try:
                    results.append(self._answer(event_id, body_hash, pending))
                except LendGuardError as exc:
                    results.append(exc)
            else:
                results.append(slot)
        return results

    def decide_raw_batch(self, raws: list[Any]) -> list[dict[str, Any]]:
        """The batch endpoint: invalid items get an error entry in place and are not written."""
        out: list[dict[str, Any]] = []
        for index, result in enumerate(self.decide_many(raws)):
            if isinstance(result, LendGuardError):
                out.append(
                    {
                        "error": {
                            "index": index,
                            "status": result.status_code,
                            "title": result.title,
                            "detail": result.detail,
                            "errors": [
                                {"field": f"events.{index}.{e.field}", "message": e.message}
                                for e in result.errors
                            ],
                        }
                    }
                )
            else:
                out.append(result)
        return out

    # -- shared state: several processes ------------------------------------------------------

    def _decide_many_shared(
        self, events: Iterable[Event | Any]
    ) -> list[dict[str, Any] | LendGuardError]:
        """:meth:`decide_many` on shared state: the valid items are decided in one transaction
        (an internal failure raises for all of them: nothing of the batch is written)."""
        results: list[dict[str, Any] | LendGuardError | None] = []
        valid: list[tuple[Event, float]] = []
        places: list[int] = []
        for item in events:
            t0 = time.perf_counter()
            try:
                event = item if isinstance(item, Event) else parse_event(item)
            except LendGuardError as exc:
                results.append(exc)
                continue
            places.append(len(results))
            results.append(None)
            valid.append((event, t0))
        if valid:
            for place, outcome in zip(places, self._decide_shared(valid), strict=True):
                if isinstance(outcome, LendGuardError) or not isinstance(outcome, BaseException):
                    results[place] = outcome
                else:
                    raise outcome
        return [r for r in results if r is not None]

    def _decide_shared(
        self, items: list[tuple[Event, float]]
    ) -> list[dict[str, Any] | BaseException]:
        """Decide a group on the shared state, in one transaction, in order; one answer (or
        refusal) per item. Raises when the group could not be written at all."""
        try:
            return self._decide_shared_locked(items)
        except DBAPIError:
            # Whichever statement failed, the long-lived writer may be dead too (the pool's
            # pre-ping never sees it): it is replaced before the next group.
            self._suspect_connections()
            raise

    def _decide_shared_locked(
        self, items: list[tuple[Event, float]]
    ) -> list[dict[str, Any] | BaseException]:
        with self.lock:
            if self._rebuild_pending or self._graph_stale:
                self._rebuild_graph()
                self._rebuild_pending = False
            follower = self.configuration_follower
            if follower is not None and time.monotonic() - self._configuration_checked >= 1.0:
                self._configuration_checked = time.monotonic()
                follower()
            prepared: list[tuple[Event, dict[str, Any], str, float]] = []
            for event, t0 in items:
                self._pseudonymise(event)
                body = event.model_dump(mode="json", exclude_none=True)
                prepared.append((event, body, hashlib.sha256(_canonical(body)).hexdigest(), t0))
            keys: set[str] = set()
            for item in prepared:
                keys.update(entity_keys(item[0]).values())
                keys.update(_graph_lock_keys(item[0]))
            attempt = 1
            while True:
                try:
                    return self._shared_transaction(prepared, keys)
                except _LockConflict as conflict:
                    if attempt >= LOCK_ATTEMPTS:
                        raise ServiceUnavailable(
                            "the shared decision state stayed locked by other processes; "
                            "nothing was written: send the events again"
                        ) from conflict.__cause__
                    log.warning("state.lock_conflict", attempt=attempt, events=len(prepared))
                    attempt += 1
                    time.sleep(0.01 * attempt)

    def _shared_transaction(
        self, prepared: list[tuple[Event, dict[str, Any], str, float]], keys: set[str]
    ) -> list[dict[str, Any] | BaseException]:
        """Lock the group's state rows, decide each event on them, write events, decisions and
        states, commit. Before the locks nothing has changed (a lock conflict is retried); a
        failure after the first event was folded into the graph rebuilds the graph before the
        next group (the transaction, and with it the state, is rolled back whole)."""
        store = self.store
        assert isinstance(store, SharedStateStore)
        conn = self._writer_conn()
        held: list[_Pending] = []
        slots: list[tuple[str, str, str | _Pending]] = []
        seqs: list[int] = []
        try:
            with conn.begin():
                try:
                    self._overlay = store.lock(conn, keys)
                except DBAPIError as exc:
                    if _is_lock_conflict(exc):
                        raise _LockConflict from exc
                    raise
                # Only now, holding the rows: every event that touched them before is
                # committed, so the graph the features read includes it too.
                self._follow_log()
                # Under the customer's lock: the same event sent to two processes at once is
                # decided by the first; the second finds it here.
                stored = repo.event_hashes(conn, [item[0].event_id for item in prepared])
                decided: dict[str, _Pending] = {}
                for event, body, body_hash, t0 in prepared:
                    event_id = event.event_id
                    earlier: str | _Pending | None = stored.get(event_id) or decided.get(event_id)
                    if earlier is None:
                        earlier = decided[event_id] = self._decide_locked(
                            event, body, body_hash, t0, held
                        )
                    slots.append((event_id, body_hash, earlier))
                if held:
                    seqs = repo.insert_group(
                        conn,
                        [p.event_row for p in held],
                        [p.decision for p in held],
                        [p.shadow_row for p in held if p.shadow_row is not None],
                        [p.challenger_row for p in held if p.challenger_row is not None],
                    )
                    touched: dict[str, EntityState] = {}
                    for pending in held:
                        touched.update(pending.states)
                    store.write(conn, touched, max(seqs))
        except BaseException:
            if held:
                # Folded into the graph, never written: the graph is rebuilt from the log.
                self._graph_stale = True
            raise  # (a database error: _decide_shared replaces the writer)
        finally:
            self._overlay = {}
            for pending in held:
                self._inflight.pop(pending.event_row["event_id"], None)
        for pending in held:
            pending.done = True
        self._note_own_seqs(seqs)
        self._heap.decided(len(held))
        self._after_commit(held)
        results: list[dict[str, Any] | BaseException] = []
        for event_id, body_hash, found in slots:
            try:
                if isinstance(found, _Pending):
                    results.append(self._answer(event_id, body_hash, found))
                else:
                    results.append(self._replayed(event_id, body_hash, found))
            except LendGuardError as exc:
                results.append(exc)
        return results

    def _note_own_seqs(self, seqs: list[int]) -> None:
        """This process's events are in the graph already: the follower skips their seqs."""
        now = time.monotonic()
        for seq in sorted(seqs):
            self._log_top = _advance_log(self._log_top, self._log_gaps, seq, now)

    def _follow_log(self) -> None:
        """Fold into the graph what other processes committed since the last group: their
        events (by ``seq``, waiting for gaps left by transactions still open) and fraud labels.
        Call with ``lock`` held; shared state only."""
        now = time.monotonic()
        graph = self.graph
        with self.db.connect() as conn:
            if self._log_gaps:
                for seq, body in repo.events_at_seqs(conn, sorted(self._log_gaps)):
                    graph.add_raw(body)
                    del self._log_gaps[seq]
            while True:
                rows = repo.events_after_seq(conn, self._log_top, limit=LOG_CHUNK)
                for seq, body in rows:
                    self._log_top = _advance_log(self._log_top, self._log_gaps, seq, now)
                    graph.add_raw(body)
                if len(rows) < LOG_CHUNK:
                    break
            labels = repo.labels_after(conn, max(0, self._label_top - LABEL_LOOKBACK))
        for item in labels:
            _fold_label_into_graph(graph, item)
            self._label_top = max(self._label_top, int(item["id"]))
        expired = [seq for seq, since in self._log_gaps.items() if now - since > GAP_WAIT_S]
        for seq in expired:
            del self._log_gaps[seq]

    def _apply_labels_shared(self, labels: list[dict[str, Any]]) -> None:
        """Fraud labels on shared state: the label-derived features of the customer and payee
        keys change under the same row locks as decisions; the graph hears of them through
        the log follower of every process (this one at once)."""
        known_at: dict[str, list[float]] = {}
        for item in labels:
            if int(item["label"]) != 1:
                # a corrected label clears the graph's mark (label-derived counts keep it)
                _fold_label_into_graph(self.graph, item)
                continue
            event = Event.model_validate(item["body"])
            self.graph.mark_fraud(event.customer_id, event.event_id)
            keys = entity_keys(event)
            for role in ("customer", "payee"):
                if role in keys:
                    known_at.setdefault(keys[role], []).append(epoch_seconds(item["known_at"]))
        if not known_at:
            return
        store = self.store
        assert isinstance(store, SharedStateStore)
        with self.db.connect() as conn, conn.begin():
            states = store.lock(conn, known_at)
            for key, moments in known_at.items():
                for moment in moments:
                    record_fraud_label(states[key], moment)
            store.write(conn, {key: states[key] for key in known_at})

    # -- reading -------------------------------------------------------------------------------

    def _education(self, decision: dict[str, Any]) -> list[dict[str, Any]]:
        """The education links of an intervention (remind or more); none for an allow."""
        if self.education_for is None or decision.get("action") in (None, "allow"):
            return []
        return self.education_for(decision.get("reasons") or [])

    def _as_read(self, row: dict[str, Any]) -> dict[str, Any]:
        """A stored decision as answered: its challenge, hold notice and education links
        (each a function of the stored decision)."""
        row = with_challenge(row)
        if "education" not in row:
            row = {**row, "education": self._education(row)}
        return row

    def get_decision(self, decision_id: str) -> dict[str, Any]:
        """The decision as answered, with its challenge and, once answered, the follow-up."""
        with self.db.connect() as conn:
            row = repo.get_decision_row(conn, decision_id)
            if row is None:
                raise NotFound(f"decision '{decision_id}' not found")
            row = self._as_read(row)
            if row["challenge"] is not None:
                follow = repo.follow_up_of(conn, decision_id)
                if follow is not None:
                    row["follow_up"] = follow
        return row

    def customer_decisions(
        self, customer_id: str, limit: int = 50, before: datetime | None = None
    ) -> list[dict[str, Any]]:
        # The lender asks by the id it knows; an id holding personal information is stored as
        # its pseudonym (privacy.intake).
        customer_id = intake.stored_identifier(customer_id, self.pii_key)
        with self.db.connect() as conn:
            return [
                self._as_read(row)
                for row in repo.customer_decisions(conn, customer_id, limit, before)
            ]

    # -- rule sets -----------------------------------------------------------------------------

    # -- labels --------------------------------------------------------------------------------

    def apply_labels(self, labels: list[dict[str, Any]]) -> None:
        """Fold fraud labels into the graph and the label-derived features of the state
        (``{id, label, known_at, body}``; call with ``lock`` held, or at start-up)."""
        if self._shared:
            self._apply_labels_shared(labels)
            return
        touched: dict[str, EntityState] = {}
        for item in labels:
            if int(item["label"]) != 1:
                _fold_label_into_graph(self.graph, item)
            if int(item["label"]) == 1:
                event = Event.model_validate(item["body"])
                self.graph.mark_fraud(event.customer_id, event.event_id)
                keys = entity_keys(event)
                wanted = [keys[role] for role in ("customer", "payee") if role in keys]
                missing = [k for k in wanted if k not in self._overlay and k not in touched]
                loaded = self.store.load(missing) if missing else {}
                for key in wanted:
                    state = self._overlay.get(key) or touched.get(key) or loaded[key]
                    record_fraud_label(state, epoch_seconds(item["known_at"]))
                    touched[key] = state
            if isinstance(self.store, MemoryStateStore):
                self.store.label_id = max(self.store.label_id, int(item["id"]))
        if touched:
            self.store.save(touched, 0)


def _canonical(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def _advance_log(top: int, gaps: dict[int, float], seq: int, now: float) -> int:
    """The log follower's top after seeing ``seq``: the seqs it skipped become gaps to wait
    for (from ``now``), a gap it fills is dropped. Returns the new top."""
    if seq > top:
        for missing in range(max(top + 1, seq - GAP_TRACK_SEQS), seq):
            gaps.setdefault(missing, now)
        return seq
    gaps.pop(seq, None)
    return top


def _graph_lock_keys(event: Event) -> set[str]:
    """Rows locked (never written) beside the state keys, so the graph features read under
    them are exact too: an account's mule score reads the money into it (payments lock the
    payee's ``p:`` row) and out of it (its own outflows lock its ``c:`` row), so a decision
    locks both sides of each account it reads; a ring is joined through strong identifiers,
    so each one the event carries is locked. (A ring joined through a third customer is not
    covered: see docs/scale-out.md.)"""
    keys = {f"p:{event.customer_id}"}
    if event.payee_id and event.type in OUTFLOW_TYPES:
        keys.add(f"c:{event.payee_id}")
    for link_type, field_name in STRONG_LINK_FIELDS.items():
        value = getattr(event, field_name, None)
        if value:
            keys.add(f"l:{link_type}:{value}")
    if event.session.voice_id:  # the one strong link inside an object (session.voice_id)
        keys.add(f"l:voice:{event.session.voice_id}")
    return keys


def _started(started: float | None) -> float:
    return started if started is not None else time.perf_counter()


def _raise_or_return(outcome: dict[str, Any] | BaseException) -> dict[str, Any]:
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


class _LockConflict(Exception):
    """Row locks of a group collided with another process's (nothing was changed yet)."""


# PostgreSQL: deadlock detected, serialization failure, lock not available.
_LOCK_SQLSTATES = frozenset({"40P01", "40001", "55P03"})


def _is_lock_conflict(exc: DBAPIError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in _LOCK_SQLSTATES:
        return True
    return "database is locked" in str(exc.orig)


class _Committer:
    """The thread that writes what the event loop queues (group commit for ``decide_async``).

    It sleeps until woken, then writes everything queued in one transaction, and again while
    more was queued meanwhile; waking it sets a flag (and signals the thread when it sleeps),
    so the loop never waits on the database. (It replaced a one-thread executor: one
    ``submit`` per flush, and flushes that found the queue already taken.)"""

    def __init__(self, commit_queued: Callable[[], None]) -> None:
        self._commit_queued = commit_queued
        self._wanted = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="lendguard-commit", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        if not self._wanted.is_set():
            self._wanted.set()

    def _run(self) -> None:
        wanted = self._wanted
        while True:
            wanted.wait()
            # Cleared before the queue is taken: a decision queued from now on wakes us
            # again, one queued before is in this group (no wake-up is lost).
            wanted.clear()
            try:
                self._commit_queued()
            except Exception:  # errors reach the waiters through their pending items
                log.exception("decision.commit_failed")
            if self._stopped and not wanted.is_set():
                return

    def stop(self) -> None:
        self._stopped = True
        self._wanted.set()
        self._thread.join(timeout=10)


class _SharedGroups:
    """Group commit for the event loop on shared state: requests queue here and one thread
    decides whatever has queued, in one transaction per group (the loop never waits on a row
    lock or the database; groups grow with load)."""

    def __init__(
        self,
        decide_group: Callable[[list[tuple[Event, float]]], list[dict[str, Any] | BaseException]],
        max_group: int = 500,
    ) -> None:
        self._decide_group = decide_group
        self._max_group = max_group
        self._queue: list[tuple[Event, float, asyncio.AbstractEventLoop, asyncio.Future[Any]]] = []
        self._ready = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="lendguard-groups", daemon=True)
        self._thread.start()

    async def submit(self, event: Event, started: float) -> dict[str, Any] | BaseException:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        with self._ready:
            self._queue.append((event, started, loop, future))
            self._ready.notify()
        result: dict[str, Any] | BaseException = await future
        return result

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._stopped:
                    self._ready.wait()
                if self._stopped and not self._queue:
                    return
                group = self._queue[: self._max_group]
                del self._queue[: self._max_group]
            try:
                outcomes: list[dict[str, Any] | BaseException] = self._decide_group(
                    [(event, started) for event, started, _, _ in group]
                )
            except BaseException as exc:  # every caller of the group hears of it
                outcomes = [exc] * len(group)
            for (_, _, loop, future), outcome in zip(group, outcomes, strict=True):
                loop.call_soon_threadsafe(_settle, future, outcome)

    def stop(self) -> None:
        with self._ready:
            self._stopped = True
            self._ready.notify()
        self._thread.join(timeout=10)


def _fold_label_into_graph(graph: EntityLinks, item: dict[str, Any]) -> None:
    """A label as the graph keeps it: a 1 marks the customer through that event, a 0 (a
    corrected label) clears that event's mark (the customer stays marked while another of its
    events holds a 1). The training replay folds labels the same way."""
    customer = str(item["body"]["customer_id"])
    event_id = str(item.get("event_id") or item["body"].get("event_id") or "")
    if int(item["label"]) == 1:
        graph.mark_fraud(customer, event_id)
    else:
        graph.clear_fraud(customer, event_id)


def _settle(future: asyncio.Future[Any], outcome: dict[str, Any] | BaseException) -> None:
    if not future.done():
        future.set_result(outcome)


def decision_fields(decision_id: str, event: Event, result: Any) -> dict[str, Any]:
    """What :func:`challenge_for` reads of a decision being made."""
    return {
        "decision_id": decision_id,
        "event_type": event.type.value,
        "action": result.action.value,
        "reasons": [r.as_dict() for r in result.reasons],
    }


def with_challenge(decision: dict[str, Any]) -> dict[str, Any]:
    """``decision`` with the challenge it carries and the hold notice (recomputed: the
    questions are a function of the decision and the policy version, the hold's deadline of the
    decision's time, so a read shows what the answer carried)."""
    if decision.get("challenge") is not None:
        return decision
    if decision.get("action") in ("allow", "remind"):
        return {**decision, "challenge": None, "follow_up": None, "hold": None}
    return {
        **decision,
        "challenge": challenge_for(decision),
        "follow_up": None,
        "hold": hold_notice(decision),
    }
