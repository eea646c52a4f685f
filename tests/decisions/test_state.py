"""State stores: the in-process store survives restarts (checkpoint + replay), and the Redis
store gives the same decisions as the in-process one."""

from __future__ import annotations

import shutil
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
from lendguard.decisions.features.compute import FeatureContext, compute_all, entity_keys
from lendguard.decisions.features.state import EntityState, StateBundle
from lendguard.decisions.service import DecisionService
from lendguard.decisions.state import MemoryStateStore, RedisStateStore
from lendguard.events.parse import parse_event
from lendguard.events.schemas import Event
from lendguard.kit.timeutil import LONGEST_WINDOW_S
from lendguard.models import StateCheckpoint

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


class TestRedisStateStore:
    def test_save_load_round_trip(self, redis_store: RedisStateStore) -> None:
        state = _sample_state()
        redis_store.save({"c:alice": state}, seq=1)
        loaded = redis_store.load(["c:alice", "c:nobody"])
        assert snapshot({"c:alice": loaded["c:alice"]}) == snapshot({"c:alice": state})
        assert len(loaded["c:nobody"]) == 0
        assert loaded["c:nobody"].known == {}

    def test_keys_expire_after_the_longest_window(self, redis_store: RedisStateStore) -> None:
        redis_store.save({"c:alice": _sample_state()}, seq=1)
        ttl = redis_store.client.ttl(redis_store.prefix + "c:alice")
        assert LONGEST_WINDOW_S < ttl <= LONGEST_WINDOW_S + 86_400

    def test_prefixes_are_isolated_and_clear_is_scoped(
        self, redis_store_factory: Callable[[], RedisStateStore]
    ) -> None:
        one, two = redis_store_factory(), redis_store_factory()
        one.save({"c:x": _sample_state()}, seq=1)
        assert len(two.load(["c:x"])["c:x"]) == 0
        two.save({"c:x": EntityState()}, seq=1)
        one.clear()
        assert len(one.load(["c:x"])["c:x"]) == 0
        assert two.client.exists(two.prefix + "c:x") == 1

    def test_ping(self, redis_store: RedisStateStore) -> None:
        assert redis_store.ping() is True

    def test_same_decisions_as_the_memory_store(
        self,
        redis_store: RedisStateStore,
        service_factory: ServiceFactory,
        sqlite_template: Path,
        tmp_path: Path,
    ) -> None:
        urls = []
        for name in ("memory.db", "redis.db"):
            shutil.copyfile(sqlite_template, tmp_path / name)
            urls.append(f"sqlite:///{tmp_path / name}")
        in_process = service_factory(urls[0])
        shared = service_factory(urls[1], store=redis_store)
        events = [*stream(), next_event()]
        with_memory = [essence(d) for d in decide_all(in_process, events)]
        with_redis = [essence(d) for d in decide_all(shared, events)]
        assert with_redis == with_memory
        assert with_redis[-1] == essence(reference(stream()).decide(next_event()))
        assert "intercept" in {d["action"] for d in with_redis}

    def test_a_second_process_continues_from_redis(
        self,
        redis_url: str,
        redis_store: RedisStateStore,
        service_factory: ServiceFactory,
        sqlite_url: str,
    ) -> None:
        events = stream()
        first = service_factory(sqlite_url, store=redis_store)
        decide_all(first, events[:-1])
        # another worker on the same key space and database decides the last event
        second_store = RedisStateStore(redis_url, prefix=redis_store.prefix)
        try:
            second = service_factory(sqlite_url, store=second_store)
            last = second.decide(parse_event(events[-1]))
        finally:
            second_store.close()
        expected = reference(events[:-1]).decide(events[-1])
        assert essence(last) == essence(expected)
        assert last["action"] == "intercept"
