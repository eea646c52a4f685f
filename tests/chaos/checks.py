"""The fault matrix's checks: what the workers left (PostgreSQL, the decisions stream) against
what was published and against a single-process, in-memory replay of the durable log.

The replay runs the very decision code of the live path (a :class:`DecisionService` with the
in-memory state store, on a scratch SQLite file), fed the ``events`` rows in ``seq`` order. Those
bodies are stored already pseudonymised; the service's pseudonymisation leaves a pseudonym as
it is (``kit.crypto.pseudonymise`` is idempotent and a pseudonym holds no personal information
to protect), and the replay proves it: each event's body hash in the replay must equal the
stored one, else the comparison would be between different inputs.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from lendguard.db import make_engine, upgrade
from lendguard.decisions.features.state import EntityState
from lendguard.decisions.service import DecisionService
from lendguard.decisions.state import MemoryStateStore
from lendguard.errors import LendGuardError
from lendguard.graph.index import LinkIndex
from lendguard.stream.partitions import stream_name

STATE_FIELDS = ("ts", "kind", "amount", "other", "event_ids", "known", "stats", "truncated")
SHOWN_EXAMPLES = 20


@dataclass(frozen=True)
class Verdict:
    """What a decision says, as compared: action, score and reason codes (in order)."""

    action: str
    score: int
    codes: tuple[str, ...]

    @classmethod
    def of(cls, decision: dict[str, Any]) -> Verdict:
        return cls(
            str(decision["action"]),
            int(decision["score"]),
            tuple(str(r["code"]) for r in decision["reasons"]),
        )


# -- what the workers left ------------------------------------------------------------------------


@dataclass
class Snapshot:
    """The durable log, the decisions and the shared window state in PostgreSQL."""

    log: list[tuple[int, str, dict[str, Any], str]]  # (seq, event_id, body, body_hash)
    event_rows: Counter[str]
    decision_rows: dict[str, list[dict[str, Any]]]
    states: dict[str, bytes]


def read_snapshot(database_url: str) -> Snapshot:
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            log = [
                (int(seq), str(event_id), _json(body), str(body_hash))
                for seq, event_id, body, body_hash in conn.execute(
                    text("SELECT seq, event_id, body, body_hash FROM events ORDER BY seq")
                )
            ]
            decisions: dict[str, list[dict[str, Any]]] = {}
            for decision_id, event_id, action, score, reasons in conn.execute(
                text("SELECT decision_id, event_id, action, score, reasons FROM decisions")
            ):
                decisions.setdefault(str(event_id), []).append(
                    {
                        "decision_id": decision_id,
                        "action": action,
                        "score": score,
                        "reasons": _json(reasons),
                    }
                )
            states = {
                str(key): bytes(blob)
                for key, blob in conn.execute(text("SELECT key, blob FROM entity_states"))
            }
    finally:
        engine.dispose()
    return Snapshot(log, Counter(e for _, e, _, _ in log), decisions, states)


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


@dataclass
class StreamDecisions:
    """The decision messages on ``<PREFIX>_DECISIONS`` and the dead letters' count."""

    decision_ids: dict[str, list[str]]  # event_id -> decision_id of each message
    messages: int
    deadletters: int


async def read_decisions_stream(nats_url: str, prefix: str) -> StreamDecisions:
    """Every message of the decisions stream, read by an ephemeral pull consumer."""
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    client = await nats.connect(nats_url, max_reconnect_attempts=3)
    js = client.jetstream(timeout=30)
    try:
        stream = stream_name(prefix, "decisions")
        total = (await js.stream_info(stream)).state.messages
        deadletters = (await js.stream_info(stream_name(prefix, "deadletter"))).state.messages
        found: dict[str, list[str]] = {}
        # No acks: a read-only pass over the stream (with explicit acks the server would stop
        # delivering at max_ack_pending).
        sub = await js.pull_subscribe(
            f"{prefix}.decisions.*",
            durable=None,
            stream=stream,
            config=ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL),
        )
        read = 0
        while read < total:
            try:
                batch = await sub.fetch(1_000, timeout=10)
            except nats.errors.TimeoutError:
                break
            for message in batch:
                body = orjson.loads(message.data)
                found.setdefault(str(body["event_id"]), []).append(str(body["decision_id"]))
                read += 1
        await sub.unsubscribe()
        return StreamDecisions(found, read, int(deadletters))
    finally:
        await client.close()


def read_stream_decisions(nats_url: str, prefix: str) -> StreamDecisions:
    return asyncio.run(read_decisions_stream(nats_url, prefix))


# -- the reference: one process, in memory, in log order -----------------------------------------


@dataclass
class Replay:
    verdicts: dict[str, Verdict]
    reasons: dict[str, list[dict[str, Any]]]
    body_hashes: dict[str, str]
    states: dict[str, EntityState]
    refused: dict[str, str]
    seconds: float = 0.0


def replay_log(
    log: Sequence[tuple[int, str, dict[str, Any], str]], pii_key: str, workdir: Path
) -> Replay:
    """Decide the logged events again, in ``seq`` order, in one process on in-memory state."""
    import time

    started = time.monotonic()
    url = f"sqlite:///{workdir / 'replay.db'}"
    upgrade(url)
    engine = make_engine(url)
    service = DecisionService(
        engine, MemoryStateStore(engine=None), pii_key=pii_key, link_index=LinkIndex
    )
    service.start()
    out = Replay({}, {}, {}, {}, {})
    try:
        for chunk in _chunks(log, 1_000):
            results = service.decide_many([dict(body) for _, _, body, _ in chunk])
            for (_, event_id, _, _), result in zip(chunk, results, strict=True):
                if isinstance(result, LendGuardError):
                    out.refused[event_id] = f"{result.status_code} {result.detail}"
                else:
                    out.verdicts[event_id] = Verdict.of(result)
                    out.reasons[event_id] = result["reasons"]
        with engine.connect() as conn:
            out.body_hashes = {
                str(e): str(h)
                for e, h in conn.execute(text("SELECT event_id, body_hash FROM events"))
            }
        store = service.store
        assert isinstance(store, MemoryStateStore)
        # Through the same bytes the shared store keeps, so both sides compare alike.
        out.states = {k: EntityState.from_bytes(s.to_bytes()) for k, s in store.states.items()}
    finally:
        service.close()
        engine.dispose()
    out.seconds = round(time.monotonic() - started, 3)
    return out


def _chunks(
    items: Sequence[tuple[int, str, dict[str, Any], str]], size: int
) -> Iterator[Sequence[tuple[int, str, dict[str, Any], str]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- the comparison -------------------------------------------------------------------------------


@dataclass
class Findings:
    published: int
    lost_decisions: list[str] = field(default_factory=list)
    lost_events: list[str] = field(default_factory=list)
    unknown_decisions: list[str] = field(default_factory=list)
    decisions_twice: dict[str, int] = field(default_factory=dict)
    events_twice: dict[str, int] = field(default_factory=dict)
    missing_on_stream: list[str] = field(default_factory=list)
    stream_conflicts: dict[str, list[str]] = field(default_factory=dict)
    stream_messages: int = 0
    stream_repeats: int = 0
    deadletters: int = 0
    replay_refused: dict[str, str] = field(default_factory=dict)
    body_hash_differs: list[str] = field(default_factory=list)
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    mismatch_kinds: Counter[str] = field(default_factory=Counter)
    mismatch_codes: Counter[str] = field(default_factory=Counter)
    states_compared: int = 0
    empty_shared_rows: int = 0
    states_only_shared: list[str] = field(default_factory=list)
    states_only_replay: list[str] = field(default_factory=list)
    states_differ: list[str] = field(default_factory=list)
    state_diff_fields: Counter[str] = field(default_factory=Counter)
    state_diff_kinds: Counter[str] = field(default_factory=Counter)

    def figures(self) -> dict[str, Any]:
        """The counts (for the run's JSON record and the summary)."""
        return {
            "published_events": self.published,
            "lost_decisions": len(self.lost_decisions),
            "lost_events": len(self.lost_events),
            "decisions_for_unknown_events": len(self.unknown_decisions),
            "events_with_more_than_one_decision_row": len(self.decisions_twice),
            "events_logged_more_than_once": len(self.events_twice),
            "decision_messages": self.stream_messages,
            "decision_messages_repeated": self.stream_repeats,
            "events_missing_on_decisions_stream": len(self.missing_on_stream),
            "events_with_conflicting_decision_messages": len(self.stream_conflicts),
            "dead_letters": self.deadletters,
            "replay_refused": len(self.replay_refused),
            "replay_body_hash_differs": len(self.body_hash_differs),
            "decision_mismatches": len(self.mismatches),
            "decision_mismatch_kinds": dict(self.mismatch_kinds),
            "decision_mismatch_reason_codes": dict(self.mismatch_codes.most_common()),
            "states_compared": self.states_compared,
            "empty_rows_in_shared_store": self.empty_shared_rows,
            "states_only_in_shared_store": len(self.states_only_shared),
            "states_only_in_replay": len(self.states_only_replay),
            "states_differing": len(self.states_differ),
            "state_differing_fields": dict(self.state_diff_fields),
            "state_differing_key_kinds": dict(self.state_diff_kinds),
        }

    @property
    def lost_or_doubled(self) -> bool:
        return bool(
            self.lost_decisions
            or self.lost_events
            or self.unknown_decisions
            or self.decisions_twice
            or self.events_twice
        )

    @property
    def stream_wrong(self) -> bool:
        return bool(self.missing_on_stream or self.stream_conflicts)

    @property
    def replay_differs(self) -> bool:
        return bool(
            self.replay_refused
            or self.body_hash_differs
            or self.mismatches
            or self.states_only_shared
            or self.states_only_replay
            or self.states_differ
        )


def compare(
    published_ids: Sequence[str], snapshot: Snapshot, stream: StreamDecisions, replay: Replay
) -> Findings:
    found = Findings(published=len(published_ids))
    published = set(published_ids)
    # (a) every published event has its decision row and its event row, exactly one of each.
    found.lost_decisions = sorted(published - snapshot.decision_rows.keys())
    found.lost_events = sorted(published - snapshot.event_rows.keys())
    found.unknown_decisions = sorted(snapshot.decision_rows.keys() - published)
    found.decisions_twice = {e: len(r) for e, r in snapshot.decision_rows.items() if len(r) > 1}
    found.events_twice = {e: n for e, n in snapshot.event_rows.items() if n > 1}
    # (b) every decision message of an event carries the decision_id of its one row.
    found.stream_messages = stream.messages
    found.deadletters = stream.deadletters
    for event_id in published_ids:
        ids = stream.decision_ids.get(event_id)
        if not ids:
            found.missing_on_stream.append(event_id)
            continue
        found.stream_repeats += len(ids) - 1
        row_ids = {r["decision_id"] for r in snapshot.decision_rows.get(event_id, [])}
        if len(set(ids)) > 1 or set(ids) != row_ids:
            found.stream_conflicts[event_id] = sorted(set(ids) | row_ids)
    # (c) the same decisions and the same final window state as the one-process replay.
    found.replay_refused = replay.refused
    stored_hash = {event_id: body_hash for _, event_id, _, body_hash in snapshot.log}
    found.body_hash_differs = sorted(
        e for e, h in replay.body_hashes.items() if stored_hash.get(e) != h
    )
    for seq, event_id, body, _ in snapshot.log:
        logged = snapshot.decision_rows.get(event_id)
        expected = replay.verdicts.get(event_id)
        if not logged or expected is None:
            continue
        live = Verdict.of(logged[0])
        if live == expected:
            continue
        kind = (
            "action"
            if live.action != expected.action
            else "reason codes"
            if live.codes != expected.codes
            else "score only"
        )
        found.mismatch_kinds[kind] += 1
        for code in set(live.codes) ^ set(expected.codes):
            side = "workers only" if code in live.codes else "replay only"
            found.mismatch_codes[f"{code} ({side})"] += 1
        if len(found.mismatches) < SHOWN_EXAMPLES:
            found.mismatches.append(
                {
                    "seq": seq,
                    "event_id": event_id,
                    "type": body.get("type"),
                    "workers": _shown(live, logged[0]["reasons"]),
                    "replay": _shown(expected, replay.reasons[event_id]),
                }
            )
        else:
            found.mismatches.append({"event_id": event_id})
    _compare_states(found, snapshot.states, replay.states)
    return found


def _shown(verdict: Verdict, reasons: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "action": verdict.action,
        "score": verdict.score,
        "reasons": {str(r["code"]): r.get("values") for r in reasons},
    }


def _compare_states(
    found: Findings, shared: dict[str, bytes], replayed: dict[str, EntityState]
) -> None:
    # An empty state is no state: the replay creates one for every key it looks up, and the
    # shared store keeps empty rows it only locks (the graph's lock keys).
    shared_states = {k: EntityState.from_bytes(b) for k, b in shared.items()}
    ours = {k for k, s in shared_states.items() if not _empty(s)}
    theirs = {k for k, s in replayed.items() if not _empty(s)}
    found.empty_shared_rows = len(shared_states) - len(ours)
    found.states_only_shared = sorted(ours - theirs)
    found.states_only_replay = sorted(theirs - ours)
    for key in sorted(ours & theirs):
        found.states_compared += 1
        left, right = shared_states[key], replayed[key]
        differing = [f for f in STATE_FIELDS if getattr(left, f) != getattr(right, f)]
        if differing:
            found.states_differ.append(key)
            found.state_diff_kinds[key.split(":", 1)[0]] += 1
            for name in differing:
                found.state_diff_fields[name] += 1


def _empty(state: EntityState) -> bool:
    return not (len(state) or state.known or state.stats or state.truncated)


def summary(findings: Findings, shared: dict[str, bytes], replayed: dict[str, EntityState]) -> str:
    """A readable account of what differs, for the failure message."""
    figures = findings.figures()
    lines = ["fault matrix findings:"]
    lines += [f"  {name}: {value}" for name, value in figures.items() if value not in (0, {}, [])]
    if findings.lost_decisions:
        lines.append(f"  first lost decisions: {findings.lost_decisions[:SHOWN_EXAMPLES]}")
    if findings.decisions_twice:
        lines.append(f"  decided twice: {list(findings.decisions_twice.items())[:SHOWN_EXAMPLES]}")
    if findings.missing_on_stream:
        lines.append(f"  missing on the stream: {findings.missing_on_stream[:SHOWN_EXAMPLES]}")
    if findings.stream_conflicts:
        shown = list(findings.stream_conflicts.items())[:SHOWN_EXAMPLES]
        lines.append(f"  conflicting decision messages: {shown}")
    if findings.replay_refused:
        lines.append(f"  replay refused: {list(findings.replay_refused.items())[:5]}")
    if findings.body_hash_differs:
        lines.append(f"  body hash differs in replay: {findings.body_hash_differs[:5]}")
    shown_mismatches = [m for m in findings.mismatches if "workers" in m]
    if shown_mismatches:
        lines.append(f"  first {len(shown_mismatches)} decision mismatches (workers vs replay):")
        for item in shown_mismatches:
            lines.append(
                f"    seq {item['seq']} {item['event_id']} ({item['type']}):\n"
                f"      workers: {orjson.dumps(item['workers']).decode()}\n"
                f"      replay:  {orjson.dumps(item['replay']).decode()}"
            )
    for key in findings.states_differ[:5]:
        ours = EntityState.from_bytes(shared[key])
        theirs = replayed[key]
        diffs = {
            f: {"shared": _brief(getattr(ours, f)), "replay": _brief(getattr(theirs, f))}
            for f in STATE_FIELDS
            if getattr(ours, f) != getattr(theirs, f)
        }
        lines.append(f"  state {key}: {orjson.dumps(diffs).decode()}")
    if findings.states_only_shared:
        lines.append(f"  states only in the shared store: {findings.states_only_shared[:5]}")
    if findings.states_only_replay:
        lines.append(f"  states only in the replay: {findings.states_only_replay[:5]}")
    return "\n".join(lines)


def _brief(value: Any) -> Any:
    if isinstance(value, list) and len(value) > 8:
        return {"len": len(value), "last": value[-4:]}
    if isinstance(value, dict) and len(value) > 8:
        return {"len": len(value)}
    return value
