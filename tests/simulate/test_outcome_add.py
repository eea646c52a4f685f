"""``Outcome.add`` takes short ways for the usual event; every figure must stay what the plain
reading of each field gives (the reference below is the method as it was written first)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.kit.paths import dotted_get
from lendguard.simulate.metrics import RANK, Outcome


def _reference_add(o: Outcome, event: dict[str, Any], decision: dict[str, Any]) -> None:
    attrs = event.get("attributes") or {}
    if attrs.get("warmup"):
        o.warmup_events += 1
        return
    o.events += 1
    action = decision["action"]
    rank = RANK[action]
    o.actions[action] += 1
    customer = event["customer_id"]
    o.customers_seen.add(customer)
    scenario = str(attrs.get("scenario", "none") or "none")
    if scenario != "none":
        o.dishonest.add(customer)
    value = dotted_get(event, o.label_field)
    try:
        is_fraud = 1 if int(float(value or 0)) == 1 else 0
    except (TypeError, ValueError):
        is_fraud = 0
    loss = float(attrs.get("victim_loss", 0) or 0)
    if is_fraud:
        o.fraud_events += 1
        row = o.by_typology[scenario]
        row[0] += 1
        row[2] += loss
        if rank >= RANK["dissuade"]:
            o.fraud_caught += 1
            row[1] += 1
            row[3] += loss
    o.loss_total += loss
    if rank >= RANK["dissuade"]:
        o.loss_caught += loss
    if rank >= RANK["intercept"]:
        o.money_saved += loss
    elif rank == RANK["dissuade"]:
        o.money_saved += loss * o.dissuasion_success_rate
    reasons = decision.get("reasons") or []
    top_category = reasons[0]["category"] if reasons else None
    if rank >= RANK["remind"]:
        if top_category == "fraud":
            o.customers_flagged.add(customer)
            if rank >= RANK["intercept"]:
                o.customers_flagged_hard.add(customer)
        elif top_category == "wellbeing":
            o.customers_protected.add(customer)
    segment = decision.get("segment")
    if segment:
        o.segments[customer] = (segment["age_band"], segment["tenure"])
    if "latency_us" in decision:
        o.latencies_us.append(int(decision["latency_us"]))


_ANY = st.sampled_from([None, 0, 1, "1", "0", "x", True, False, "", 0.5, "none", "mule"])
attributes = st.fixed_dictionaries(
    {},
    optional={
        "warmup": _ANY,
        "scenario": _ANY,
        "is_fraud": _ANY,
        "other": _ANY,
        "victim_loss": st.sampled_from([None, 0, "", 0.5, 120.25, "75.5", False]),
    },
)
pairs = st.tuples(
    st.fixed_dictionaries(
        {
            "customer_id": st.sampled_from(["c1", "c2", "c3"]),
            "attributes": st.one_of(st.none(), attributes),
        }
    ),
    st.fixed_dictionaries(
        {
            "action": st.sampled_from(sorted(RANK)),
            "reasons": st.lists(
                st.fixed_dictionaries({"category": st.sampled_from(["fraud", "wellbeing", "x"])}),
                max_size=2,
            ),
            "latency_us": st.integers(0, 100),
        },
        optional={
            "segment": st.fixed_dictionaries(
                {"age_band": st.sampled_from(["<22", "60+"]), "tenure": st.just("<30d")}
            )
        },
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(pairs, max_size=30), st.sampled_from(["attributes.is_fraud", "attributes.other"]))
def test_add_counts_as_the_plain_reading(
    rows: list[tuple[dict[str, Any], dict[str, Any]]], label_field: str
) -> None:
    fast, plain = Outcome(label_field=label_field), Outcome(label_field=label_field)
    for event, decision in rows:
        fast.add(event, decision)
        _reference_add(plain, event, decision)
    assert fast == plain
