"""The decisions service: idempotency, state, engine, durable log — in that order.

One instance per process. Decisions are serialised by a lock: the window state of a customer must
see that customer's events one at a time, and SQLite has one writer anyway. A decision is
returned only after its row is committed; the window state is updated only after that commit, so
an event that failed to be written leaves no trace.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import numpy as np
import orjson
import structlog
from pydantic import ValidationError
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from lendguard.config import DEFAULT_PII_KEY
from lendguard.decisions import engine as decision_engine
from lendguard.decisions.explain import explain
from lendguard.decisions.features.compute import (
    FEATURE_NAMES,
    LazyFeatures,
    apply_event,
    entity_keys,
    open_context,
    record_fraud_label,
)
from lendguard.decisions.features.state import EntityState
from lendguard.decisions.policy import LIST_FIELDS, ListsView
from lendguard.decisions.repository import decision_repository as repo
from lendguard.decisions.repository import sqlite_hot_path
from lendguard.decisions.rules.loader import Action, RuleSet, RuleSetError, parse_ruleset
from lendguard.decisions.scoring.events import feature_row
from lendguard.decisions.scoring.explain import explain_contributions
from lendguard.decisions.scoring.model import ModelError, ScoringModel
from lendguard.decisions.scoring.monitoring import daily_psi
from lendguard.decisions.state import MemoryStateStore, StateStore
from lendguard.errors import (
    Conflict,
    FieldError,
    Forbidden,
    IdempotencyMismatch,
    LendGuardError,
    NotFound,
    RuleSetInvalid,
    ServiceUnavailable,
    ValidationFailed,
)
from lendguard.events.parse import parse_event
from lendguard.events.schemas import Event
from lendguard.graph.index import LinkIndex
from lendguard.kit.crypto import PSEUDONYM_PREFIX, pseudonymise
from lendguard.kit.ids import new_id
from lendguard.privacy import intake

log = structlog.get_logger()

DEFAULT_RULESET_RESOURCE = "default.yaml"


def default_ruleset_text() -> str:
    return (resources.files("lendguard.decisions.rules") / DEFAULT_RULESET_RESOURCE).read_text(
        encoding="utf-8"
    )


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


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


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


class DecisionService:
    def __init__(
        self, engine: Engine, store: StateStore | None = None, pii_key: str | None = None
    ) -> None:
        self.db = engine
        self.pii_key = (pii_key or DEFAULT_PII_KEY).encode()
        self.store: StateStore = store if store is not None else MemoryStateStore(engine)
        # The entity-link graph (rings, mules): in process, rebuilt from the decision log at
        # start and updated under ``lock`` with every decided event.
        self.graph = LinkIndex(card_alias=self._card_pseudonym)
        self._graph_stale = False
        self.lock = threading.RLock()
        self.ruleset: RuleSet | None = None
        self.ruleset_version = 0
        self.lists = ListsView()
        # A candidate rule set deciding live traffic in shadow: (version, compiled rules).
        self.shadow: tuple[int, RuleSet] | None = None
        # The live scoring model: (version, model), and a challenger scoring in its shadow.
        self.model: tuple[int, ScoringModel] | None = None
        self.challenger: tuple[int, ScoringModel] | None = None
        self._writer: Connection | None = None
        self._reader: Connection | None = None
        self._reader_suspect = self._writer_suspect = False
        self._hot: Any = sqlite_hot_path if engine.dialect.name == "sqlite" else repo
        self._commit_lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._inflight: dict[str, _Pending] = {}
        # States touched by decisions not yet committed (the store sees them after the commit).
        self._overlay: dict[str, EntityState] = {}
        self._flush_scheduled = False
        # The thread that writes the groups queued by the event loop (see _flush_from_loop).
        self._committer: ThreadPoolExecutor | None = None
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
        # Encryption at rest for the clear phone, card and address (privacy/vault.py).
        self.vault: Any = None

    # -- start-up ------------------------------------------------------------------------------

    def start(self) -> None:
        """Install the default rule set on first start, load the active one, restore state."""
        with self.db.begin() as conn:
            active = repo.active_version(conn)
            if active is None:
                text = default_ruleset_text()
                parsed = parse_ruleset(text, file="default.yaml")
                version = repo.insert_ruleset(conn, self._ruleset_row(parsed, text, "system"))
                repo.activate(conn, version, "system", datetime.now(UTC))
                active = version
        self._load_active(active)
        with self.db.connect() as conn:
            shadow_version = repo.running_shadow(conn)
            model_version = repo.active_model(conn)
            challenger_version = repo.running_challenger(conn)
        if model_version is not None:
            self.model = (model_version, self._load_model(model_version))
        if challenger_version is not None:
            self.challenger = (challenger_version, self._load_model(challenger_version))
        if shadow_version is not None:
            self.shadow = (shadow_version, self._compiled_version(shadow_version))
        self.reload_lists()
        self._rebuild_graph()
        if isinstance(self.store, MemoryStateStore):
            replayed = self.store.restore(self._replay_after)
            if replayed:
                log.info("state.restored", replayed_events=replayed)
            with self.db.connect() as conn:
                pending_labels = repo.labels_after(conn, self.store.label_id)
            self._apply_labels(pending_labels)

    def _card_pseudonym(self, value: str) -> str:
        return pseudonymise(value, self.pii_key)

    def _rebuild_graph(self) -> None:
        """The link graph from every logged event and fraud label (the log is the truth; the
        graph is not checkpointed, and its fold needs no validation: the API validated each
        body when it took it)."""
        graph = LinkIndex(card_alias=self._card_pseudonym)
        with self.db.connect() as conn:
            for _, body in repo.events_after(conn, 0):
                graph.add_raw(body)
            for item in repo.labels_after(conn, 0):
                if int(item["label"]) == 1:
                    graph.mark_fraud(str(item["body"]["customer_id"]))
        with self.lock:
            self.graph = graph
            self._graph_stale = False
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

    def _load_active(self, version: int) -> None:
        with self.db.connect() as conn:
            row = repo.get_ruleset(conn, version)
        if row is None:
            raise NotFound(f"rule set version {version} does not exist")
        self.ruleset = parse_ruleset(row["source"], file=f"ruleset-v{version}.yaml")
        self.ruleset_version = version

    def reload_lists(self) -> None:
        view = ListsView()
        with self.db.connect() as conn:
            entries = repo.list_entries(conn)
            suppressions = repo.suppressions(conn)
        for entry in entries:
            table = view.allow if entry["list_type"] == "allow" else view.deny
            expires = entry["expires_at"]
            table.setdefault(entry["field"], {})[entry["value"]] = (
                _epoch(expires) if expires is not None else None
            )
        for sup in suppressions:
            key = (sup["customer_id"], sup["rule_id"])
            view.suppressions[key] = max(view.suppressions.get(key, 0.0), _epoch(sup["until"]))
        self.lists = view

    def close(self) -> None:
        committer, self._committer = self._committer, None
        if committer is not None:
            committer.shutdown(wait=True)
        with self.lock:
            self.store.close()
            for conn in (self._writer, self._reader):
                if conn is not None:
                    conn.close()
            self._writer = self._reader = None
            if self._wal_checkpointer is not None:
                self._wal_checkpointer.stop()
                self._wal_checkpointer = None

    # -- deciding ------------------------------------------------------------------------------

    def decide(self, event: Event, *, started: float | None = None) -> dict[str, Any]:
        """Decide one validated event and return once its decision is durable.

        The same event again returns the original decision; the same ``event_id`` with another
        body is refused. Concurrent callers share commits (group commit): each waits until the
        transaction holding its decision has committed.
        """
        outcome = self._enqueue(event, started)
        if isinstance(outcome, dict):
            return outcome
        pending, body_hash = outcome
        while not pending.done:
            self._commit_queued()
        return self._answer(event.event_id, body_hash, pending)

    async def decide_async(self, event: Event, *, started: float | None = None) -> dict[str, Any]:
        """As :meth:`decide`, for the event loop, with group commit across requests.

        The first request to queue a decision schedules one flush at the end of the current
        loop iteration, written by the committer thread; every request decided before it runs
        joins the same transaction, and requests decided while it writes join the next, so
        groups grow with load and the loop never waits on the database.
        """
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
            if not self._flush_scheduled:
                self._flush_scheduled = True
                loop.call_soon(self._flush_from_loop)
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
        for item in [*(held or []), *dropped]:
            item.error = retry if item.error is None else item.error
            item.done = True
            self._inflight.pop(item.event_row["event_id"], None)
            for loop, future in item.waiters:
                loop.call_soon_threadsafe(_resolve, future)
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

    def _flush_from_loop(self) -> None:
        """Hand the group commit to the committer thread: the event loop never waits on the
        database (a commit slowed by other writers would stall every request in flight)."""
        committer = self._committer
        if committer is None:
            committer = self._committer = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="lendguard-commit"
            )
        committer.submit(self._flush_on_committer)

    def _flush_on_committer(self) -> None:
        # Reset before taking the queue: a decision queued from now on schedules another
        # flush, one queued before is in this group (no wake-up is lost).
        self._flush_scheduled = False
        try:
            self._commit_queued()
        except Exception:  # errors reach the waiters through their pending items
            log.exception("decision.commit_failed")

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
        ruleset, version = self.ruleset, self.ruleset_version
        assert ruleset is not None, "DecisionService.start() was not called"
        if self._graph_stale:
            self._rebuild_graph()
        ctx = open_context(event, self._load_states, self.graph)
        bundle, states = ctx.states, ctx.states.by_key
        values = LazyFeatures(ctx, ruleset.params)
        model = self.model
        row = None
        if model is not None:
            row = feature_row(values, model[1].features)
            ctx.model_score = model[1].score_row(row)
        result = decision_engine.evaluate(ctx, ruleset, self.lists, values)
        model_reasons = None
        if model is not None and row is not None and result.action != Action.allow:
            model_reasons = explain_contributions(model[1], row)
        challenger = self.challenger
        challenger_score = None
        if challenger is not None:
            # Same state, same instant as the champion; recorded, never acted on.
            same = (
                model is not None
                and row is not None
                and (challenger[1].features == model[1].features)
            )
            challenger_row = row if same else feature_row(values, challenger[1].features)
            assert challenger_row is not None
            challenger_score = challenger[1].score_row(challenger_row)
        shadow = self.shadow
        # The candidate sees exactly what the live rule set saw: same state, same instant —
        # so it is decided before the event is folded into the state and the graph.
        candidate = (
            decision_engine.evaluate(ctx, shadow[1], self.lists) if shadow is not None else None
        )
        now = datetime.now(UTC)
        occurred_utc = event.occurred_at.astimezone(UTC)
        decision = {
            "decision_id": new_id("dec"),
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
            "model_version": None if model is None else str(model[0]),
            "model_reasons": model_reasons,
            "latency_us": int((time.perf_counter() - t0) * 1e6),
            "decided_at": now,
        }
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
            pending.challenger_row = {
                "challenger_version": challenger[0],
                "champion_version": None if model is None else model[0],
                "event_id": event.event_id,
                "champion_score": ctx.model_score,
                "challenger_score": challenger_score,
                "decided_at": now,
            }
        if shadow is not None and candidate is not None:
            shadow_version = shadow[0]
            pending.shadow_row = {
                "ruleset_version": shadow_version,
                "event_id": event.event_id,
                "decision_id": decision["decision_id"],
                "live_ruleset_version": version,
                "live_action": decision["action"],
                "action": candidate.action.value,
                "score": candidate.score,
                "reasons": [r.as_dict() for r in candidate.reasons],
                "decided_at": now,
            }
        try:
            apply_event(event, bundle, ctx)
        except BaseException as exc:
            self._abandon_folded(exc, held)
            raise
        (held if held is not None else self._queue).append(pending)
        self._inflight[event.event_id] = pending
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
            for loop, future in wake:
                loop.call_soon_threadsafe(_resolve, future)

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
        return found[1]

    def decide_many(self, events: Iterable[Event | Any]) -> list[dict[str, Any] | LendGuardError]:
        """Decide events in order, written in one group commit; returns once all are durable.

        Items may be validated events or raw dicts (validated here). A refused item comes back
        as its error, in its place, and is not written; the others are decided.
        """
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

    # -- reading -------------------------------------------------------------------------------

    def get_decision(self, decision_id: str) -> dict[str, Any]:
        with self.db.connect() as conn:
            row = repo.get_decision_row(conn, decision_id)
        if row is None:
            raise NotFound(f"decision '{decision_id}' not found")
        return row

    def customer_decisions(
        self, customer_id: str, limit: int = 50, before: datetime | None = None
    ) -> list[dict[str, Any]]:
        # The lender asks by the id it knows; an id holding personal information is stored as
        # its pseudonym (privacy.intake).
        customer_id = intake.stored_identifier(customer_id, self.pii_key)
        with self.db.connect() as conn:
            return repo.customer_decisions(conn, customer_id, limit, before)

    # -- rule sets -----------------------------------------------------------------------------

    @staticmethod
    def validate_ruleset(text: str, file: str = "upload.yaml") -> RuleSet:
        try:
            return parse_ruleset(text, file=file)
        except RuleSetError as exc:
            raise RuleSetInvalid(
                "the rule set was refused",
                errors=[
                    FieldError(f"{p.file}:{p.line}:{p.column}", p.message) for p in exc.problems
                ],
            ) from None

    @staticmethod
    def _ruleset_row(parsed: RuleSet, text: str, author: str) -> dict[str, Any]:
        return {
            "name": parsed.name,
            "description": parsed.description,
            "source": text,
            "sha256": hashlib.sha256(text.encode()).hexdigest(),
            "rule_count": len(parsed.rules),
            "created_at": datetime.now(UTC),
            "created_by": author,
        }

    def upload_ruleset(self, text: str, author: str, file: str = "upload.yaml") -> dict[str, Any]:
        parsed = self.validate_ruleset(text, file)
        with self.db.begin() as conn:
            version = repo.insert_ruleset(conn, self._ruleset_row(parsed, text, author))
            row = repo.get_ruleset(conn, version)
        assert row is not None
        row.pop("source")
        row["active"] = False
        return row

    def activate_ruleset(self, version: int, actor: str) -> dict[str, Any]:
        """Atomic: the new version is compiled first; the swap is one row and one reference."""
        with self.db.connect() as conn:
            row = repo.get_ruleset(conn, version)
        if row is None:
            raise NotFound(f"rule set version {version} does not exist")
        _four_eyes(row["created_by"], actor, f"rule set version {version}")
        compiled = self.validate_ruleset(row["source"], f"ruleset-v{version}.yaml")
        with self.lock:
            with self.db.begin() as conn:
                repo.activate(conn, version, actor, datetime.now(UTC))
            self.ruleset, self.ruleset_version = compiled, version
        log.info("ruleset.activated", version=version, actor=actor)
        row.pop("source")
        row["active"] = True
        return row

    def ruleset_source(self, version: int) -> dict[str, Any]:
        with self.db.connect() as conn:
            row = repo.get_ruleset(conn, version)
        if row is None:
            raise NotFound(f"rule set version {version} does not exist")
        row["active"] = version == self.ruleset_version
        return row

    def explain_decision(self, decision: dict[str, Any], locale: str) -> dict[str, Any]:
        """The customer's explanation of a stored decision (PIPL Art. 24), with the sentences
        of the rule-set version that made it: a rule's own sentence lives in that version,
        which may no longer be live. Without it the built-in sentences are used, never a
        rule's internal description."""
        return explain(decision, locale, self._ruleset_that_made(decision.get("ruleset_version")))

    def _ruleset_that_made(self, version: Any) -> RuleSet | None:
        if not isinstance(version, int):
            return None
        active, active_version = self.ruleset, self.ruleset_version
        if version == active_version and active is not None:
            return active
        try:
            row = self.ruleset_source(version)
        except NotFound:
            return None
        return _compiled_version(version, str(row.get("sha256")), row["source"])

    def compare_on_history(self, version: int, limit: int = 5_000) -> dict[str, Any]:
        """A quick backtest for the approval page: the last ``limit`` logged events replayed
        through fresh window state, each decided by the active rule set and by ``version``
        at the same instant. The first events see little history, so figures lean low; the
        scenario backtests (``lendguard backtest``) remain the full measure."""
        candidate = self._compiled_version(version)
        active = self.ruleset
        assert active is not None
        with self.db.connect() as conn:
            rows = repo.latest_events(conn, limit)
        store = MemoryStateStore(engine=None)
        graph = LinkIndex(card_alias=self._card_pseudonym)
        live: Counter[str] = Counter()
        proposed: Counter[str] = Counter()
        changed = 0
        examples: list[dict[str, Any]] = []
        for body in rows:
            event = Event.model_validate(body)
            ctx = open_context(event, store.load, graph)
            a = decision_engine.evaluate(ctx, active, self.lists)
            b = decision_engine.evaluate(ctx, candidate, self.lists)
            apply_event(event, ctx.states, ctx)
            live[a.action.value] += 1
            proposed[b.action.value] += 1
            if a.action != b.action:
                changed += 1
                if len(examples) < 20:
                    examples.append(
                        {
                            "event_id": event.event_id,
                            "customer_id": event.customer_id,
                            "active": a.action.value,
                            "candidate": b.action.value,
                            "reasons": [r.code for r in b.reasons],
                        }
                    )
        return {
            "events": len(rows),
            "active_version": self.ruleset_version,
            "version": version,
            "active_actions": dict(live),
            "candidate_actions": dict(proposed),
            "changed": changed,
            "examples": examples,
        }

    def _compiled_version(self, version: int) -> RuleSet:
        with self.db.connect() as conn:
            row = repo.get_ruleset(conn, version)
        if row is None:
            raise NotFound(f"rule set version {version} does not exist")
        return self.validate_ruleset(row["source"], f"ruleset-v{version}.yaml")

    def start_shadow(self, version: int, actor: str) -> dict[str, Any]:
        """Run ``version`` beside the active rule set on live traffic; record, never return."""
        compiled = self._compiled_version(version)
        if version == self.ruleset_version:
            raise Conflict(
                f"version {version} is the active rule set; shadow a candidate instead",
                errors=[FieldError("version", "is active")],
            )
        with self.lock:
            with self.db.begin() as conn:
                repo.start_shadow(conn, version, actor, datetime.now(UTC))
            self.shadow = (version, compiled)
        log.info("ruleset.shadow_started", version=version, actor=actor)
        return {"version": version, "shadow": True}

    def stop_shadow(self, version: int, actor: str) -> dict[str, Any]:
        with self.lock:
            if self.shadow is None or self.shadow[0] != version:
                raise NotFound(f"version {version} is not running in shadow")
            with self.db.begin() as conn:
                repo.stop_shadow(conn, datetime.now(UTC))
            self.shadow = None
        log.info("ruleset.shadow_stopped", version=version, actor=actor)
        return {"version": version, "shadow": False}

    def shadow_report(self, version: int, examples: int = 20) -> dict[str, Any]:
        """The candidate's decisions against the live ones on the same events."""
        with self.db.connect() as conn:
            if repo.get_ruleset(conn, version) is None:
                raise NotFound(f"rule set version {version} does not exist")
            transitions = repo.shadow_transitions(conn, version)
            differences = repo.shadow_differences(conn, version, examples)
        live: dict[str, int] = {}
        candidate: dict[str, int] = {}
        changed: dict[str, int] = {}
        total = 0
        for live_action, action, count in transitions:
            total += count
            live[live_action] = live.get(live_action, 0) + count
            candidate[action] = candidate.get(action, 0) + count
            if live_action != action:
                changed[f"{live_action}->{action}"] = count
        order = [a.value for a in Action]
        return {
            "version": version,
            "running": self.shadow is not None and self.shadow[0] == version,
            "events": total,
            "live_actions": {a: live.get(a, 0) for a in order},
            "shadow_actions": {a: candidate.get(a, 0) for a in order},
            "differences": sum(changed.values()),
            "by_transition": changed,
            "stricter": sum(
                n
                for k, n in changed.items()
                if order.index(k.split("->")[1]) > order.index(k.split("->")[0])
            ),
            "examples": differences,
        }

    # -- labels ------------------------------------------------------------------------------

    def record_labels(self, items: list[dict[str, Any]], actor: str) -> list[dict[str, Any]]:
        """Outcomes learned after the decision. A fraud label reaches the label-derived
        features (``payee_fraud_labels``, ``customer_fraud_labels``) of later events at once,
        exactly as training replays them, so a model sees the same signal live."""
        results: list[dict[str, Any]] = []
        valid: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            event_id = item.get("event_id") if isinstance(item, dict) else None
            label = item.get("label") if isinstance(item, dict) else None
            if not isinstance(event_id, str) or not event_id:
                results.append(
                    {"index": index, "error": "event_id: a non-empty string is required"}
                )
            elif label not in (0, 1) or isinstance(label, bool):
                results.append({"index": index, "error": "label: must be 0 or 1"})
            else:
                valid.append({"index": index, "event_id": event_id, "label": int(label)})
                results.append({"index": index, "event_id": event_id})
        with self.lock:
            with self.db.connect() as conn:
                known = repo.event_keys_source(conn, [v["event_id"] for v in valid])
            now = datetime.now(UTC)
            rows = []
            for item in valid:
                if item["event_id"] not in known:
                    results[item["index"]] = {
                        "index": item["index"],
                        "error": f"event_id: '{item['event_id']}' is unknown",
                    }
                    continue
                rows.append(
                    {
                        "event_id": item["event_id"],
                        "label": item["label"],
                        "known_at": now,
                        "source": actor,
                    }
                )
            if rows:
                with self.db.begin() as conn:
                    ids = repo.insert_labels(conn, rows)
                self._apply_labels(
                    [
                        {
                            "id": i,
                            "label": r["label"],
                            "known_at": now,
                            "body": known[r["event_id"]],
                        }
                        for i, r in zip(ids, rows, strict=True)
                    ]
                )
                for r, i in zip(rows, ids, strict=True):
                    for res in results:
                        if res.get("event_id") == r["event_id"] and "label_id" not in res:
                            res["label_id"] = i
                            break
        return results

    def apply_new_labels(self, labels: list[dict[str, Any]]) -> None:
        """Labels written elsewhere (a resolved case): ``{id, label, known_at, event_id}``."""
        with self.db.connect() as conn:
            bodies = repo.event_keys_source(conn, [item["event_id"] for item in labels])
        with self.lock:
            self._apply_labels(
                [
                    {**item, "body": bodies[item["event_id"]]}
                    for item in labels
                    if item["event_id"] in bodies
                ]
            )

    def _apply_labels(self, labels: list[dict[str, Any]]) -> None:
        touched: dict[str, EntityState] = {}
        for item in labels:
            if int(item["label"]) == 1:
                event = Event.model_validate(item["body"])
                self.graph.mark_fraud(event.customer_id)
                keys = entity_keys(event)
                wanted = [keys[role] for role in ("customer", "payee") if role in keys]
                missing = [k for k in wanted if k not in self._overlay and k not in touched]
                loaded = self.store.load(missing) if missing else {}
                for key in wanted:
                    state = self._overlay.get(key) or touched.get(key) or loaded[key]
                    record_fraud_label(state, _epoch(item["known_at"]))
                    touched[key] = state
            if isinstance(self.store, MemoryStateStore):
                self.store.label_id = max(self.store.label_id, int(item["id"]))
        if touched:
            self.store.save(touched, 0)

    # -- models ------------------------------------------------------------------------------

    def _load_model(self, version: int) -> ScoringModel:
        with self.db.connect() as conn:
            row = repo.get_model(conn, version)
        if row is None:
            raise NotFound(f"model version {version} does not exist")
        return ScoringModel.from_parts(row["booster"], row["calibration"], row["card"])

    def register_model(
        self, booster: str, calibration: dict[str, Any], card: dict[str, Any], author: str
    ) -> dict[str, Any]:
        """Store a trained model as a new, inactive version (validated by loading it)."""
        try:
            model = ScoringModel.from_parts(booster, calibration, card)
        except (ModelError, KeyError, TypeError, ValueError) as exc:
            raise ValidationFailed(
                "the model was refused", errors=[FieldError("model", str(exc))]
            ) from None
        unknown = [f for f in model.features if f not in FEATURE_NAMES]
        if unknown:
            raise ValidationFailed(
                "the model needs features the engine does not compute",
                errors=[FieldError("card.features", f"unknown: {unknown}")],
            )
        row = {
            "kind": str(card.get("kind", "events")),
            "booster": booster,
            "calibration": calibration,
            "card": card,
            "sha256": hashlib.sha256(booster.encode()).hexdigest(),
            "created_at": datetime.now(UTC),
            "created_by": author,
        }
        with self.db.begin() as conn:
            version = repo.insert_model(conn, row)
        return {
            "version": version,
            "kind": row["kind"],
            "sha256": row["sha256"],
            "features": len(model.features),
            "active": False,
        }

    def activate_model(self, version: int, actor: str) -> dict[str, Any]:
        with self.db.connect() as conn:
            row = repo.get_model(conn, version)
        if row is None:
            raise NotFound(f"model version {version} does not exist")
        _four_eyes(row["created_by"], actor, f"model version {version}")
        model = self._load_model(version)
        if model.card.get("kind", "events") != "events":
            raise Conflict(
                f"model {version} was trained on a table, not on events: it cannot score events",
                errors=[FieldError("version", "not an event model")],
            )
        with self.lock:
            with self.db.begin() as conn:
                repo.activate_model(conn, version, actor, datetime.now(UTC))
            self.model = (version, model)
        log.info("model.activated", version=version, actor=actor)
        return {"version": version, "active": True}

    def score_stability(
        self, version: int, days: int = 7, threshold: float = 0.2, min_rows: int = 50
    ) -> dict[str, Any]:
        """Daily population stability of the live score of model ``version``, read from the
        decision log, against the score distribution its card recorded at training time.

        (Feature drift needs the feature values, which the log does not keep; ``lendguard model
        monitor`` measures it on an events file.)"""
        model = self._load_model(version)
        reference = (model.card.get("reference") or {}).get("score")
        if not reference:
            raise Conflict(
                f"model {version} has no reference score distribution in its card",
                errors=[FieldError("version", "no card.reference.score")],
            )
        since = datetime.now(UTC) - timedelta(days=days)
        with self.db.connect() as conn:
            rows = repo.model_scores_since(conn, str(version), since)
        times = np.array([_epoch(at) for at, _ in rows], dtype=np.float64)
        scores = np.array([score for _, score in rows], dtype=np.float64)
        report = daily_psi({"score": reference}, times, {"score": scores}, threshold, min_rows)
        report.update(version=version, window_days=days, decisions=len(rows))
        return report

    def start_challenger(self, version: int, actor: str) -> dict[str, Any]:
        """Score live traffic with ``version`` beside the champion, for comparison only."""
        model = self._load_model(version)
        if model.card.get("kind", "events") != "events":
            raise Conflict(
                f"model {version} was trained on a table, not on events",
                errors=[FieldError("version", "not an event model")],
            )
        if self.model is not None and self.model[0] == version:
            raise Conflict(
                f"model {version} is the champion; challenge it with another one",
                errors=[FieldError("version", "is the active model")],
            )
        with self.lock:
            with self.db.begin() as conn:
                repo.start_challenger(conn, version, actor, datetime.now(UTC))
            self.challenger = (version, model)
        return {"version": version, "challenger": True}

    def stop_challenger(self, version: int, actor: str) -> dict[str, Any]:
        with self.lock:
            if self.challenger is None or self.challenger[0] != version:
                raise NotFound(f"model {version} is not the running challenger")
            with self.db.begin() as conn:
                repo.stop_challenger(conn, datetime.now(UTC))
            self.challenger = None
        return {"version": version, "challenger": False}

    def challenger_report(self, version: int) -> dict[str, Any]:
        """Champion and challenger on the same events: distributions, agreement, and quality
        where labels have arrived (``POST /v1/labels``)."""

        from lendguard.decisions.scoring.metrics import MetricsError, score_metrics

        with self.db.connect() as conn:
            if repo.get_model(conn, version) is None:
                raise NotFound(f"model version {version} does not exist")
            rows = repo.challenger_scores(conn, version)
        paired = [r for r in rows if r["champion_score"] is not None]
        challenger = np.array([r["challenger_score"] for r in rows], dtype=np.float64)
        champion = np.array([r["champion_score"] for r in paired], dtype=np.float64)
        both_c = np.array([r["challenger_score"] for r in paired], dtype=np.float64)

        def summary(values: np.ndarray) -> dict[str, Any]:
            if values.size == 0:
                return {"n": 0}
            return {
                "n": int(values.size),
                "mean": round(float(values.mean()), 6),
                "share_at_or_above": {
                    str(t): round(float((values >= t).mean()), 6) for t in (0.5, 0.8, 0.95)
                },
            }

        report: dict[str, Any] = {
            "challenger_version": version,
            "running": self.challenger is not None and self.challenger[0] == version,
            "events": len(rows),
            "champion_versions": sorted({r["champion_version"] for r in paired}),
            "champion": summary(champion),
            "challenger": summary(challenger),
        }
        if paired:
            report["agreement"] = {
                str(t): round(float(((champion >= t) == (both_c >= t)).mean()), 6)
                for t in (0.5, 0.8, 0.95)
            }
            if champion.size > 1 and champion.std() > 0 and both_c.std() > 0:
                report["correlation"] = round(float(np.corrcoef(champion, both_c)[0, 1]), 6)
        labelled = [r for r in paired if r["label"] is not None]
        if labelled:
            labels = [int(r["label"]) for r in labelled]
            quality: dict[str, Any] = {"labelled_events": len(labelled)}
            for name, key in (("champion", "champion_score"), ("challenger", "challenger_score")):
                try:
                    quality[name] = score_metrics(labels, [r[key] for r in labelled])
                except MetricsError as exc:
                    quality[name] = {"error": str(exc)}
            report["quality"] = quality
        return report

    def list_models(self) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            rows = repo.list_models(conn)
        active = self.model[0] if self.model is not None else None
        for row in rows:
            row["active"] = row["version"] == active
            row.pop("calibration", None)
        return rows

    def list_rulesets(self) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            rows = repo.list_rulesets(conn)
        for row in rows:
            row["active"] = row["version"] == self.ruleset_version
        return rows

    # -- lists ---------------------------------------------------------------------------------

    def add_list_entry(
        self,
        list_type: str,
        field: str,
        value: str,
        reason: str,
        author: str,
        expires_at: datetime | None = None,
    ) -> int:
        if list_type not in ("allow", "deny"):
            raise ValidationFailed("bad list", errors=[FieldError("list_type", "allow or deny")])
        if field not in LIST_FIELDS:
            raise ValidationFailed(
                "bad field", errors=[FieldError("field", f"one of {LIST_FIELDS}")]
            )
        if not value.strip() or not reason.strip():
            raise ValidationFailed(
                "value and reason are required",
                errors=[
                    FieldError(name, "must not be empty")
                    for name, text in (("value", value), ("reason", reason))
                    if not text.strip()
                ],
            )
        if field == "card":
            # Card numbers are only ever held as pseudonyms; the lender lists the number it knows.
            value = pseudonymise(value, self.pii_key)
        elif field in ("customer", "device", "payee"):
            # An id holding personal information is stored as its pseudonym (privacy.intake):
            # the lender lists the id it knows, and the entry meets the events.
            value = intake.stored_identifier(value, self.pii_key)
        with self.db.begin() as conn:
            entry_id = repo.insert_list_entry(
                conn,
                {
                    "list_type": list_type,
                    "field": field,
                    "value": value,
                    "reason": reason,
                    "author": author,
                    "created_at": datetime.now(UTC),
                    "expires_at": expires_at,
                },
            )
        with self.lock:
            self.reload_lists()
        return entry_id

    def add_suppression(
        self, customer_id: str, rule_id: str, until: datetime, reason: str, author: str
    ) -> int:
        errors = [
            FieldError(name, "must not be empty")
            for name, text in (
                ("customer_id", customer_id),
                ("rule_id", rule_id),
                ("reason", reason),
            )
            if not text.strip()
        ]
        if (
            self.ruleset is not None
            and rule_id.strip()
            and rule_id not in {r.id for r in self.ruleset.rules}
        ):
            errors.append(FieldError("rule_id", f"no rule '{rule_id}' in the active rule set"))
        if errors:
            raise ValidationFailed("invalid suppression", errors=errors)
        customer_id = intake.stored_identifier(customer_id, self.pii_key)
        with self.db.begin() as conn:
            suppression_id = repo.insert_suppression(
                conn,
                {
                    "customer_id": customer_id,
                    "rule_id": rule_id,
                    "until": until,
                    "reason": reason,
                    "author": author,
                    "created_at": datetime.now(UTC),
                },
            )
        with self.lock:
            self.reload_lists()
        return suppression_id

    def remove_list_entry(self, entry_id: int) -> None:
        with self.db.begin() as conn:
            if not repo.delete_list_entry(conn, entry_id):
                raise NotFound(f"list entry {entry_id} does not exist")
        with self.lock:
            self.reload_lists()

    def remove_suppression(self, suppression_id: int) -> None:
        with self.db.begin() as conn:
            if not repo.delete_suppression(conn, suppression_id):
                raise NotFound(f"suppression {suppression_id} does not exist")
        with self.lock:
            self.reload_lists()

    def list_rows(self) -> dict[str, list[dict[str, Any]]]:
        with self.db.connect() as conn:
            return {"entries": repo.list_entries(conn), "suppressions": repo.suppressions(conn)}


def _four_eyes(maker: str, checker: str, what: str) -> None:
    """Maker–checker: whoever uploaded a version can never be the one who makes it live."""
    if maker == checker:
        raise Forbidden(
            f"{what} was uploaded by {maker}; a second principal with the approver role or the "
            "'rules:approve' scope must approve it",
            errors=[FieldError("approver", "the uploader cannot approve their own change")],
        )


def _epoch(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@functools.lru_cache(maxsize=8)
def _compiled_version(version: int, sha256: str, source: str) -> RuleSet | None:
    """A past rule-set version compiled for explanations (keyed by its hash too: a test
    database reuses version numbers); None when it no longer compiles."""
    try:
        return parse_ruleset(source, file=f"ruleset-v{version}.yaml")
    except RuleSetError:
        return None


def _canonical(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
