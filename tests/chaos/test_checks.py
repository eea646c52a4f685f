"""The fault matrix's own checks, fast and without services: the reference replay reads stored
(already pseudonymised) bodies without hashing them again, the comparison finds nothing when
both sides agree, and it names each kind of fault when they do not; the publish plan keeps
each partition's order and adds the two kinds of duplicate."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from chaos.checks import (
    Replay,
    Snapshot,
    StreamDecisions,
    compare,
    read_snapshot,
    replay_log,
)
from chaos.harness import plan_messages
from lendguard.decisions.features.state import EntityState
from lendguard.simulate.benchmark import build_workload
from lendguard.stream.partitions import partition_of

PII_KEY = "chaos-test-pii-key-0123456789abcdef"


def workload_with_personal_data(n: int = 400) -> list[dict[str, Any]]:
    """The simulator's events, some carrying a phone, a card, an address and a customer id
    that is a mobile number: the fields the decider stores as keyed hashes."""
    events = build_workload(n_events=n, seed=3).dicts
    for i, event in enumerate(events):
        if i % 7 == 0:
            event["phone"] = f"1380013{i % 10_000:04d}"
            event["card_id"] = f"622202{i % 100:02d}12345678901"
            event["address_id"] = f"addr-{i % 13}"
        if event["customer_id"] == events[0]["customer_id"]:
            event["customer_id"] = "13912345678"
    return events


def as_log(events: list[dict[str, Any]]) -> list[tuple[int, str, dict[str, Any], str]]:
    return [(i + 1, str(e["event_id"]), e, "") for i, e in enumerate(events)]


def side_of(replay: Replay, workdir: Path) -> tuple[Snapshot, StreamDecisions]:
    """What workers that decided exactly as the replay would have left behind."""
    snapshot = read_snapshot(f"sqlite:///{workdir / 'replay.db'}")
    snapshot.states = {k: s.to_bytes() for k, s in replay.states.items()}
    stream = StreamDecisions(
        {e: [rows[0]["decision_id"]] for e, rows in snapshot.decision_rows.items()},
        len(snapshot.decision_rows),
        0,
    )
    return snapshot, stream


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Replay, Path]:
    events = workload_with_personal_data()
    workdir = tmp_path_factory.mktemp("reference")
    return (
        [str(e["event_id"]) for e in events],
        replay_log(as_log(events), PII_KEY, workdir),
        workdir,
    )


def test_replaying_stored_bodies_hashes_nothing_again(
    reference: tuple[list[str], Replay, Path], tmp_path: Path
) -> None:
    ids, first, workdir = reference
    stored = read_snapshot(f"sqlite:///{workdir / 'replay.db'}")
    bodies = [body for _, _, body, _ in stored.log]
    assert any(str(b.get("phone", "")).startswith("h1:") for b in bodies)
    assert any(b["customer_id"].startswith("h1:") for b in bodies)
    again = replay_log(stored.log, PII_KEY, tmp_path)
    assert again.body_hashes == {event_id: h for _, event_id, _, h in stored.log}
    assert again.verdicts == first.verdicts
    assert again.states.keys() == first.states.keys()
    assert all(again.states[k].to_bytes() == first.states[k].to_bytes() for k in first.states)
    assert not again.refused
    assert len(again.verdicts) == len(ids)


def test_agreeing_sides_give_no_finding(reference: tuple[list[str], Replay, Path]) -> None:
    ids, replay, workdir = reference
    snapshot, stream = side_of(replay, workdir)
    found = compare(ids, snapshot, stream, replay)
    assert not found.lost_or_doubled
    assert not found.stream_wrong
    assert not found.replay_differs
    assert found.states_compared > 0
    assert Counter(v.action for v in replay.verdicts.values())["allow"] < len(ids)


def test_each_fault_is_named(reference: tuple[list[str], Replay, Path]) -> None:
    ids, replay, workdir = reference
    snapshot, stream = side_of(replay, workdir)
    lost, twice, changed, rescored, silent, conflicting = (
        ids[10],
        ids[20],
        ids[30],
        ids[40],
        ids[50],
        ids[60],
    )
    del snapshot.decision_rows[lost]
    snapshot.decision_rows[twice].append(dict(snapshot.decision_rows[twice][0], decision_id="x"))
    row = snapshot.decision_rows[changed][0]
    row["action"] = "block" if row["action"] != "block" else "allow"
    snapshot.decision_rows[rescored][0]["score"] += 1
    del stream.decision_ids[silent]
    stream.decision_ids[conflicting].append("dec-other")
    key = next(k for k, s in replay.states.items() if len(s))
    state = EntityState.from_bytes(snapshot.states[key])
    state.amount[-1] += 0.01
    snapshot.states[key] = state.to_bytes()

    found = compare(ids, snapshot, stream, replay)

    assert found.lost_decisions == [lost]
    assert found.decisions_twice == {twice: 2}
    assert found.missing_on_stream == [silent]
    # (The lost event's message names a decision no row holds.)
    assert found.stream_conflicts.keys() == {conflicting, twice, lost}
    assert {m["event_id"] for m in found.mismatches} == {changed, rescored}
    assert found.mismatch_kinds == {"action": 1, "score only": 1}
    assert found.states_differ == [key]
    assert found.state_diff_fields == {"amount": 1}
    assert found.lost_or_doubled
    assert found.stream_wrong
    assert found.replay_differs


def test_publish_plan_keeps_partition_order_and_adds_both_duplicates() -> None:
    n, partitions = 2_000, 4
    customers = [f"cust-{i % 97}" for i in range(n)]
    ids = [f"ev-{i}" for i in range(n)]
    lines = [i.encode() for i in ids]
    queues, duplicated = plan_messages(lines, customers, ids, partitions, 0.01, random.Random(5))
    assert len(duplicated) == 20
    for partition, queue in queues.items():
        originals = [m for m in queue if not m[1].endswith("~again")]
        firsts = list(dict.fromkeys(msg_id for _, msg_id in originals))
        expected = [
            i
            for i, c in zip(ids, customers, strict=True)
            if partition_of(c, partitions) == partition
        ]
        assert firsts == expected
        for body, msg_id in queue:
            assert body == msg_id.removesuffix("~again").encode()
    every = [msg_id for q in queues.values() for _, msg_id in q]
    counts = Counter(every)
    assert sum(counts.values()) == n + 2 * len(duplicated)
    for event_id in duplicated:
        assert counts[event_id] == 2
        assert counts[f"{event_id}~again"] == 1
