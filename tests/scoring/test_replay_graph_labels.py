"""Training replays mark fraud labels in the entity-link graph as the live engine does
(issue #22): ``ring_fraud_share`` of a later event in the same ring reads a label once it is
known (its event's time + the reveal delay), never before, and never on its own event."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson

from fixtures import T0, make_event
from lendguard.decisions.scoring.events import MODEL_FEATURES
from lendguard.training.events import load_history, replay_matrix

SHARE = MODEL_FEATURES.index("ring_fraud_share")
SIZE = MODEL_FEATURES.index("ring_size")
HOUR = 3600.0


def _history(tmp_path: Path) -> Path:
    """cust-a and cust-b share a device; cust-a's transfer at T0 is a fraud; cust-b acts at
    T0 + 1 h and T0 + 3 h."""
    events = [
        make_event(event_id="e-b0", customer_id="cust-b", occurred_at=T0 - timedelta(hours=1)),
        make_event(
            event_id="e-a1", customer_id="cust-a", occurred_at=T0, attributes={"is_fraud": 1}
        ),
        make_event(event_id="e-b1", customer_id="cust-b", occurred_at=T0 + timedelta(hours=1)),
        make_event(event_id="e-b2", customer_id="cust-b", occurred_at=T0 + timedelta(hours=3)),
    ]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path


def test_replay_marks_labels_in_the_graph_once_known(tmp_path: Path) -> None:
    rows = load_history(_history(tmp_path))
    assert [e.event_id for e, _ in rows] == ["e-b0", "e-a1", "e-b1", "e-b2"]
    now = replay_matrix(rows, "attributes.is_fraud", progress=False)
    assert now.rows[:, SIZE].tolist() == [1.0, 2.0, 2.0, 2.0]
    # the fraud's own row and earlier rows never see its label; later rows do
    assert now.rows[:, SHARE].tolist() == [0.0, 0.0, 0.5, 0.5]

    later = replay_matrix(rows, "attributes.is_fraud", reveal_delay_s=2 * HOUR, progress=False)
    # known at T0 + 2 h: the event at T0 + 1 h cannot see it, the one at T0 + 3 h does
    assert later.rows[:, SHARE].tolist() == [0.0, 0.0, 0.0, 0.5]


def test_a_label_zero_marks_nothing(tmp_path: Path) -> None:
    rows = load_history(_history(tmp_path))
    labels = {"e-a1": 0}
    data = replay_matrix(rows, "attributes.is_fraud", labels, progress=False)
    assert data.rows[:, SHARE].tolist() == [0.0, 0.0, 0.0, 0.0]
