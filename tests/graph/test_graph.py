"""The entity-link graph: links, groups, ring and mule flags, and the engine's graph features."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from fixtures import T0, Api, make_event, reason_codes
from lendguard.cli.main import app as cli
from lendguard.graph.batch import evaluate, rebuild
from lendguard.graph.index import HUB_CAP, LinkIndex
from lendguard.graph.rings import components_from_links, detect
from lendguard.simulate.demo import write_population
from lendguard.simulate.generator import generate

DAY = 86_400.0
NOW = T0.timestamp()


def _register(index: LinkIndex, customer: str, at: float, **links: str) -> None:
    index.add(customer, "registration", at, links=links, created_at=at)


class TestLinks:
    def test_strong_links_join_and_weak_links_do_not(self) -> None:
        index = LinkIndex()
        _register(index, "a", NOW, device="d1", ip="1.1.1.1")
        _register(index, "b", NOW, device="d1")
        _register(index, "c", NOW, phone="p9", ip="1.1.1.1")
        assert sorted(index.group("a")) == ["a", "b"]
        assert index.group_size("c") == 1  # the shared IP is weak
        _register(index, "b", NOW + 10, phone="p9")
        assert sorted(index.group("c")) == ["a", "b", "c"]

    def test_a_hub_entity_joins_nobody_once_it_is_a_hub(self) -> None:
        index = LinkIndex(hub_cap=3)
        _register(index, "u0", NOW, phone="own-sim")
        _register(index, "u1", NOW, phone="own-sim")
        for n in range(3):
            _register(index, f"u{n}", NOW + n, device="shop-pos")
        assert index.group_size("u2") == 3  # still below the cap
        for n in range(3, 6):
            _register(index, f"u{n}", NOW + n, device="shop-pos")
        # past the cap the earlier joins through it are undone; other links stay
        assert sorted(index.group("u0")) == ["u0", "u1"]
        assert index.group_size("u2") == 1
        assert index.group_size("u5") == 1
        assert index.shared_identifier_types("u2", {"device": "shop-pos"}) == 0
        assert HUB_CAP >= 10

    def test_a_snapshot_keeps_its_groups_while_the_index_moves_on(self) -> None:
        index = LinkIndex()
        for n in range(3):
            _register(index, f"s{n}", NOW + n, device="shared")
        copy = index.snapshot()
        _register(index, "s3", NOW + 10, device="shared")
        _register(index, "s0", NOW + 30, device="shared")  # last seen moves on the original
        index.mark_fraud("s0")
        assert index.entities["d:shared"]["s0"][2] == NOW + 30
        assert copy.groups(3) == [["s0", "s1", "s2"]]
        assert index.groups(3) == [["s0", "s1", "s2", "s3"]]
        assert copy.ring_view("s0", {}, NOW + 20)[1] == 0.0
        assert copy.entities["d:shared"]["s0"][2] == NOW

    def test_ring_view_counts_the_events_own_links(self) -> None:
        index = LinkIndex()
        for n in range(4):
            _register(index, f"r{n}", NOW, device="gang-d", phone="gang-p")
        size, labelled, new = index.ring_view("newcomer", {"device": "gang-d"}, NOW + 60)
        assert (size, labelled, new) == (5, 0.0, 0.8)  # the newcomer's opening date is unknown
        assert index.ring_view("newcomer", {"device": "other"}, NOW + 60)[0] == 1
        assert index.shared_identifier_types("r0", {}) == 2
        assert index.shared_identifier_types("newcomer", {"device": "gang-d"}) == 1

    def test_fraud_labels_count_from_when_they_are_known(self) -> None:
        index = LinkIndex()
        for n in range(4):
            _register(index, f"r{n}", NOW, device="gang-d")
        before = index.ring_view("r0", {}, NOW + 1)[1]
        index.mark_fraud("r1")
        index.mark_fraud("r1")  # idempotent
        assert before == 0.0
        assert index.ring_view("r0", {}, NOW + 2)[1] == pytest.approx(0.25)
        # labels follow a later merge
        _register(index, "x", NOW + 3, device="x-d")
        index.mark_fraud("x")
        _register(index, "x", NOW + 4, device="gang-d")
        assert index.ring_view("r0", {}, NOW + 5)[1] == pytest.approx(2 / 5)

    def test_new_account_share_is_point_in_time(self) -> None:
        index = LinkIndex()
        _register(index, "old", NOW - 400 * DAY, device="d")
        _register(index, "young", NOW, device="d")
        assert index.ring_view("old", {}, NOW)[2] == pytest.approx(0.5)
        assert index.ring_view("old", {}, NOW + 31 * DAY)[2] == 0.0
        # an account opened after the instant asked about is not "new" then
        assert index.ring_view("old", {}, NOW - 10 * DAY)[2] == 0.0


class TestMules:
    def _mule(self, index: LinkIndex, senders: int) -> None:
        index.add("m", "registration", NOW, created_at=NOW, links={"card": "k-m"})
        for n in range(senders):
            index.add("m", "deposit", NOW + 60 * n, amount=3000.0, payer=f"stranger-{n}")

    def test_many_senders_and_a_cash_out_score_high(self) -> None:
        index = LinkIndex()
        self._mule(index, 8)
        before = index.mule_score("m", NOW + 3600)
        index.add("m", "withdrawal", NOW + 3600, amount=23_000.0, payee="cash")
        after = index.mule_score("m", NOW + 3601)
        assert 0.6 <= before < after <= 1.0
        assert index.payee_mule_score("k-m", NOW + 3601) == after
        assert index.mule_peak["m"] == after
        # the three-day window has passed, the memory of the peak fades (half-life 30 days)
        assert after * 0.9 < index.mule_score("m", NOW + 4 * DAY) < after
        assert index.mule_score("m", NOW + 150 * DAY) < 0.05

    def test_a_mule_coming_back_is_remembered_by_its_latest_burst(self) -> None:
        index = LinkIndex()
        self._mule(index, 8)
        index.add("m", "withdrawal", NOW + 3600, amount=23_000.0, payee="cash")
        first = index.mule_score("m", NOW + 3601)
        later = NOW + 90 * DAY
        for n in range(8):
            index.add("m", "deposit", later + 60 * n, amount=3000.0, payer=f"again-{n}")
        index.add("m", "withdrawal", later + 900, amount=20_000.0, payee="cash")
        second = index.mule_score("m", later + 901)
        assert 0.6 <= second < first
        # ten days on, the later (lower) peak weighs more than the faded first one
        assert index.mule_score("m", later + 10 * DAY) >= second * 0.75

    def test_salary_and_two_senders_score_zero(self) -> None:
        index = LinkIndex()
        for month in range(3):
            index.add("h", "deposit", NOW + month * 30 * DAY, amount=8000.0, payer="employer")
        index.add("h", "deposit", NOW + 1, amount=500.0, payer="mum")
        assert index.mule_score("h", NOW + 2) == 0.0
        self._mule(index, 2)
        assert index.mule_score("m", NOW + 200) == 0.0

    def test_an_outside_payee_seen_only_inbound_stays_below_threshold(self) -> None:
        index = LinkIndex()
        for n in range(30):
            index.add(f"c{n}", "payment", NOW + n, amount=2000.0, payee="landlord")
        assert 0.0 < index.payee_mule_score("landlord", NOW + 60) <= 0.5


class TestDetection:
    def _history(self) -> LinkIndex:
        index = LinkIndex()
        # a gang: 6 new identities on 2 devices, one SIM, one card
        for n in range(6):
            index.add(
                f"g{n}",
                "registration",
                NOW + n * 60,
                links={"device": f"gang-d{n % 2}", "phone": "gang-sim", "card": "gang-card"},
                created_at=NOW + n * 60,
            )
        # a promoter's tablet: 6 honest new customers, only the device shared
        for n in range(6):
            _register(index, f"k{n}", NOW + n * 60, device="kiosk")
        # a family: old accounts on one tablet and one address
        for n in range(3):
            index.add(
                f"f{n}",
                "login",
                NOW,
                links={"device": "family-tab", "address": "home"},
                created_at=NOW - 900 * DAY,
            )
        return index

    def test_the_gang_is_a_ring_the_kiosk_and_the_family_are_not(self) -> None:
        found = detect(self._history())
        assert found.ring_members == {f"g{n}" for n in range(6)}
        (ring,) = found.rings
        assert ring.link_types == ["card", "device", "phone"]
        assert "ACCOUNTS_OPENED_TOGETHER_SHARING_IDENTIFIERS" in ring.reasons

    def test_confirmed_labels_make_an_old_group_a_ring(self) -> None:
        index = self._history()
        for n in range(4):
            index.add(f"o{n}", "login", NOW, links={"device": "old-d"}, created_at=NOW - 800 * DAY)
        assert not (detect(index).ring_members & {"o0"})
        index.mark_fraud("o1")
        index.mark_fraud("o2")
        assert {"o0", "o1", "o2", "o3"} <= detect(index).ring_members

    def test_components_at_scale_match_the_union_find(self) -> None:
        np = pytest.importorskip("numpy")
        customers = np.array([0, 1, 1, 2, 3, 4])
        entities = np.array([0, 0, 1, 1, 2, 3])
        labels, count = components_from_links(customers, entities, 6, 4)
        assert count == 4  # {0,1,2}, {3}, {4}, {5 (no links)}
        assert labels[0] == labels[1] == labels[2]
        assert len({labels[3], labels[4], labels[5], labels[0]}) == 4
        # entities 0 and 1 have two customers each: a hub cap of 2 keeps them, 1 drops them
        assert components_from_links(customers, entities, 6, 4, hub_cap=2)[1] == 4
        capped, capped_count = components_from_links(customers, entities, 6, 4, hub_cap=1)
        assert capped_count == 6
        assert capped[1] != capped[2]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("graph-sim")
    population = generate(2500, days=20, seed=5, ring_members_rate=0.03, mule_rate=0.01)
    write_population(population.events, population.accounts_rows(), folder)
    return folder


class TestOnTheSimulator:
    def test_ring_and_mule_precision_and_recall(self, simulated: Path) -> None:
        index, bad = rebuild(simulated / "events.jsonl")
        figures = evaluate(detect(index), simulated / "accounts.csv")
        assert bad == []
        assert figures["ring_members_true"] >= 50
        assert figures["mules_true"] >= 10
        assert figures["ring_precision"] >= 0.9
        assert figures["ring_recall"] >= 0.9
        assert figures["mule_precision"] >= 0.8
        assert figures["mule_recall"] >= 0.9

    def test_cli_evaluate_prints_the_four_figures(self, simulated: Path) -> None:
        result = CliRunner().invoke(
            cli,
            [
                "graph",
                "evaluate",
                "--events",
                str(simulated / "events.jsonl"),
                "--accounts",
                str(simulated / "accounts.csv"),
                "--json",
            ],
        )
        assert result.exit_code == 0, result.output
        figures = json.loads(result.stdout)
        for name in ("ring_precision", "ring_recall", "mule_precision", "mule_recall"):
            assert 0.0 <= figures[name] <= 1.0

    def test_cli_rebuild_writes_rings_and_mules(self, simulated: Path, tmp_path: Path) -> None:
        result = CliRunner().invoke(
            cli,
            [
                "graph",
                "rebuild",
                "--events",
                str(simulated / "events.jsonl"),
                "--out",
                str(tmp_path),
                "--json",
            ],
        )
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        rings = json.loads((tmp_path / "rings.json").read_text())
        assert summary["rings"] == len(rings) > 0
        assert (tmp_path / "mules.csv").read_text().count("\n") == summary["mules"] + 1

    def test_a_bad_row_stops_the_rebuild_naming_its_line(self, tmp_path: Path) -> None:
        events = tmp_path / "events.jsonl"
        good = make_event()
        bad = make_event(occurred_at="yesterday")
        events.write_bytes(orjson.dumps(good) + b"\n" + orjson.dumps(bad) + b"\n")
        out = tmp_path / "out"
        result = CliRunner().invoke(
            cli, ["graph", "rebuild", "--events", str(events), "--out", str(out)]
        )
        assert result.exit_code == 1
        assert ":2:" in result.output
        assert "occurred_at" in result.output
        assert not out.exists()


def _at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def _gang_event(n: int, kind: str, minutes: float, **extra: Any) -> dict[str, Any]:
    return make_event(
        type=kind,
        customer_id=f"gang-{n}",
        occurred_at=_at(minutes),
        device_id="gang-phone-1",
        phone="+86-139-0000-0001",
        ip="192.168.9.1",
        payee_id=None,
        **extra,
    )


class TestEngineFeatures:
    def test_a_ring_members_application_is_intercepted(self, app_client: Api) -> None:
        created = T0 - timedelta(days=1)
        for n in range(5):
            app_client.decide(
                _gang_event(
                    n,
                    "registration",
                    n,
                    amount=None,
                    currency=None,
                    customer={"created_at": created.isoformat()},
                )
            )
        decision = app_client.decide(_gang_event(5, "application", 10, amount="5000.00"))
        assert "RING_MEMBER" in reason_codes(decision)
        assert decision["action"] in ("intercept", "block")
        # an honest customer alone on their own phone is untouched
        alone = app_client.decide(
            make_event(
                type="application",
                customer_id="solo",
                device_id="solo-d",
                payee_id=None,
                amount="5000.00",
                occurred_at=_at(11),
            )
        )
        assert "RING_MEMBER" not in reason_codes(alone)

    def test_contact_lists_are_pseudonymised_and_link_to_customers_phones(
        self, app_client: Api
    ) -> None:
        app_client.decide(
            make_event(
                type="login",
                customer_id="friend",
                device_id="friend-phone",
                phone="+86-138-1111-2222",
                payee_id=None,
                amount=None,
                currency=None,
            )
        )
        app_client.decide(
            make_event(
                type="login",
                customer_id="me",
                device_id="my-phone",
                payee_id=None,
                amount=None,
                currency=None,
                attributes={"contact_phones": ["+86-138-1111-2222"]},
            )
        )
        graph = app_client.services.decisions.graph
        (friends_phone,) = [k for k in graph.customer_entities["friend"] if k.startswith("ph:")]
        assert friends_phone.startswith("ph:h1:")
        assert friends_phone in graph.customer_entities["me"]
        assert graph.entities[friends_phone]["me"][0] == "contact"
        assert all("1111" not in key for key in graph.entities)
        with app_client.services.decisions.db.connect() as conn:
            bodies = [row[0] for row in conn.exec_driver_sql("SELECT body FROM events")]
        assert all("1111-2222" not in str(body) for body in bodies)
        assert graph.group_size("me") == 1  # a contact-list entry is a weak link

    def test_the_graph_survives_a_restart(self, app_client: Api) -> None:
        for n in range(3):
            app_client.decide(_gang_event(n, "login", n, amount=None, currency=None))
        services = app_client.services.decisions
        assert services.graph.group_size("gang-0") == 3
        services._rebuild_graph()
        assert services.graph.group_size("gang-0") == 3

    def test_a_transfer_to_a_mules_card_is_intercepted(self, app_client: Api) -> None:
        start = T0 - timedelta(hours=5)
        for n in range(7):
            app_client.decide(
                make_event(
                    type="deposit",
                    customer_id="mule-1",
                    occurred_at=(start + timedelta(minutes=5 * n)).isoformat(),
                    card_id="card-of-mule-1",
                    payer_id=f"stranger-{n}",
                    payee_id=None,
                    amount="4000.00",
                )
            )
        victim = app_client.decide(
            make_event(
                customer_id="victim-1",
                payee_id="card-of-mule-1",
                amount="6000.00",
                occurred_at=T0.isoformat(),
            )
        )
        assert "PAYEE_MULE_SUSPECTED" in reason_codes(victim)
        assert victim["action"] in ("intercept", "block")
        other = app_client.decide(
            make_event(
                customer_id="victim-2",
                payee_id="landlord-9",
                amount="6000.00",
                occurred_at=T0.isoformat(),
            )
        )
        assert "PAYEE_MULE_SUSPECTED" not in reason_codes(other)


def test_generated_links_are_deterministic_and_carry_confounders() -> None:
    a = generate(3000, days=10, seed=11, ring_members_rate=0.02, mule_rate=0.01)
    b = generate(3000, days=10, seed=11, ring_members_rate=0.02, mule_rate=0.01)
    assert a.events == b.events
    assert any(e.get("card_id", "").startswith("ring-") for e in a.events)
    times = [datetime.fromisoformat(e["occurred_at"]) for e in a.events]
    assert times == sorted(times)
    roles = {c.customer_id: c.role for c in a.customers}
    # victims' money reaches mule accounts, which see it arrive
    victim_payers = {
        e["payer_id"]
        for e in a.events
        if e["type"] == "deposit" and roles.get(e["customer_id"]) == "mule"
    }
    assert {p for p in victim_payers if roles.get(p) == "victim"}
    # honest households share a device; honest kiosk sign-ups share one at registration
    households: dict[str, set[str]] = {}
    kiosks: dict[str, set[str]] = {}
    for e in a.events:
        device = e.get("device_id", "")
        if device.startswith("hh-"):
            households.setdefault(device, set()).add(e["customer_id"])
        if device.startswith("kiosk-"):
            kiosks.setdefault(device, set()).add(e["customer_id"])
    assert households
    assert all(2 <= len(m) <= 3 for m in households.values())
    assert all(roles[c] == "honest" for m in households.values() for c in m)
    assert kiosks
    assert all(roles[c] == "honest" for m in kiosks.values() for c in m)
    # off, the earlier releases' events come back (no cards, no kiosks)
    plain = generate(300, days=3, seed=11, infrastructure=False)
    assert not any("card_id" in e for e in plain.events)
