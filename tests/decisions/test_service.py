"""The decisions service on both databases: stored lists and suppressions, personal data kept
out of the log, batches in one commit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fixtures import MISSING, T0, count_rows, make_event, r39_scam_events, reason_codes
from lendguard.decisions.repository import decision_repository as repo
from lendguard.decisions.service import DecisionService
from lendguard.errors import IdempotencyMismatch, LendGuardError, ValidationFailed
from lendguard.events.parse import parse_event

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
        service.add_list_entry("deny", field, value, "confirmed mule", "analyst-7")
        decision = decide(service, make_event(amount="10", **overrides))
        assert decision["action"] == "block"
        assert reason_codes(decision) == {"DENY_LISTED"}

    def test_lists_survive_a_restart(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        first = service_factory(database_url)
        first.add_list_entry("allow", "customer", "student-21", "verified by phone", "analyst-7")
        second = service_factory(database_url)
        decisions = [decide(second, e) for e in r39_scam_events()]
        fraud = [r["code"] for r in decisions[-1]["reasons"] if r["category"] == "fraud"]
        assert fraud == ["ALLOW_LISTED"]
        assert "DELAY" not in decisions[-1]["measures"]

    def test_expired_entry_is_ignored(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        service = service_factory(database_url)
        service.add_list_entry(
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
            service.add_list_entry(list_type, field, "x", "r", "a")
        assert [e.field for e in caught.value.errors] == [bad]
        assert count_rows(service.db, "list_entries") == 0

    def test_suppression_until_a_time(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        service = service_factory(database_url)
        version = service.upload_ruleset(CALL_RULES, "analyst-7")["version"]
        service.activate_ruleset(version, "approver-2")
        service.add_suppression(
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
