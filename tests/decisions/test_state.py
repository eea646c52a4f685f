"""State stores: the in-process store survives restarts (checkpoint + replay), and the shared
(database) store gives the same decisions as the in-process one, across processes too."""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from fixtures import (
    MISSING,
    T0,
    EngineRun,
    count_rows,
    make_event,
    r39_control_events,
    r39_scam_events,
)
from lendguard.db import make_engine
from lendguard.decisions.features.compute import FeatureContext, compute_all, entity_keys
from lendguard.decisions.features.state import EntityState, StateBundle
from lendguard.decisions.service import DecisionService
from lendguard.decisions.state import MemoryStateStore, SharedStateStore, _unstamp
from lendguard.events.parse import parse_event
from lendguard.events.schemas import Event
from lendguard.models import SharedEntityState, StateCheckpoint, StateSnapshot

ServiceFactory = Callable[..., DecisionService]


def stream() -> list[dict[str, Any]]:
    """Two scam victims, one ordinary customer, a shared device: 34 events in arrival order."""
    shared = [
        make_event(
            type="application",
            customer_id=f"ring-{i}",
            device_id="farm-phone",
            ip="10.9.9.9",
            amount="5000",
            payee_id=MISSING,
            occurred_at=T0 + timedelta(minutes=i),
        )
        for i in range(4)
    ]
    return [
        *r39_control_events(customer_id="tenant"),
        *shared,
        *r39_scam_events(customer_id="victim-a"),
        *r39_scam_events(customer_id="victim-b", t0=T0 + timedelta(hours=1)),
    ]


def next_event() -> dict[str, Any]:
    """The event decided after a restart: it reads every kind of state the stream built."""
    return make_event(
        customer_id="victim-a",
        device_id="farm-phone",
        ip="10.9.9.9",
        payee_id="safe-account-666",
        amount="500",
        occurred_at=T0 + timedelta(minutes=20),
    )


def essence(decision: Any) -> dict[str, Any]:
    """What must be equal between two runs (ids, timestamps and latency differ)."""
    if isinstance(decision, dict):
        return {
            "action": decision["action"],
            "score": decision["score"],
            "reasons": decision["reasons"],
            "measures": decision["measures"],
            "messages": decision["messages"],
            "guardrails": decision["guardrails"],
        }
    return {
        "action": decision.action.value,
        "score": decision.score,
        "reasons": [r.as_dict() for r in decision.reasons],
        "measures": [m.value for m in decision.measures],
        "messages": decision.messages,
        "guardrails": decision.guardrails,
    }


def snapshot(states: dict[str, EntityState]) -> dict[str, tuple[Any, ...]]:
    return {
        key: (s.ts, s.kind, s.amount, s.other, s.event_ids, s.known, s.stats, s.truncated)
        for key, s in states.items()
        if len(s) or s.known or s.stats
    }


def features_seen(states: dict[str, EntityState], raw: dict[str, Any]) -> dict[str, Any]:
    """Every feature the event would see over these states (computed on copies)."""
    event = Event.model_validate(raw)
    keys = entity_keys(event)
    copies = {
        k: EntityState.from_bytes(states[k].to_bytes()) if k in states else EntityState()
        for k in keys.values()
    }
    return compute_all(FeatureContext(event, StateBundle(keys, copies)))


def reference(events: list[dict[str, Any]]) -> EngineRun:
    run = EngineRun()
    run.decide_all(events)
    return run


def decide_all(service: DecisionService, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [service.decide(parse_event(e)) for e in events]


def memory(service: DecisionService) -> MemoryStateStore:
    assert isinstance(service.store, MemoryStateStore)
    return service.store


class TestMemoryStoreRestart:
    def test_clean_restart_restores_every_state(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        events = stream()
        first = service_factory(database_url)
        decide_all(first, events)
        first.close()

        second = service_factory(database_url)
        expected = reference(events)
        assert snapshot(memory(second).states) == snapshot(expected.store.states)
        assert memory(second).seq == len(events)

    @pytest.mark.parametrize(
        ("checkpoint_every", "checkpointed_seq"),
        [(5, 30), (1_000, 0)],
        ids=["events-after-the-last-checkpoint", "no-checkpoint-at-all"],
    )
    def test_crash_replays_events_after_the_checkpoint(
        self,
        database_url: str,
        service_factory: ServiceFactory,
        checkpoint_every: int,
        checkpointed_seq: int,
    ) -> None:
        events = stream()
        crashed = service_factory(database_url, checkpoint_every=checkpoint_every)
        decide_all(crashed, events)
        # the process dies: no close(), the in-memory states are lost (the service is abandoned)
        with crashed.db.connect() as conn:
            stored_seq = conn.execute(select(StateCheckpoint.seq)).scalar()
        assert (stored_seq or 0) == checkpointed_seq

        restarted = service_factory(database_url, checkpoint_every=checkpoint_every)
        expected = reference(events)
        assert snapshot(memory(restarted).states) == snapshot(expected.store.states)

    @pytest.mark.parametrize("checkpoint_every", [3, 1_000])
    def test_next_event_sees_the_same_features_and_gets_the_same_decision(
        self, database_url: str, service_factory: ServiceFactory, checkpoint_every: int
    ) -> None:
        events = stream()
        crashed = service_factory(database_url, checkpoint_every=checkpoint_every)
        decide_all(crashed, events)

        restarted = service_factory(database_url, checkpoint_every=checkpoint_every)
        expected = reference(events)
        probe = next_event()
        seen = features_seen(memory(restarted).states, probe)
        assert seen == features_seen(expected.store.states, probe)
        assert seen["customer_event_count_1h"] == 2
        assert seen["device_distinct_customer_24h"] == 4
        assert essence(restarted.decide(parse_event(probe))) == essence(expected.decide(probe))

    def test_restart_then_more_events_then_restart(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        events = stream()
        half = len(events) // 2
        one = service_factory(database_url, checkpoint_every=4)
        decide_all(one, events[:half])
        two = service_factory(database_url, checkpoint_every=4)
        decide_all(two, events[half:])
        three = service_factory(database_url, checkpoint_every=4)
        assert snapshot(memory(three).states) == snapshot(reference(events).store.states)

    def test_idempotent_repeat_after_restart_changes_nothing(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        events = stream()
        one = service_factory(database_url, checkpoint_every=7)
        decisions = decide_all(one, events)
        two = service_factory(database_url, checkpoint_every=7)
        before = snapshot(memory(two).states)
        again = two.decide(parse_event(events[-1]))
        assert again["decision_id"] == decisions[-1]["decision_id"]
        assert snapshot(memory(two).states) == before
        assert count_rows(two.db, "events") == len(events)

    def test_checkpoint_writes_only_changed_keys(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        service = service_factory(database_url, checkpoint_every=1)
        service.decide(
            parse_event(
                make_event(
                    customer_id="a", device_id=MISSING, ip=MISSING, payee_id=MISSING, type="login"
                )
            )
        )
        assert count_rows(service.db, "state_snapshots") == 1
        service.decide(
            parse_event(
                make_event(
                    customer_id="b", device_id=MISSING, ip=MISSING, payee_id=MISSING, type="login"
                )
            )
        )
        assert count_rows(service.db, "state_snapshots") == 2
        assert memory(service).dirty == set()

    def test_clear_forgets_state_and_checkpoint(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        service = service_factory(database_url, checkpoint_every=1)
        decide_all(service, stream()[:3])
        service.store.clear()
        assert memory(service).states == {}
        assert count_rows(service.db, "state_snapshots") == 0
        assert count_rows(service.db, "state_checkpoint") == 0


def state_bytes(*stores: dict[str, EntityState]) -> list[dict[str, bytes]]:
    """Every key's serialised state in each store (a key a store lacks: an empty state)."""
    keys = set().union(*stores)
    return [{k: (s.get(k) or EntityState()).to_bytes() for k in sorted(keys)} for s in stores]


class HeldCheckpoint:
    """A checkpoint hook that holds the first background checkpoint at one phase until the
    test releases it (and, with ``fail_at``, fails every checkpoint at that phase after the
    first one), so a test controls exactly what happens while a checkpoint is being written."""

    def __init__(self, hold_at: str | None = None, fail_at: str | None = None) -> None:
        self.hold_at, self.fail_at = hold_at, fail_at
        self.reached = threading.Event()
        self.release = threading.Event()
        self.phases: list[str] = []
        self.checkpoints = 0

    def __call__(self, phase: str) -> None:
        self.phases.append(phase)
        if phase == "serialise":
            self.checkpoints += 1
        if phase == self.hold_at and self.checkpoints == 1:
            self.reached.set()
            assert self.release.wait(timeout=30), "the test never released the checkpoint"
        if phase == self.fail_at and self.checkpoints > 1:
            raise RuntimeError("the process died while writing this checkpoint")


def held_store(database_url: str, hook: HeldCheckpoint, every: int = 10) -> MemoryStateStore:
    """A memory store that checkpoints every ``every`` events, always in the background."""
    store = MemoryStateStore(make_engine(database_url), checkpoint_every=every)
    store.background_from_keys = 0
    store.checkpoint_hook = hook
    return store


class TestCheckpointWhileDeciding:
    """The checkpoint is written by a background thread while decisions go on: what it writes
    is still every state exactly as of its ``seq`` (a key changed meanwhile is copied first),
    so a restart (checkpoint + replay) gives the states of a service that never restarted."""

    @pytest.mark.parametrize("hold_at", ["serialise", "write", "checkpoint-row"])
    def test_states_changed_during_the_checkpoint_are_checkpointed_as_of_its_seq(
        self, database_url: str, service_factory: ServiceFactory, hold_at: str
    ) -> None:
        events = stream()
        hook = HeldCheckpoint(hold_at=hold_at)
        store = held_store(database_url, hook)
        running = service_factory(database_url, store=store)
        decide_all(running, events[:10])
        assert hook.reached.wait(timeout=30)
        # Held half-way: the next events change keys the checkpoint has (or has not yet)
        # serialised, and no second checkpoint starts over it.
        decide_all(running, events[10:])
        hook.release.set()
        store.wait_for_checkpoint()
        with running.db.connect() as conn:
            assert conn.execute(select(StateCheckpoint.seq)).scalar() == 10
        assert hook.checkpoints == 1

        # The checkpoint alone (nothing replayed) is the state after exactly its 10 events.
        as_checkpointed = MemoryStateStore(make_engine(database_url))
        as_checkpointed.restore(lambda seq: 0)
        after_ten = reference(events[:10]).store.states
        restored, expected = state_bytes(as_checkpointed.states, after_ten)
        assert restored == expected
        as_checkpointed.engine.dispose()  # type: ignore[union-attr]

        # The process dies now; a restart (checkpoint + replay) gives every state the
        # never-restarted service holds, byte for byte.
        restarted = service_factory(database_url)
        restored, never_restarted = state_bytes(memory(restarted).states, store.states)
        assert restored == never_restarted
        assert snapshot(memory(restarted).states) == snapshot(reference(events).store.states)
        store.engine.dispose()  # type: ignore[union-attr]

    def test_a_crash_half_way_through_writing_keeps_the_last_checkpoint_whole(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        events = stream()
        hook = HeldCheckpoint(fail_at="checkpoint-row")
        store = held_store(database_url, hook)
        crashed = service_factory(database_url, store=store)
        try:
            decide_all(crashed, events[:20])
            store.wait_for_checkpoint()
            decide_all(crashed, events[20:])
            store.wait_for_checkpoint()
            # Every checkpoint after the first wrote its rows, then died before its row.
            assert hook.checkpoints >= 2
            with crashed.db.connect() as conn:
                assert conn.execute(select(StateCheckpoint.seq)).scalar() == 10
                blobs = conn.execute(select(StateSnapshot.blob)).scalars().all()
            # the rows of the unfinished checkpoints are there
            assert max(_unstamp(blob)[0] for blob in blobs) > 10

            restarted = service_factory(database_url)
            assert memory(restarted).checkpoint_seq == 10
            restored, never_restarted = state_bytes(memory(restarted).states, store.states)
            assert restored == never_restarted
        finally:
            hook.fail_at = None  # the abandoned service checkpoints when torn down
        store.engine.dispose()  # type: ignore[union-attr]

    def test_close_finishes_the_checkpoint_in_progress_and_the_rest(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        events = stream()
        hook = HeldCheckpoint(hold_at="write")
        store = held_store(database_url, hook)
        closing = service_factory(database_url, store=store)
        decide_all(closing, events)
        assert hook.reached.wait(timeout=30)
        hook.release.set()
        closing.close()
        assert store.dirty == set()
        with closing.db.connect() as conn:
            assert conn.execute(select(StateCheckpoint.seq)).scalar() == len(events)

        restarted = service_factory(database_url)
        assert memory(restarted).checkpoint_seq == len(events)
        restored, before_close = state_bytes(memory(restarted).states, store.states)
        assert restored == before_close
        store.engine.dispose()  # type: ignore[union-attr]

    def test_a_rebuild_drops_the_checkpoint_in_progress(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        events = stream()
        hook = HeldCheckpoint(hold_at="serialise")
        store = held_store(database_url, hook)
        service = service_factory(database_url, store=store)
        decide_all(service, events[:10])
        assert hook.reached.wait(timeout=30)
        # The rebuild cancels the held checkpoint, and waits for its thread: let it go.
        threading.Timer(0.05, hook.release.set).start()
        with service.lock:
            service._rebuild_state()
        with service.db.connect() as conn:
            assert conn.execute(select(StateCheckpoint.seq)).scalar() is None
        decide_all(service, events[10:])
        store.wait_for_checkpoint()
        rebuilt, expected = state_bytes(store.states, reference(events).store.states)
        assert rebuilt == expected
        store.engine.dispose()  # type: ignore[union-attr]


def _sample_state() -> EntityState:
    state = EntityState()
    t0 = T0.timestamp()
    for i in range(5):
        state.add(t0 + i * 60, "transfer", 100.5 * i, f"p{i % 2}", f"e{i}")
    state.remember("payee:p0", t0)
    state.remember("payee:p0", t0 + 86_400)
    state.remember("device:d1", t0)
    state.stats.update(
        {
            "birth_date": "2003-11-22",
            "is_student": True,
            "lifetime_outflow_count": 5,
            "lifetime_outflow_max": 402.0,
            "created_at": t0 - 1e6,
        }
    )
    state.truncated = True
    return state


class TestEntityStateBytes:
    def test_round_trip(self) -> None:
        state = _sample_state()
        again = EntityState.from_bytes(state.to_bytes())
        assert snapshot({"k": again}) == snapshot({"k": state})


class TestSharedStateStore:
    """The database-backed state several processes share: exact, written with the decision."""

    def test_lock_write_load_round_trip(self, database_url: str) -> None:
        store = SharedStateStore(make_engine(database_url))
        try:
            state = _sample_state()
            with store.engine.begin() as conn:
                locked = store.lock(conn, ["c:alice", "c:nobody"])
                assert len(locked["c:alice"]) == 0  # created empty under the lock
                store.write(conn, {"c:alice": state}, seq=7)
            loaded = store.load(["c:alice", "c:nobody", "c:never"])
            assert snapshot({"c:alice": loaded["c:alice"]}) == snapshot({"c:alice": state})
            assert len(loaded["c:nobody"]) == 0
            assert len(loaded["c:never"]) == 0
            with store.engine.connect() as conn:
                rows = dict(
                    conn.execute(select(SharedEntityState.key, SharedEntityState.seq)).all()
                )
            assert rows == {"c:alice": 7, "c:nobody": 0}
        finally:
            store.engine.dispose()

    def test_a_rolled_back_group_leaves_the_state_as_it_was(self, database_url: str) -> None:
        store = SharedStateStore(make_engine(database_url))
        try:
            with store.engine.begin() as conn:
                store.lock(conn, ["c:bob"])
                store.write(conn, {"c:bob": _sample_state()}, seq=1)

            def fail_after_the_write() -> None:
                with store.engine.begin() as conn:
                    store.lock(conn, ["c:bob"])
                    store.write(conn, {"c:bob": EntityState()}, seq=2)
                    raise RuntimeError("the decision failed after the write")

            with pytest.raises(RuntimeError):
                fail_after_the_write()
            assert len(store.load(["c:bob"])["c:bob"]) == len(_sample_state())
        finally:
            store.engine.dispose()

    def test_same_decisions_as_the_memory_store(
        self, service_factory: ServiceFactory, sqlite_template: Path, database_url: str
    ) -> None:
        in_process = service_factory(_copy(sqlite_template, "memory.db"))
        shared = service_factory(database_url, shared=True)
        events = [*stream(), next_event()]
        with_memory = [essence(d) for d in decide_all(in_process, events)]
        with_shared = [essence(d) for d in decide_all(shared, events)]
        assert with_shared == with_memory
        assert with_shared[-1] == essence(reference(stream()).decide(next_event()))
        assert "intercept" in {d["action"] for d in with_shared}

    def test_a_batch_gives_the_same_decisions_as_one_by_one(
        self, service_factory: ServiceFactory, sqlite_template: Path, database_url: str
    ) -> None:
        one_by_one = service_factory(_copy(sqlite_template, "memory.db"))
        shared = service_factory(database_url, shared=True)
        events = [*stream(), next_event()]
        expected = [essence(d) for d in decide_all(one_by_one, events)]
        batch = shared.decide_many([parse_event(e) for e in events])
        assert [essence(d) for d in batch] == expected
        # the same batch again: the same answers, nothing written twice
        again = shared.decide_many([parse_event(e) for e in events])
        assert [d["decision_id"] for d in again] == [d["decision_id"] for d in batch]
        assert count_rows(shared.db, "decisions") == len(events)

    def test_two_processes_interleaving_share_every_count(
        self, service_factory: ServiceFactory, database_url: str
    ) -> None:
        """Two deciders on one database, taking turns on one stream: each sees what the other
        wrote (window state through the locked rows, the ring through the log follower)."""
        first = service_factory(database_url, shared=True)
        second = service_factory(database_url, shared=True)
        events = stream()
        decided = [
            (first if index % 2 else second).decide(parse_event(event))
            for index, event in enumerate(events)
        ]
        run = EngineRun()
        assert [essence(d) for d in decided] == [essence(run.decide(event)) for event in events]
        last = first.decide(parse_event(next_event()))
        assert essence(last) == essence(run.decide(next_event()))
        assert last["action"] == "intercept"

    def test_a_second_process_continues_from_the_database(
        self, service_factory: ServiceFactory, database_url: str
    ) -> None:
        events = stream()
        first = service_factory(database_url, shared=True)
        decide_all(first, events[:-1])
        second = service_factory(database_url, shared=True)
        last = second.decide(parse_event(events[-1]))
        expected = reference(events[:-1]).decide(events[-1])
        assert essence(last) == essence(expected)
        assert last["action"] == "intercept"


def _copy(template: Path, name: str) -> str:
    target = template.parent / f"{uuid.uuid4().hex}-{name}"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"
