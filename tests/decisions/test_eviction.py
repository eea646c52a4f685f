"""Window-state eviction: keys equivalent to a fresh state leave memory (and the checkpoint),
and no decision changes because of it — engine only, in-process, and across a restart."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from fixtures import MISSING, T0, default_ruleset, make_event
from lendguard.db import make_engine
from lendguard.decisions.engine import evaluate
from lendguard.decisions.features.compute import (
    apply_event,
    compute_all,
    open_context,
    record_fraud_label,
)
from lendguard.decisions.features.state import LATE_EVENT_S, RETENTION_S, EntityState
from lendguard.decisions.policy import ListsView
from lendguard.decisions.service import DecisionService
from lendguard.decisions.state import EvictionClock, MemoryStateStore, SharedStateStore, _unstamp
from lendguard.events.parse import parse_event
from lendguard.events.schemas import Event
from lendguard.graph.index import LinkIndex
from lendguard.models import SharedEntityState, StateSnapshot

ServiceFactory = Callable[..., DecisionService]
DAY = timedelta(days=1)


def engine_decisions(
    raws: list[dict[str, Any]], store: MemoryStateStore, seen: list[Any] | None = None
) -> list[tuple[Any, ...]]:
    """Decide in order as ``bench_engine_only`` does (open_context, evaluate, apply_event,
    save): what each event got (and, into ``seen``, every feature it saw)."""
    ruleset, lists, graph = default_ruleset(), ListsView(), LinkIndex()
    out = []
    for seq, raw in enumerate(raws, start=1):
        event = Event.model_validate(raw)
        ctx = open_context(event, store.load, graph)
        if seen is not None:
            seen.append(compute_all(ctx))
            ctx.memo.clear()
        result = evaluate(ctx, ruleset, lists)
        apply_event(event, ctx.states, ctx)
        store.save(ctx.states.by_key, seq)
        out.append(
            (
                result.action.value,
                result.score,
                [r.as_dict() for r in result.reasons],
                [m.value for m in result.measures],
            )
        )
    return out


def eager(store: MemoryStateStore) -> MemoryStateStore:
    """Sweep at every save: every key is visited many times over a short test."""
    store.sweep_every = 1
    return store


def memory(service: DecisionService) -> MemoryStateStore:
    assert isinstance(service.store, MemoryStateStore)
    return service.store


def essence(decision: dict[str, Any]) -> tuple[Any, ...]:
    return (decision["action"], decision["score"], decision["reasons"], decision["measures"])


KINDS = ["transfer", "payment", "withdrawal", "deposit", "login", "disbursement", "application"]
GAPS = st.one_of(
    st.integers(0, 3_600),  # within the hour
    st.integers(3_600, 3 * 86_400),  # hours to days
    st.integers(20 * 86_400, 45 * 86_400),  # across the windows and the retention
)

step = st.tuples(
    GAPS,
    st.integers(0, LATE_EVENT_S),  # how late this event is behind the clock
    st.integers(0, 2),  # customer
    st.integers(0, 3),  # device
    st.integers(0, 2),  # ip
    st.integers(0, 3),  # payee
    st.sampled_from(KINDS),
    st.sampled_from(["80", "1000", "4000", "19000"]),
)


def build(steps: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    clock = T0
    raws = []
    for gap, late, customer, device, ip, payee, kind, amount in steps:
        clock += timedelta(seconds=gap)
        raws.append(
            make_event(
                type=kind,
                occurred_at=clock - timedelta(seconds=late),
                customer_id=f"cust-{customer}",
                device_id=f"dev-{device}",
                ip=f"10.0.0.{ip}",
                payee_id=f"payee-{payee}" if kind != "login" else MISSING,
                amount=amount if kind != "login" else MISSING,
            )
        )
    return raws


@settings(max_examples=40, deadline=None)
@given(st.lists(step, min_size=1, max_size=40))
@example(  # a device idle 36 days, then an event 6.9 days late whose 30-day window reaches it
    [
        (0, 0, 0, 0, 0, 0, "login", "80"),
        (36 * 86_400, 0, 1, 1, 1, 1, "login", "80"),
        (0, 596_160, 2, 0, 2, 2, "login", "80"),
    ]
)
def test_eviction_changes_no_decision(steps: list[tuple[Any, ...]]) -> None:
    """Events up to LATE_EVENT_S late, gaps across the windows and the retention: the same
    decisions with a store that evicts at every save and one that never evicts."""
    raws = build(steps)
    kept_all = MemoryStateStore(engine=None, evict=False)
    evicting = eager(MemoryStateStore(engine=None))
    seen_kept: list[Any] = []
    seen_evicting: list[Any] = []
    assert engine_decisions(raws, evicting, seen_evicting) == engine_decisions(
        raws, kept_all, seen_kept
    )
    # Not only the decisions: every feature of every event (the 30-day windows of devices,
    # IPs and payees included, which few rules read).
    assert seen_evicting == seen_kept
    assert set(evicting.states) <= set(kept_all.states)
    assert len(evicting.states) + evicting.evicted_total >= len(kept_all.states)


def test_a_workload_over_the_retention_does_evict_and_decides_alike() -> None:
    """The property above is not vacuous: over 120 days, keys do go, decisions stay."""
    steps = [
        (gap, 0, i % 3, i % 4, i % 3, i % 4, KINDS[i % len(KINDS)], "1000")
        for i, gap in enumerate([40 * 86_400 if i % 7 == 6 else 3_600 for i in range(30)])
    ]
    raws = build(steps)
    kept_all = MemoryStateStore(engine=None, evict=False)
    evicting = eager(MemoryStateStore(engine=None))
    assert engine_decisions(raws, evicting) == engine_decisions(raws, kept_all)
    assert evicting.evicted_total > 0
    assert len(evicting.states) < len(kept_all.states)


def test_idle_key_goes_busy_key_and_customer_stay() -> None:
    raws = [
        make_event(occurred_at=T0, device_id="idle-phone", payee_id="idle-payee"),
        *[
            make_event(occurred_at=T0 + day * DAY, device_id="busy-phone", payee_id="busy-payee")
            for day in range(0, 80, 10)
        ],
    ]
    store = eager(MemoryStateStore(engine=None))
    engine_decisions(raws, store)
    for _ in range(10):  # a few more slices: every key is visited
        store.save({}, len(raws))
    # The clock is the median of the last five events' times (day 50), robust to a stray one.
    assert store.clock.now == (T0 + 50 * DAY).timestamp()
    assert "d:idle-phone" not in store.states
    assert "p:idle-payee" not in store.states
    assert "cp:cust-1|idle-payee" not in store.states
    assert "d:busy-phone" in store.states
    assert "p:busy-payee" in store.states
    # The customer keeps what outlives the windows (known counterparts, profile): never evicted.
    assert "c:cust-1" in store.states
    assert "payee:idle-payee" in store.states["c:cust-1"].known


def test_eviction_waits_for_the_full_retention() -> None:
    """Idle for the windows plus the lateness allowed, not one second less."""
    state = EntityState()
    state.add(1_000.0, "login", 0.0, "cust-1", "e1")
    assert not state.fresh_after(999.0)
    assert state.fresh_after(1_000.0)
    store = eager(MemoryStateStore(engine=None))
    store.states["d:x"] = state
    store._order.append("d:x")
    del state
    ahead = store.load(["d:clock"])
    ahead["d:clock"].add(1_000.0 + RETENTION_S - 1, "login", 0.0, "cust-2", "e2")
    for _ in range(EvictionClock.SAMPLES):  # the clock takes the median of its samples
        store.save(ahead, 2)
    store.save({}, 2)
    assert "d:x" in store.states
    ahead["d:clock"].add(1_000.0 + RETENTION_S, "login", 0.0, "cust-2", "e3")
    for _ in range(EvictionClock.SAMPLES):
        store.save(ahead, 3)
    del ahead
    store.save({}, 3)
    assert "d:x" not in store.states


def test_one_event_dated_years_ahead_evicts_nothing() -> None:
    """A stray timestamp (a lender's clock bug, 2099) does not make every key look idle: the
    clock is the median of the last events' times."""
    store = eager(MemoryStateStore(engine=None))
    now = 1_000.0 + RETENTION_S
    idle = store.load(["d:idle"])
    idle["d:idle"].add(now - 40 * 86_400.0, "login", 0.0, "cust-1", "e0")
    store.save(idle, 1)
    del idle
    busy = store.load(["d:busy"])
    for seq in range(2, 12):
        busy["d:busy"].add(now + seq, "login", 0.0, "cust-1", f"e{seq}")
        store.save(busy, seq)
    recent = store.load(["d:recent"])
    recent["d:recent"].add(now - 86_400.0, "login", 0.0, "cust-2", "r1")
    store.save(recent, 12)
    del recent
    future = store.load(["d:bug"])
    future["d:bug"].add(4_070_908_800.0, "login", 0.0, "cust-3", "bug")  # 2099-01-01
    store.save(future, 13)
    del future
    for seq in range(14, 30):
        busy["d:busy"].add(now + seq, "login", 0.0, "cust-1", f"e{seq}")
        store.save(busy, seq)
    del busy
    assert store.clock.now < now + 60
    assert "d:recent" in store.states  # a day old: kept
    assert "d:idle" not in store.states  # 40 days idle: evicted as before


def test_labelled_payee_and_held_state_are_kept() -> None:
    """Fraud labels are counted however old (no look-back): a labelled payee stays; a state
    someone else holds (a decision in flight) is left for a later pass."""
    store = eager(MemoryStateStore(engine=None))
    states = store.load(["p:mule", "d:held", "d:free"])
    for key in states:
        states[key].add(0.0, "transfer", 10.0, "cust-1", "e1")
    record_fraud_label(states["p:mule"], 10.0)
    held = states["d:held"]
    del states
    clock = store.load(["d:clock"])
    clock["d:clock"].add(2 * RETENTION_S, "login", 0.0, "cust-2", "e2")
    for _ in range(EvictionClock.SAMPLES):  # the clock takes the median of its samples
        store.save(clock, 2)
    store.save({}, 2)
    assert "p:mule" in store.states
    assert "d:held" in store.states
    assert "d:free" not in store.states
    del held
    store.save({}, 2)
    store.save({}, 2)
    assert "d:held" not in store.states


def long_history() -> list[dict[str, Any]]:
    """Two customers over 100 days: devices and payees used once early, then idle."""
    raws = []
    for day in range(0, 100, 3):
        at = T0 + day * DAY
        raws.append(
            make_event(
                customer_id="cust-a",
                occurred_at=at,
                device_id=f"phone-{day // 30}",
                payee_id=f"shop-{day // 20}",
                amount="2500",
            )
        )
        raws.append(
            make_event(
                type="login",
                customer_id="cust-b",
                occurred_at=at + timedelta(hours=1),
                device_id=f"tablet-{day // 40}",
                payee_id=MISSING,
                amount=MISSING,
            )
        )
    return raws


def probe() -> dict[str, Any]:
    return make_event(
        customer_id="cust-a",
        occurred_at=T0 + 101 * DAY,
        device_id="phone-0",
        payee_id="shop-0",
        amount="2500",
    )


def test_restart_after_eviction_decides_alike(
    database_url: str, service_factory: ServiceFactory
) -> None:
    """Evicted keys' rows leave the checkpoint; a restart (clean, then after a crash with
    events past the checkpoint) restores without them and decides like a store that never
    evicted anything."""
    raws = long_history()
    first = service_factory(database_url, checkpoint_every=5)
    store = eager(memory(first))
    decided = [first.decide(parse_event(raw)) for raw in raws]
    assert store.evicted_total > 0
    assert "d:phone-0" not in store.states
    first.close()
    with first.db.connect() as conn:
        rows = {key for (key,) in conn.execute(select(StateSnapshot.key))}
    assert not {"d:phone-0", "~1:d:phone-0"} & rows
    assert rows  # the busy keys are still checkpointed

    reference = MemoryStateStore(engine=None, evict=False)
    expected = engine_decisions([*raws, probe()], reference)
    assert [essence(d) for d in decided] == expected[: len(raws)]

    second = service_factory(database_url, checkpoint_every=1_000)
    second_store = memory(second)
    assert "d:phone-0" not in second_store.states
    assert set(second_store.states) == set(store.states)
    assert essence(second.decide(parse_event(probe()))) == expected[-1]
    # The process dies here: the probe is in the log, not in a checkpoint.
    third = service_factory(database_url, checkpoint_every=1_000)
    assert memory(third).seq == len(raws) + 1  # the probe came back from the log
    later = make_event(
        customer_id="cust-a",
        occurred_at=T0 + 102 * DAY,
        device_id="phone-0",
        payee_id="shop-0",
        amount="2500",
    )
    again = engine_decisions([*raws, probe(), later], MemoryStateStore(evict=False))
    assert essence(third.decide(parse_event(later))) == again[-1]


def test_key_evicted_during_a_background_checkpoint(sqlite_url: str) -> None:
    """A key evicted while the background checkpoint has not serialised it yet is serialised
    first (the checkpoint holds every key as of its seq); the next checkpoint deletes its
    rows, and a restore no longer has it."""
    engine = make_engine(sqlite_url)
    store = MemoryStateStore(engine, checkpoint_every=1, background_from_keys=1, evict=False)
    old = ["d:old-1", "d:old-2", "p:old-3"]
    states = store.load(old)
    for key in old:
        states[key].add(0.0, "transfer", 10.0, "cust-1", "e1")
    store.save(states, 1)
    store.checkpoint()
    for key in old:
        states[key].add(1.0, "transfer", 10.0, "cust-1", "e2")
    store.save(states, 2)
    del states
    clock = store.load(["d:clock"])
    clock["d:clock"].add(RETENTION_S + 10.0, "login", 0.0, "cust-2", "e3")
    store.save(clock, 3)

    release = threading.Event()

    def hold(stage: str) -> None:
        if stage == "serialise":
            release.wait(10)

    store.checkpoint_hook = hold
    store.maybe_checkpoint()
    assert store._writer is not None  # held before serialising anything
    assert set(old) <= store._pending
    store.evict, store.sweep_every = True, 1
    for _ in range(EvictionClock.SAMPLES):  # the clock takes the median of its samples
        store.save(clock, 3)
    del clock
    for _ in range(10):  # one key a slice
        store.save({}, 3)
    assert not set(old) & set(store.states)
    release.set()
    store.wait_for_checkpoint()
    store.checkpoint_hook = None

    def stamps() -> dict[str, int]:
        with engine.connect() as conn:
            rows = conn.execute(select(StateSnapshot.key, StateSnapshot.blob)).all()
        out: dict[str, int] = {}
        for key, blob in rows:
            name = key.removeprefix("~1:")
            out[name] = max(out.get(name, -1), _unstamp(blob)[0])
        return out

    assert {key: stamps()[key] for key in old} == dict.fromkeys(old, 3)
    store.seq = 4
    store.checkpoint()
    assert set(stamps()) == {"d:clock"}
    restored = MemoryStateStore(engine)
    restored.restore(lambda seq: 0)
    assert set(restored.states) == {"d:clock"}
    # The clock is learnt again from the events decided after a restart (it never jumps ahead).
    assert restored.clock.now == float("-inf")
    engine.dispose()


def test_shared_store_evicts_and_decides_alike(
    database_url: str, service_factory: ServiceFactory
) -> None:
    """The shared store's rows of idle keys are deleted by the decisions' own transactions;
    a deleted key comes back empty when locked again, and every decision is the same."""
    raws = long_history()
    service = service_factory(database_url, shared=True)
    store = service.store
    assert isinstance(store, SharedStateStore)
    store.sweep_every = 1
    decided = [service.decide(parse_event(raw)) for raw in raws]
    assert store.evicted_total > 0
    with service.db.connect() as conn:
        rows = {key for (key,) in conn.execute(select(SharedEntityState.key))}
    assert "d:phone-0" not in rows
    assert "p:shop-0" not in rows
    assert {"c:cust-a", "c:cust-b", "d:phone-3"} <= rows
    expected = engine_decisions([*raws, probe()], MemoryStateStore(evict=False))
    assert [essence(d) for d in decided] == expected[: len(raws)]
    assert essence(service.decide(parse_event(probe()))) == expected[-1]
