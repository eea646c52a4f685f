"""The synthetic population (``lendguard.simulate.generator``): determinism, time order, the
ground truth carried in ``attributes``, the mix of victims, rings and mules, and honest
look-alikes.

Sizes stay at or below 3,000 customers and a few days so the module runs in a few seconds.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

import pytest

from lendguard.events.schemas import Event
from lendguard.simulate.generator import TYPOLOGIES, Population, generate

VICTIM_TYPOLOGIES = (
    "fake_customer_service",
    "advance_fee_loan",
    "credit_repair",
    "account_takeover",
    "rebate_task",
    "elderly_investment",
)
OUTFLOWS = ("transfer", "withdrawal", "payment")


@pytest.fixture(scope="module")
def population() -> Population:
    """A few thousand customers over ten days (about 50,000 events, under a second)."""
    return generate(3000, days=10, seed=1)


@pytest.fixture(scope="module")
def roles(population: Population) -> dict[str, str]:
    return {c.customer_id: c.role for c in population.customers}


def _when(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["occurred_at"])


class TestDeterminism:
    def test_same_seed_same_events_and_customers(self) -> None:
        a = generate(400, days=5, seed=42)
        b = generate(400, days=5, seed=42)
        assert a.events == b.events
        assert a.accounts_rows() == b.accounts_rows()

    def test_different_seed_different_events(self) -> None:
        a = generate(400, days=5, seed=42)
        b = generate(400, days=5, seed=43)
        assert a.events != b.events
        assert {e["occurred_at"] for e in a.events} != {e["occurred_at"] for e in b.events}

    def test_events_sorted_by_occurred_at(self, population: Population) -> None:
        moments = [_when(e) for e in population.events]
        assert moments == sorted(moments)

    def test_event_ids_unique(self, population: Population) -> None:
        ids = [e["event_id"] for e in population.events]
        assert len(ids) == len(set(ids))

    def test_every_event_meets_the_contract(self) -> None:
        for raw in generate(300, days=5, seed=5).events:
            Event.model_validate(raw)

    def test_accounts_rows_cover_every_customer_with_events(self, population: Population) -> None:
        rows = population.accounts_rows()
        assert [set(r) for r in rows[:1]] == [{"customer_id", "role", "scenario", "ring_id"}]
        ids = [r["customer_id"] for r in rows]
        assert len(ids) == len(set(ids))
        assert {e["customer_id"] for e in population.events} <= set(ids)
        assert {r["role"] for r in rows} == {"honest", "victim", "fraudster", "mule"}


class TestGroundTruth:
    def test_every_event_carries_scenario_is_fraud_and_victim_loss(
        self, population: Population
    ) -> None:
        for event in population.events:
            attrs = event["attributes"]
            assert attrs["scenario"] in (*TYPOLOGIES, "none"), event
            assert attrs["is_fraud"] in (0, 1), event
            assert isinstance(attrs["victim_loss"], float), event
            assert attrs["victim_loss"] >= 0, event
            if attrs["victim_loss"] > 0:
                # a loss only ever rides on a fraud outflow of exactly that much money or less
                assert attrs["is_fraud"] == 1, event
                assert event["type"] in OUTFLOWS, event
                assert attrs["victim_loss"] <= float(event["amount"]), event
            if attrs["is_fraud"] == 1:
                assert attrs["scenario"] != "none", event

    def test_scenario_matches_the_accounts(
        self, population: Population, roles: dict[str, str]
    ) -> None:
        scenario_of = {c.customer_id: c.scenario for c in population.customers}
        for event in population.events:
            scenario = event["attributes"]["scenario"]
            if scenario != "none":
                assert scenario_of[event["customer_id"]] == scenario, event
        honest = {c for c, r in roles.items() if r == "honest"}
        assert all(
            e["attributes"]["scenario"] == "none" and e["attributes"]["is_fraud"] == 0
            for e in population.events
            if e["customer_id"] in honest
        )

    def test_warmup_history_is_marked_honest_and_before_the_start(
        self, population: Population
    ) -> None:
        warm = [e for e in population.events if e["attributes"].get("warmup")]
        assert warm, "the generator should emit warm-up history"
        for event in warm:
            assert event["attributes"]["warmup"] is True
            assert event["attributes"]["scenario"] == "none"
            assert event["attributes"]["is_fraud"] == 0
            assert event["attributes"]["victim_loss"] == 0
            assert _when(event) < population.start
            assert event["type"] in ("login", "transfer")
        # and nothing after the start is warm-up
        assert all(
            not e["attributes"].get("warmup")
            for e in population.events
            if _when(e) >= population.start
        )

    def test_victim_losses_are_positive_for_every_typology(self, population: Population) -> None:
        loss: dict[str, float] = defaultdict(float)
        for event in population.events:
            loss[event["attributes"]["scenario"]] += event["attributes"]["victim_loss"]
        for typology in VICTIM_TYPOLOGIES:
            assert loss[typology] > 0, typology
        assert loss["none"] == 0
        assert loss["mule"] == 0
        assert loss["ring"] == 0

    def test_mules_and_ring_members_own_events_carry_no_victim_loss(
        self, population: Population, roles: dict[str, str]
    ) -> None:
        own = [e for e in population.events if roles[e["customer_id"]] in ("mule", "fraudster")]
        assert any(roles[e["customer_id"]] == "mule" for e in own)
        assert any(roles[e["customer_id"]] == "fraudster" for e in own)
        assert all(e["attributes"]["victim_loss"] == 0 for e in own)
        # their fraud events are labelled, though
        assert any(e["attributes"]["is_fraud"] == 1 for e in own)


class TestPopulationMix:
    def test_victims_are_about_one_percent(self, population: Population) -> None:
        # the population asked for; ring members and kiosk sign-ups come on top of it
        customers = population.customers[:3000]
        extras = population.customers[3000:]
        victims = [c for c in customers if c.role == "victim"]
        assert not [c for c in customers if c.role == "fraudster"]
        assert {c.role for c in extras} == {"fraudster", "honest"}
        assert 0.005 <= len(victims) / len(customers) <= 0.015, len(victims)
        assert {c.scenario for c in victims} <= set(VICTIM_TYPOLOGIES)
        assert all(c.role == "victim" for c in customers if c.scenario in VICTIM_TYPOLOGIES)

    def test_every_victim_typology_present_and_each_at_least_5_percent(
        self, population: Population
    ) -> None:
        counts = Counter(c.scenario for c in population.customers if c.role == "victim")
        total = sum(counts.values())
        for typology in VICTIM_TYPOLOGIES:
            assert counts[typology] >= 0.05 * total, (typology, dict(counts))

    def test_typology_mix_holds_for_other_seeds(self) -> None:
        """The mix must not depend on a lucky seed: with 3,000 customers (about 30 victims)
        every typology should be present and at least 5 % of the victims.

        Fails today: the typology is ``TYPOLOGIES[n % 6]`` of the *customer* index while victims
        are picked at random, so for about one seed in six at this size a typology is missing
        or under 5 % (seed 2: no credit_repair; seed 6: one account_takeover of 31; seed 8: no
        rebate_task). Dealing typologies round-robin over the victims fixes it.
        """
        failures = {}
        for seed in (2, 6, 8):
            population = generate(3000, days=3, seed=seed)
            counts = Counter(c.scenario for c in population.customers if c.role == "victim")
            total = sum(counts.values())
            assert total >= 12
            short = {t: counts[t] for t in VICTIM_TYPOLOGIES if counts[t] < 0.05 * total}
            if short:
                failures[seed] = f"{total} victims, under 5 %: {short}"
        assert not failures, failures

    def test_victim_profiles_fit_their_typology(self, population: Population) -> None:
        start = population.start
        for c in population.customers:
            age = start.year - c.birth_date.year
            if c.scenario == "elderly_investment":
                assert age >= 60, c
            if c.scenario == "fake_customer_service":
                assert c.is_student, c
                assert 18 <= age <= 23, c

    def test_rings_have_5_to_50_members_sharing_devices(
        self, population: Population, roles: dict[str, str]
    ) -> None:
        members: dict[str, set[str]] = defaultdict(set)
        for c in population.customers:
            if c.role == "fraudster":
                assert c.scenario == "ring"
                assert c.ring_id
                members[c.ring_id].add(c.customer_id)
            else:
                assert c.ring_id == ""
        assert members
        devices_of: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        ring_of = {cid: ring for ring, ids in members.items() for cid in ids}
        for event in population.events:
            ring = ring_of.get(event["customer_id"])
            if ring is not None:
                devices_of[ring][event["device_id"]].add(event["customer_id"])
        for ring, ids in members.items():
            assert 5 <= len(ids) <= 50, (ring, len(ids))
            devices = devices_of[ring]
            assert len(devices) < len(ids), f"ring {ring}: every identity on its own device"
            assert max(len(users) for users in devices.values()) >= 2

    def test_larger_ring_budget_splits_into_rings_of_5_to_50(self) -> None:
        population = generate(2000, days=3, seed=9, ring_members_rate=0.06)
        sizes = Counter(c.ring_id for c in population.customers if c.role == "fraudster")
        assert len(sizes) >= 2
        assert all(5 <= n <= 50 for n in sizes.values()), sizes

    def test_honest_lookalikes_at_least_2_percent(
        self, population: Population, roles: dict[str, str]
    ) -> None:
        """Counted from the events alone, over honest customers (role ``honest``), outside the
        warm-up history, an honest customer shows a look-alike if any of their events is:

        * an event with ``session.call_active`` (money sent during a phone call);
        * a ``device_change`` (a new phone, usually followed by a payment);
        * a ``transfer`` of at least half of the customer's latest disbursement, within three
          hours of it, to a payee the customer had never paid before (tuition, a car, a rent
          deposit paid out of a fresh loan).
        """
        seen_payees: dict[str, set[str]] = defaultdict(set)
        last_disbursement: dict[str, tuple[datetime, float]] = {}
        found: dict[str, set[str]] = {"call": set(), "new_phone": set(), "loan_out": set()}
        for event in population.events:
            customer = event["customer_id"]
            if roles[customer] != "honest":
                continue
            at = _when(event)
            if not event["attributes"].get("warmup"):
                if event.get("session", {}).get("call_active"):
                    found["call"].add(customer)
                if event["type"] == "device_change":
                    found["new_phone"].add(customer)
                if event["type"] == "transfer" and customer in last_disbursement:
                    when, amount = last_disbursement[customer]
                    if (
                        at - when <= timedelta(hours=3)
                        and float(event["amount"]) >= 0.5 * amount
                        and event["payee_id"] not in seen_payees[customer]
                    ):
                        found["loan_out"].add(customer)
            if event["type"] == "disbursement":
                last_disbursement[customer] = (at, float(event["amount"]))
            if event.get("payee_id"):
                seen_payees[customer].add(event["payee_id"])
        honest = sum(1 for r in roles.values() if r == "honest")
        lookalikes = set().union(*found.values())
        assert len(lookalikes) / honest >= 0.02, {k: len(v) for k, v in found.items()}
        # each kind is present, not just one of them
        assert all(found.values()), {k: len(v) for k, v in found.items()}

    def test_rates_are_parameters(self) -> None:
        none = generate(500, days=3, seed=4, victim_rate=0.0, mule_rate=0.0, ring_members_rate=0)
        assert {c.role for c in none.customers} == {"honest"}
        assert all(e["attributes"]["is_fraud"] == 0 for e in none.events)
        many = generate(500, days=3, seed=4, victim_rate=0.2)
        assert sum(c.role == "victim" for c in many.customers) >= 60

    def test_start_and_progress(self) -> None:
        start = datetime.fromisoformat("2025-06-01T00:00:00+08:00")
        calls: list[int] = []
        population = generate(1001, days=2, seed=1, start=start, on_progress=calls.append)
        assert population.start == start
        assert population.days == 2
        assert calls == [0, 500, 1000]
        outside_history = [e for e in population.events if not e["attributes"].get("warmup")]
        assert min(_when(e) for e in outside_history) >= start
