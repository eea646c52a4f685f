"""The decisions service on both databases: stored lists and suppressions, personal data kept
out of the log, batches in one commit."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fixtures import MISSING, T0, count_rows, make_event, r39_scam_events, reason_codes
from lendguard.decisions.repository import decision_repository as repo
from lendguard.decisions.service import DecisionService
from lendguard.decisions.twins import ShadowRuleSet
from lendguard.errors import IdempotencyMismatch, LendGuardError, NotFound, ValidationFailed
from lendguard.events.parse import parse_event
from lendguard.graph.index import LinkIndex

ServiceFactory = Callable[..., DecisionService]

CALL_RULES = """\
name: calls
rules:
  - id: call
    category: fraud
    when: is_outflow and call_active
    action: dissuade
    reason: CALL
    message: {zh-CN: "通话中转账", en: "payment during a call"}
"""


def decide(service: DecisionService, raw: dict[str, Any]) -> dict[str, Any]:
    return service.decide(parse_event(raw))


class TestStoredLists:
    @pytest.mark.parametrize(
        ("field", "value", "overrides"),
        [
            ("customer", "cust-1", {}),
            ("device", "dev-1", {}),
            ("payee", "payee-1", {}),
            ("ip", "10.0.0.1", {}),
            ("card", "6222020200112233", {"card_id": "6222020200112233"}),
        ],
        ids=["customer", "device", "payee", "ip", "card"],
    )
    def test_deny_entry_blocks_the_next_decision(
        self,
        database_url: str,
        service_factory: ServiceFactory,
        field: str,
        value: str,
        overrides: dict[str, Any],
    ) -> None:
        """The lender deny-lists the value it knows (a card number, not our pseudonym)."""
        service = service_factory(database_url)
        service.lists.add_entry("deny", field, value, "confirmed mule", "analyst-7")
        decision = decide(service, make_event(amount="10", **overrides))
        assert decision["action"] == "block"
        assert reason_codes(decision) == {"DENY_LISTED"}

    def test_lists_survive_a_restart(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        first = service_factory(database_url)
        first.lists.add_entry("allow", "customer", "student-21", "verified by phone", "analyst-7")
        second = service_factory(database_url)
        decisions = [decide(second, e) for e in r39_scam_events()]
        fraud = [r["code"] for r in decisions[-1]["reasons"] if r["category"] == "fraud"]
        assert fraud == ["ALLOW_LISTED"]
        assert "DELAY" not in decisions[-1]["measures"]

    def test_expired_entry_is_ignored(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        service = service_factory(database_url)
        service.lists.add_entry(
            "deny", "customer", "cust-1", "old case", "analyst-7", expires_at=T0 - timedelta(days=1)
        )
        assert decide(service, make_event(amount="10"))["action"] == "allow"

    @pytest.mark.parametrize(
        ("list_type", "field", "bad"),
        [("grey", "customer", "list_type"), ("deny", "email", "field")],
    )
    def test_bad_entry_is_refused(
        self,
        database_url: str,
        service_factory: ServiceFactory,
        list_type: str,
        field: str,
        bad: str,
    ) -> None:
        service = service_factory(database_url)
        with pytest.raises(ValidationFailed) as caught:
            service.lists.add_entry(list_type, field, "x", "r", "a")
        assert [e.field for e in caught.value.errors] == [bad]
        assert count_rows(service.db, "list_entries") == 0

    def test_suppression_until_a_time(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        service = service_factory(database_url)
        version = service.rulesets.upload(CALL_RULES, "analyst-7")["version"]
        service.rulesets.activate(version, "approver-2")
        service.lists.add_suppression(
            "cust-1",
            "call",
            until=T0 + timedelta(hours=1),
            reason="customer explained: calling her bank",
            author="analyst-7",
        )
        during = decide(service, make_event(amount="1200", session={"call_active": True}))
        after = decide(
            service,
            make_event(
                amount="1200",
                session={"call_active": True},
                occurred_at=T0 + timedelta(hours=2),
            ),
        )
        other = decide(service, make_event(customer_id="cust-2", session={"call_active": True}))
        assert (during["action"], reason_codes(during)) == ("allow", set())
        assert (after["action"], reason_codes(after)) == ("dissuade", {"CALL"})
        assert other["action"] == "dissuade"


class TestPersonalData:
    def test_phone_card_and_address_are_pseudonymised_in_the_log(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        service = service_factory(database_url)
        event = make_event(
            phone="13800138000", card_id="6222020200112233", address_id="addr-home-42"
        )
        decide(service, event)
        with service.db.connect() as conn:
            ((_, body),) = list(repo.events_after(conn, 0))
        stored = repr(body)
        for clear in ("13800138000", "6222020200112233", "addr-home-42"):
            assert clear not in stored
        assert body["phone"].startswith("h1:")

    def test_the_same_event_again_is_still_the_same_event(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        service = service_factory(database_url)
        event = make_event(phone="13800138000")
        first = decide(service, event)
        assert decide(service, event)["decision_id"] == first["decision_id"]
        with pytest.raises(IdempotencyMismatch):
            decide(service, {**event, "phone": "13900139000"})


class TestBatches:
    def test_decide_many_keeps_order_and_refuses_in_place(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        service = service_factory(database_url)
        disbursement, transfer = r39_scam_events()
        results = service.decide_many(
            [disbursement, make_event(customer_id=MISSING), transfer, disbursement]
        )
        assert isinstance(results[1], LendGuardError)
        first, _, second, repeat = results
        assert isinstance(first, dict)
        assert isinstance(second, dict)
        assert isinstance(repeat, dict)
        assert (first["action"], second["action"]) == ("allow", "intercept")
        assert repeat["decision_id"] == first["decision_id"]
        assert count_rows(service.db, "events") == 2
        assert count_rows(service.db, "decisions") == 2

    def test_decided_at_is_now_and_occurred_at_is_the_event_time(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        service = service_factory(database_url)
        before = datetime.now(UTC)
        decision = decide(service, make_event())
        stored = service.get_decision(decision["decision_id"])
        assert stored["occurred_at"] == T0
        assert before <= stored["decided_at"] <= datetime.now(UTC)


CALL_RULES_AGAIN = CALL_RULES.replace("reason: CALL", "reason: CALL_AGAIN")


class TestOneActiveConfiguration:
    def test_a_change_publishes_a_new_snapshot_and_leaves_the_old_one_whole(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        service = service_factory(database_url)
        before = service.configuration.active
        version = service.rulesets.upload(CALL_RULES, "analyst-7")["version"]
        service.rulesets.activate(version, "approver-2")
        after = service.configuration.active
        assert after is not before
        assert (before.ruleset_version, after.ruleset_version) == (1, version)
        assert before.ruleset is not None
        assert after.ruleset is not None
        assert [r.id for r in after.ruleset.rules] == ["call"]
        assert "call" not in {r.id for r in before.ruleset.rules}
        # What did not change is shared, not copied.
        assert after.lists is before.lists
        with pytest.raises(dataclasses.FrozenInstanceError):
            after.ruleset_version = 1  # type: ignore[misc]
        # The old names read the same snapshot.
        assert (service.ruleset, service.ruleset_version) == (after.ruleset, version)

    def test_a_decision_is_made_by_one_snapshot_while_rule_sets_are_swapped(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        """Rule sets are activated in turn while decisions run: every decision's reasons come
        from the version it reports."""
        service = service_factory(database_url)
        first = service.rulesets.upload(CALL_RULES, "analyst-7")["version"]
        second = service.rulesets.upload(CALL_RULES_AGAIN, "analyst-7")["version"]
        service.rulesets.activate(first, "approver-2")
        stop = threading.Event()

        def swap() -> None:
            while not stop.is_set():
                for version in (second, first):
                    service.rulesets.activate(version, "approver-2")

        swapper = threading.Thread(target=swap)
        swapper.start()
        try:
            decided = [
                decide(service, make_event(customer_id=f"c-{n}", session={"call_active": True}))
                for n in range(40)
            ]
        finally:
            stop.set()
            swapper.join()
        expected = {first: {"CALL"}, second: {"CALL_AGAIN"}}
        for decision in decided:
            assert reason_codes(decision) == expected[decision["ruleset_version"]]


class TestTwins:
    def test_a_shadow_runs_beside_the_live_rule_set_and_survives_a_restart(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        service = service_factory(database_url)
        version = service.rulesets.upload(CALL_RULES, "analyst-7")["version"]
        service.rulesets.start_shadow(version, "analyst-7")
        twin = service.configuration.active.shadow
        assert isinstance(twin, ShadowRuleSet)
        assert twin.version == version
        decided = decide(service, make_event(amount="10", session={"call_active": True}))
        # Recorded, never returned: the live rule set decided.
        assert decided["ruleset_version"] == 1
        assert "CALL" not in reason_codes(decided)
        restarted = service_factory(database_url)
        restored = restarted.configuration.active.shadow
        assert restored is not None
        assert restored.version == version
        with pytest.raises(NotFound, match="not running in shadow"):
            restarted.rulesets.stop_shadow(version + 1, "analyst-7")
        restarted.rulesets.stop_shadow(version, "analyst-7")
        assert restarted.configuration.active.shadow is None
        report = restarted.rulesets.shadow_report(version)
        assert (report["running"], report["events"]) == (False, 1)
        assert report["shadow_actions"]["dissuade"] == 1


class TestLinkIndexHandedIn:
    def test_the_graph_is_built_by_the_factory_the_service_is_given(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        made: list[LinkIndex] = []

        def link_index(*, card_alias: Callable[[str], str]) -> LinkIndex:
            graph = LinkIndex(card_alias=card_alias)
            made.append(graph)
            return graph

        service = service_factory(database_url, link_index=link_index)
        decide(service, make_event(customer_id="c-a", device_id="dev-shared"))
        decide(service, make_event(customer_id="c-b", device_id="dev-shared"))
        assert made
        assert service.graph is made[-1]
        assert sorted(made[-1].group("c-b")) == ["c-a", "c-b"]
