"""Point in time: no feature row a model learns from may depend on a label not yet known.

The proof replays a simulated history through ``replay_matrix`` (the live feature code) twice:
once with the true labels and once with every label after a time T shuffled or flipped. Every
row of every event before T must be bit-for-bit identical (NaN equal to NaN). Then the finer
rules: an event's own label never reaches its own row; with a reveal delay D a label reaches
only events later than its event's time + D; ``payee_fraud_labels`` counts earlier frauds on
that payee only. A brute-force oracle bounds both label-derived features for every event.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from fixtures import MISSING, T0, make_event
from lendguard.decisions.features.compute import entity_keys
from lendguard.decisions.scoring.events import MODEL_FEATURES
from lendguard.events.schemas import Event
from lendguard.simulate.generator import generate
from lendguard.training.events import ReplayMatrix, load_history, replay_matrix

Rows = list[tuple[Event, dict[str, Any]]]
# ring_fraud_share reads the fraud marks of the entity-link graph, also labels as known then.
LABEL_FEATURES = ("customer_fraud_labels", "payee_fraud_labels", "ring_fraud_share")
CUSTOMER = MODEL_FEATURES.index("customer_fraud_labels")
PAYEE = MODEL_FEATURES.index("payee_fraud_labels")
HOUR = 3600.0


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> Rows:
    """A simulated history with many frauds, read back as the trainer reads it."""
    population = generate(customers=150, days=10, seed=2, victim_rate=0.2, ring_members_rate=0.05)
    path = tmp_path_factory.mktemp("leakage") / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in population.events))
    return load_history(path)


@pytest.fixture(scope="module")
def true_labels(rows: Rows) -> dict[str, int]:
    return {e.event_id: int(raw["attributes"]["is_fraud"]) for e, raw in rows}


@pytest.fixture(scope="module")
def baseline(rows: Rows, true_labels: dict[str, int]) -> ReplayMatrix:
    return replay_matrix(rows, "attributes.is_fraud", true_labels, progress=False)


def times_of(rows: Rows) -> np.ndarray:
    return np.array([e.occurred_at.timestamp() for e, _ in rows])


def middle_fraud_time(rows: Rows, labels: dict[str, int]) -> float:
    """T: the median fraud's time, so frauds lie on both sides."""
    fraud_times = sorted(e.occurred_at.timestamp() for e, _ in rows if labels[e.event_id])
    return fraud_times[len(fraud_times) // 2]


def assert_rows_equal(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> None:
    """Equal where ``mask`` holds, NaN equal to NaN; names the first differing event/feature."""
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    bad = np.argwhere(~same & mask[:, None])
    assert bad.size == 0, [(int(i), MODEL_FEATURES[j], a[i, j], b[i, j]) for i, j in bad[:5]]


def label_columns_differ(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> bool:
    cols = [CUSTOMER, PAYEE]
    return bool(np.any(a[mask][:, cols] != b[mask][:, cols]))


# -- the proof on a simulated history ----------------------------------------------------------


class TestFutureLabelsNeverReachThePast:
    @pytest.mark.parametrize("change", ["shuffle", "flip", "all-fraud", "none-fraud"])
    def test_rows_before_t_are_identical(
        self,
        rows: Rows,
        true_labels: dict[str, int],
        baseline: ReplayMatrix,
        change: str,
    ) -> None:
        t = middle_fraud_time(rows, true_labels)
        times = times_of(rows)
        before, after = times < t, times >= t
        assert before.sum() > 100
        assert after.sum() > 100
        later_ids = [e.event_id for e, _ in rows if e.occurred_at.timestamp() >= t]
        changed = dict(true_labels)
        if change == "shuffle":
            values = np.array([true_labels[i] for i in later_ids])
            np.random.default_rng(0).shuffle(values)
            changed.update(zip(later_ids, values.tolist(), strict=True))
        elif change == "flip":
            changed.update({i: 1 - true_labels[i] for i in later_ids})
        elif change == "all-fraud":
            changed.update(dict.fromkeys(later_ids, 1))
        else:
            changed.update(dict.fromkeys(later_ids, 0))
        assert changed != true_labels

        altered = replay_matrix(rows, "attributes.is_fraud", changed, progress=False)

        assert_rows_equal(baseline.rows, altered.rows, before)
        # the labels themselves changed only after T
        np.testing.assert_array_equal(baseline.labels[before], altered.labels[before])
        # the test has power: the changed labels did reach the label features of later events
        assert label_columns_differ(baseline.rows, altered.rows, after)
        # and nothing but the label-derived features ever changes
        others = [i for i, f in enumerate(MODEL_FEATURES) if f not in LABEL_FEATURES]
        same_others = (baseline.rows[:, others] == altered.rows[:, others]) | (
            np.isnan(baseline.rows[:, others]) & np.isnan(altered.rows[:, others])
        )
        assert same_others.all()

    def test_label_field_and_labels_dict_agree(self, rows: Rows, baseline: ReplayMatrix) -> None:
        """Labels read from the events and labels passed in give the same matrix."""
        from_field = replay_matrix(rows, "attributes.is_fraud", progress=False)
        assert_rows_equal(baseline.rows, from_field.rows, np.ones(len(rows), dtype=bool))
        np.testing.assert_array_equal(baseline.labels, from_field.labels)

    def test_with_a_reveal_delay_too(self, rows: Rows, true_labels: dict[str, int]) -> None:
        """D = 6 h: flip every label from T - D on; no row at or before T may change (those
        labels become known only after T)."""
        delay = 6 * HOUR
        t = middle_fraud_time(rows, true_labels)
        times = times_of(rows)
        base = replay_matrix(rows, "attributes.is_fraud", true_labels, delay, progress=False)
        # flip every label from T - D on: rows before T still cannot see any of them
        flipped = dict(true_labels)
        flipped.update(
            {
                e.event_id: 1 - true_labels[e.event_id]
                for e, _ in rows
                if e.occurred_at.timestamp() >= t - delay
            }
        )
        altered = replay_matrix(rows, "attributes.is_fraud", flipped, delay, progress=False)
        assert_rows_equal(base.rows, altered.rows, times <= t)
        assert label_columns_differ(base.rows, altered.rows, times > t)


class TestOwnLabel:
    def test_flipping_one_label_leaves_its_row_and_every_earlier_row(
        self, rows: Rows, true_labels: dict[str, int], baseline: ReplayMatrix
    ) -> None:
        # a fraud on an outflow to a payee, with later events of the same customer
        times = times_of(rows)
        index = next(
            i
            for i, (e, _) in enumerate(rows)
            if true_labels[e.event_id]
            and "payee" in entity_keys(e)
            and sum(1 for f, _ in rows[i + 1 :] if f.customer_id == e.customer_id) >= 2
        )
        event = rows[index][0]
        flipped = dict(true_labels)
        flipped[event.event_id] = 0
        altered = replay_matrix(rows, "attributes.is_fraud", flipped, progress=False)

        assert_rows_equal(baseline.rows, altered.rows, times <= times[index])
        np.testing.assert_array_equal(baseline.rows[index], altered.rows[index])
        same_customer = np.array([e.customer_id == event.customer_id for e, _ in rows])
        later = (times > times[index]) & same_customer
        assert later.any()
        # one fraud fewer: later events of the customer count at most as many, some fewer
        assert np.all(altered.rows[later, CUSTOMER] <= baseline.rows[later, CUSTOMER])
        assert np.any(altered.rows[later, CUSTOMER] < baseline.rows[later, CUSTOMER])
        # and no other customer's events are touched except through the payee
        assert_rows_equal(baseline.rows[:, [CUSTOMER]], altered.rows[:, [CUSTOMER]], ~same_customer)

    @pytest.mark.parametrize("role", ["customer", "payee"])
    def test_own_label_on_a_lone_event(self, role: str) -> None:
        raws = [make_event(customer_id="a", payee_id="p", attributes={"is_fraud": 1})]
        rows = [(Event.model_validate(r), r) for r in raws]
        data = replay_matrix(rows, "attributes.is_fraud", progress=False)
        assert data.labels.tolist() == [1]
        assert data.rows[0, MODEL_FEATURES.index(f"{role}_fraud_labels")] == 0

    def test_same_instant_does_not_see_the_label(self) -> None:
        """Two events at the same time: neither sees the other's label (neither is earlier)."""
        raws = [
            make_event(customer_id="a", payee_id="p", attributes={"is_fraud": 1}),
            make_event(customer_id="a", payee_id="p", attributes={"is_fraud": 0}),
            make_event(customer_id="z", payee_id="q", occurred_at=T0 + timedelta(hours=1)),
            make_event(customer_id="a", payee_id="p", occurred_at=T0 + timedelta(hours=2)),
        ]
        data = replay(raws)
        assert data.rows[:, CUSTOMER].tolist() == [0, 0, 0, 1]
        assert data.rows[:, PAYEE].tolist() == [0, 0, 0, 1]


# -- reveal delay ------------------------------------------------------------------------------


def replay(raws: list[dict[str, Any]], delay: float = 0.0) -> ReplayMatrix:
    rows = [(Event.model_validate(r), r) for r in raws]
    rows.sort(key=lambda pair: pair[0].occurred_at)
    return replay_matrix(rows, "attributes.is_fraud", None, delay, progress=False)


def customer_events(offsets_h: list[float], noise_every_h: float | None = None) -> list[Any]:
    """Customer ``a``'s fraud at T0, then more of ``a``'s events at the offsets (hours); with
    ``noise_every_h`` another customer's unrelated logins in between."""
    raws = [make_event(customer_id="a", payee_id="p", attributes={"is_fraud": 1})]
    raws += [
        make_event(customer_id="a", payee_id="p", occurred_at=T0 + timedelta(hours=h))
        for h in offsets_h
    ]
    if noise_every_h is not None:
        steps = int(max(offsets_h) / noise_every_h)
        raws += [
            make_event(
                type="login",
                customer_id="noise",
                amount=MISSING,
                currency=MISSING,
                payee_id=MISSING,
                occurred_at=T0 + timedelta(hours=noise_every_h * k + noise_every_h / 2),
            )
            for k in range(steps)
        ]
    return raws


def counts_for_a(data: ReplayMatrix, raws: list[dict[str, Any]]) -> dict[float, float]:
    """customer_fraud_labels of each of a's events, keyed by hours after T0."""
    order = sorted(raws, key=lambda r: datetime.fromisoformat(r["occurred_at"]))
    out = {}
    for raw, row in zip(order, data.rows, strict=True):
        if raw["customer_id"] == "a":
            hours = (datetime.fromisoformat(raw["occurred_at"]) - T0).total_seconds() / HOUR
            out[hours] = float(row[CUSTOMER])
    return out


class TestRevealDelay:
    OFFSETS = [0.5, 1.0, 1.9, 2.0, 2.5, 3.0, 5.0]

    def test_label_unknown_until_event_time_plus_delay(self) -> None:
        """D = 2 h: nothing at or before T0 + 2 h sees the fraud at T0 (the upper bound)."""
        raws = customer_events(self.OFFSETS, noise_every_h=0.1)
        counts = counts_for_a(replay(raws, delay=2 * HOUR), raws)
        for hours, count in counts.items():
            if hours <= 2.0:
                assert count == 0, (hours, counts)
        assert counts[5.0] == 1

    def test_label_known_from_the_first_event_after_the_delay(self) -> None:
        """With plenty of unrelated traffic every event later than T0 + D sees the label."""
        raws = customer_events(self.OFFSETS, noise_every_h=0.1)
        counts = counts_for_a(replay(raws, delay=2 * HOUR), raws)
        assert counts == {0.0: 0, 0.5: 0, 1.0: 0, 1.9: 0, 2.0: 0, 2.5: 1, 3.0: 1, 5.0: 1}

    def test_unrelated_traffic_never_changes_a_customers_label_count(self) -> None:
        """Whether another customer happened to act in between must not matter. Today the
        label is recorded at the time of the first event *after* T0 + D (any customer), and
        that event itself does not count it: with no traffic in between, a's event at
        T0 + 2.5 h misses the label it should see."""
        quiet = customer_events(self.OFFSETS)
        busy = customer_events(self.OFFSETS, noise_every_h=0.1)
        for delay in (0.0, 2 * HOUR):
            assert counts_for_a(replay(quiet, delay), quiet) == counts_for_a(
                replay(busy, delay), busy
            ), delay

    def test_zero_delay_next_event_sees_the_label(self) -> None:
        raws = customer_events([1.0, 2.0, 3.0])
        counts = counts_for_a(replay(raws), raws)
        assert counts == {0.0: 0, 1.0: 1, 2.0: 1, 3.0: 1}


# -- payee_fraud_labels ------------------------------------------------------------------------


class TestPayeeLabels:
    def test_counts_only_earlier_frauds_on_that_payee(self) -> None:
        at = [T0 + timedelta(minutes=m) for m in range(0, 200, 10)]
        raws = [
            # frauds: a to p (twice), a to q; b's legitimate payment to p
            make_event(
                customer_id="a", payee_id="p", occurred_at=at[0], attributes={"is_fraud": 1}
            ),
            make_event(customer_id="b", payee_id="p", occurred_at=at[1]),
            make_event(
                customer_id="a", payee_id="q", occurred_at=at[2], attributes={"is_fraud": 1}
            ),
            make_event(customer_id="c", payee_id="p", occurred_at=at[3]),
            make_event(
                customer_id="a", payee_id="p", occurred_at=at[4], attributes={"is_fraud": 1}
            ),
            make_event(customer_id="d", payee_id="p", occurred_at=at[5]),
            make_event(customer_id="d", payee_id="q", occurred_at=at[6]),
            make_event(customer_id="d", payee_id="r", occurred_at=at[7]),
            # a deposit from p is not a payment to p
            make_event(
                type="deposit",
                customer_id="e",
                payee_id=MISSING,
                payer_id="p",
                occurred_at=at[8],
            ),
        ]
        # unrelated traffic between every pair, so the result does not hinge on how soon the
        # next event arrives (see TestRevealDelay)
        raws += [
            make_event(
                type="login",
                customer_id="noise",
                amount=MISSING,
                currency=MISSING,
                payee_id=MISSING,
                occurred_at=t + timedelta(minutes=5),
            )
            for t in at[:9]
        ]
        data = replay(raws)
        by_id = dict(zip(data.event_ids, data.rows, strict=True))
        payee = [by_id[r["event_id"]][PAYEE] for r in raws[:9]]
        assert payee == [0, 1, 0, 1, 1, 2, 1, 0, 0]
        customer = [by_id[r["event_id"]][CUSTOMER] for r in raws[:9]]
        assert customer == [0, 0, 1, 0, 2, 0, 0, 0, 0]

    def test_payee_without_outflow_has_no_payee_count(self) -> None:
        raws = [
            make_event(customer_id="a", payee_id="p", attributes={"is_fraud": 1}),
            make_event(
                type="login",
                customer_id="noise",
                amount=MISSING,
                currency=MISSING,
                payee_id=MISSING,
                occurred_at=T0 + timedelta(minutes=1),
            ),
            make_event(
                type="login",
                customer_id="b",
                amount=MISSING,
                currency=MISSING,
                payee_id=MISSING,
                occurred_at=T0 + timedelta(minutes=2),
            ),
        ]
        data = replay(raws)
        assert data.rows[2, PAYEE] == 0


# -- the oracle: every event of the simulated history ------------------------------------------


def oracle(rows: Rows, labels: dict[str, int], delay: float) -> tuple[np.ndarray, np.ndarray]:
    """Brute force: frauds of the same customer / on the same payee with t + D < this t."""
    by_key: dict[str, list[float]] = defaultdict(list)
    for event, _ in rows:
        if labels[event.event_id]:
            keys = entity_keys(event)
            for role in ("customer", "payee"):
                if role in keys:
                    by_key[keys[role]].append(event.occurred_at.timestamp() + delay)
    customer = np.zeros(len(rows))
    payee = np.zeros(len(rows))
    for i, (event, _) in enumerate(rows):
        ts = event.occurred_at.timestamp()
        keys = entity_keys(event)
        customer[i] = sum(1 for known in by_key[keys["customer"]] if known < ts)
        if "payee" in keys:
            payee[i] = sum(1 for known in by_key[keys["payee"]] if known < ts)
    return customer, payee


class TestOracle:
    @pytest.mark.parametrize("delay_h", [0.0, 24.0])
    def test_never_more_than_known_before_the_event(
        self, rows: Rows, true_labels: dict[str, int], delay_h: float
    ) -> None:
        """The leakage bound, on every event: a label-derived feature never counts a label
        that was not known (event time + D) strictly before the event."""
        data = replay_matrix(
            rows, "attributes.is_fraud", true_labels, delay_h * HOUR, progress=False
        )
        customer, payee = oracle(rows, true_labels, delay_h * HOUR)
        assert np.all(data.rows[:, CUSTOMER] <= customer)
        assert np.all(data.rows[:, PAYEE] <= payee)
        assert customer.max() > 0
        assert payee.max() > 0

    @pytest.mark.parametrize("delay_h", [0.0, 24.0])
    def test_exactly_the_labels_known_before_the_event(
        self, rows: Rows, true_labels: dict[str, int], delay_h: float
    ) -> None:
        data = replay_matrix(
            rows, "attributes.is_fraud", true_labels, delay_h * HOUR, progress=False
        )
        customer, payee = oracle(rows, true_labels, delay_h * HOUR)
        wrong = np.flatnonzero(
            (data.rows[:, CUSTOMER] != customer) | (data.rows[:, PAYEE] != payee)
        )
        assert wrong.size == 0, [
            (data.event_ids[i], data.rows[i, CUSTOMER], customer[i], data.rows[i, PAYEE], payee[i])
            for i in wrong[:5]
        ]


def test_history_file_round_trip(tmp_path: Path) -> None:
    """load_history sorts by time, whatever the file order, so replays see the past first."""
    raws = customer_events([1.0, 2.0])
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in reversed(raws)))
    loaded = load_history(path)
    assert [e.event_id for e, _ in loaded] == [r["event_id"] for r in raws]
