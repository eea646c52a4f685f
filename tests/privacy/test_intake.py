"""Personal information sent where the event contract has no place for it — a customer id that
is a mobile number, a payee that is a bank card, an ID number or an e-mail in ``attributes`` —
is pseudonymised or masked on intake: never in clear in the event log, the decisions, the state,
the graph or the answer; the same event is still the same event, and one customer still links.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Text, cast, select

from fixtures import Api, count_rows, make_event, r39_scam_events, reason_codes
from lendguard.decisions.repository import decision_repository as repo
from lendguard.decisions.service import DecisionService
from lendguard.events.parse import parse_event
from lendguard.models import Base

ServiceFactory = Callable[..., DecisionService]

MOBILE = "13987654321"
CARD = "6222020200112233446"  # UnionPay, Luhn-valid
RESIDENT_ID = "11010519491231002X"  # the worked example of GB 11643-1999
EMAIL = "zhang.san@example.com"
# The values, and the parts of them a mask hides: none may be stored or answered.
CLEAR = (MOBILE, CARD, "0200112233", "19491231", "zhang.san", "8765-4321")


def pii_event(**overrides: Any) -> dict[str, Any]:
    event = make_event(
        customer_id=MOBILE,
        payee_id=CARD,
        attributes={
            "id_number": RESIDENT_ID,
            "note": f"客户邮箱 {EMAIL}，身份证{RESIDENT_ID}。",
            "contacts": [{"email": EMAIL}, {"phone": "139-8765-4321", "relation": "self"}],
            RESIDENT_ID: "a key that is an ID number",
            "mobile_as_number": int(MOBILE),
        },
        # An unknown top-level field: moved into attributes, masked there too.
        id_card=RESIDENT_ID,
        customer={"contact_email": EMAIL},
    )
    event.update(overrides)
    return event


def assert_no_clear(text: str | bytes, where: str) -> None:
    for clear in CLEAR:
        found = clear.encode() in text if isinstance(text, bytes) else clear in text
        assert not found, f"{clear!r} in clear in {where}"


def assert_nothing_stored_in_clear(api: Api) -> None:
    service = api.services.decisions
    with service.db.connect() as conn:
        events = Base.metadata.tables["events"]
        # The JSON exactly as the database holds it.
        for raw in conn.execute(select(cast(events.c.body, Text))).scalars():
            assert_no_clear(raw, "events.body")
        for table in Base.metadata.sorted_tables:
            assert_no_clear(repr(conn.execute(select(table)).all()), f"table {table.name}")
    for key, state in api.states().items():
        assert_no_clear(key, "a state key")
        assert_no_clear(state.to_bytes(), f"state {key}")
    graph = service.graph
    assert_no_clear(repr(graph.entities) + repr(graph.customer_entities), "the link graph")


class TestIntake:
    def test_personal_data_in_identifiers_and_attributes_is_never_stored_in_clear(
        self, app_client: Api
    ) -> None:
        response = app_client.post_event(pii_event())
        assert response.status_code == 200, response.text
        assert_no_clear(response.text, "the answer")
        decision = response.json()
        # The answer carries the id LendGuard keeps (the caller knows its own value).
        assert decision["customer_id"].startswith("h1:")
        assert_nothing_stored_in_clear(app_client)

        service = app_client.services.decisions
        with service.db.connect() as conn:
            ((_, body),) = list(repo.events_after(conn, 0))
        assert body["customer_id"] == decision["customer_id"]
        assert body["payee_id"].startswith("h1:")
        attributes = body["attributes"]
        assert attributes["id_number"] == "110105********002X"
        assert attributes["id_card"] == "110105********002X"
        assert attributes["note"] == "客户邮箱 z***@example.com，身份证110105********002X。"
        assert attributes["contacts"] == [
            {"email": "z***@example.com"},
            {"phone": "139-****-4321", "relation": "self"},
        ]
        assert attributes["mobile_as_number"] == "139****4321"
        assert RESIDENT_ID not in attributes
        assert "a key that is an ID number" in attributes.values()
        assert body["customer"]["contact_email"] == "z***@example.com"

        # The clear identifiers are kept in the vault, found by the pseudonym stored.
        vault = app_client.services.vault
        assert vault.get("identifier", decision["customer_id"]) == MOBILE
        assert vault.get("identifier", body["payee_id"]) == CARD

    def test_the_same_event_twice_is_one_event_with_one_decision(self, app_client: Api) -> None:
        event = pii_event()
        first = app_client.decide(event)
        again = app_client.decide(event)
        assert again["decision_id"] == first["decision_id"]
        assert again == first
        assert app_client.written() == (1, 1)

    def test_one_mobile_number_customer_still_links_across_events(self, app_client: Api) -> None:
        disbursement, transfer = r39_scam_events(customer_id=MOBILE)
        transfer["payee_id"] = CARD
        first = app_client.decide(disbursement)
        second = app_client.decide(transfer)
        assert first["customer_id"] == second["customer_id"]
        # The transfer sees the disbursement 12 minutes before it: the same customer's history.
        assert second["action"] == "intercept"
        assert {"DISBURSEMENT_OUTFLOW_SHARE", "NEW_PAYEE"} <= reason_codes(second)
        share = next(r for r in second["reasons"] if r["code"] == "DISBURSEMENT_OUTFLOW_SHARE")
        assert share["values"]["minutes_since_disbursement"] == 12.0
        assert_nothing_stored_in_clear(app_client)

    def test_a_payee_that_is_a_card_joins_the_card_of_its_holder(self, app_client: Api) -> None:
        """The payee's pseudonym is the one ``card_id`` gets, so money paid to a customer's
        own card still finds that customer (the graph's card owner)."""
        app_client.decide(make_event(customer_id="holder-1", card_id=CARD, payee_id="payee-9"))
        app_client.decide(make_event(customer_id="payer-2", payee_id=CARD))
        service = app_client.services.decisions
        with service.db.connect() as conn:
            (_, own), (_, paid) = list(repo.events_after(conn, 0))
        assert paid["payee_id"] == own["card_id"]
        assert service.graph.card_owner.get(paid["payee_id"]) == "holder-1"
        assert_nothing_stored_in_clear(app_client)

    def test_the_lender_still_finds_and_lists_by_the_id_it_knows(self, app_client: Api) -> None:
        """Look-ups and lists take the lender's own id: its decisions, its linked group, a deny
        entry for a payee that is a card number and a snooze for a mobile-number customer all
        meet the pseudonymised events (they missed them before)."""
        decided = app_client.decide(make_event(customer_id=MOBILE, amount="50"))
        found = app_client.client.get(f"/v1/customers/{MOBILE}/decisions", headers=app_client.admin)
        assert found.status_code == 200, found.text
        assert [d["decision_id"] for d in found.json()["decisions"]] == [decided["decision_id"]]
        group = app_client.client.get(f"/v1/graph/customers/{MOBILE}", headers=app_client.admin)
        assert group.status_code == 200
        listed = app_client.client.post(
            "/v1/lists",
            json={"list_type": "deny", "field": "payee", "value": CARD, "reason": "mule card"},
            headers=app_client.admin,
        )
        assert listed.status_code == 201, listed.text
        blocked = app_client.decide(make_event(customer_id="c-pays", payee_id=CARD, amount="50"))
        assert blocked["action"] == "block"
        assert_nothing_stored_in_clear(app_client)

    def test_an_access_request_by_the_clear_id_exports_the_pseudonymised_history(
        self, app_client: Api
    ) -> None:
        """The customer asks with the id the lender knows (their mobile): the export holds the
        events and decisions stored under its pseudonym (it held none of them before)."""
        app_client.decide(make_event(customer_id=MOBILE, amount="50"))
        created = app_client.client.post(
            "/v1/privacy/requests",
            json={"customer_id": MOBILE, "kind": "access", "details": {}},
            headers=app_client.admin,
        ).json()
        for step, body in (("verify", {"method": "sms_code"}), ("fulfil", None)):
            done = app_client.client.post(
                f"/v1/privacy/requests/{created['id']}/{step}", json=body, headers=app_client.admin
            )
            assert done.status_code == 200, done.text
        export = app_client.client.get(
            f"/v1/privacy/requests/{created['id']}/export", headers=app_client.admin
        )
        assert export.status_code == 200, export.text
        tables = export.json()["tables"]
        assert len(tables["events"]["rows"]) == 1
        assert len(tables["decisions"]["rows"]) == 1
        assert len(tables["data_subject_requests"]["rows"]) == 1


def test_without_a_vault_the_service_still_keeps_no_clear_value(
    database_url: str, service_factory: ServiceFactory
) -> None:
    service = service_factory(database_url)
    assert service.vault is None
    event = pii_event()
    first = service.decide(parse_event(event))
    assert service.decide(parse_event(event))["decision_id"] == first["decision_id"]
    assert count_rows(service.db, "events") == 1
    assert_no_clear(repr(first), "the answer")
    with service.db.connect() as conn:
        for table in Base.metadata.sorted_tables:
            assert_no_clear(repr(conn.execute(select(table)).all()), f"table {table.name}")
