"""Trusted person (issue #19, item 4), over HTTP on a real database with the clock pinned: a
registration needs the customer's consent in the ledger and keeps the contact's name and phone
only in the vault; an outflow above the threshold is intercepted with DELAY until the trusted
person answers, once and in time; revoking ends it. Bad input is a 422 naming the field and
leaves nothing behind; every route needs trusted:write."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from fixtures import MISSING, PINNED_NOW, Api, make_event, reason_codes
from lendguard.decisions.engine import GENERIC_MESSAGES
from lendguard.models import AuditEntry
from lendguard.models.interventions import TrustedConfirmation, TrustedContact
from lendguard.models.privacy import VaultEntry

PROBLEM = "application/problem+json"
CUSTOMER = "elder-1"
CONTACT = {"name": "王小明", "phone": "13900001111", "threshold": "5000"}


def at(minutes: float) -> datetime:
    return PINNED_NOW + timedelta(minutes=minutes)


def consent(api: Api, customer: str = CUSTOMER, **overrides: Any) -> int:
    """The customer's consent to share their payments with a trusted contact, in the ledger."""
    api.client.post(
        "/v1/privacy/notices",
        json={
            "notice_key": "trusted-contact",
            "purposes": ["third_party_sharing"],
            "texts": {"zh-CN": "您的可信联系人会收到您大额付款的确认请求。"},
        },
        headers=api.admin,
    )
    body = {
        "customer_id": customer,
        "purpose": "third_party_sharing",
        "scope": "trusted_contact",
        "granted": True,
        "notice_key": "trusted-contact",
        "notice_version": 1,
        **overrides,
    }
    response = api.client.post("/v1/privacy/consents", json=body, headers=api.admin)
    assert response.status_code == 201, response.text
    consent_id: int = response.json()["id"]
    return consent_id


def register(api: Api, given: int, customer: str = CUSTOMER, **body: Any) -> Any:
    return api.client.put(
        f"/v1/customers/{customer}/trusted-contact",
        json={**CONTACT, "consent_id": given, **body},
        headers=api.admin,
    )


def trusted_audit(api: Api) -> list[str]:
    with api.services.decisions.db.connect() as conn:
        rows = conn.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars()
        return [a for a in rows if a.startswith("trusted.")]


def answer(api: Api, decision_id: str, confirmed: bool = True) -> Any:
    return api.client.post(
        f"/v1/decisions/{decision_id}/trusted-confirmation",
        json={"confirmed": confirmed, "by": "trusted_contact"},
        headers=api.admin,
    )


class TestRegistration:
    def test_the_contact_is_kept_only_in_the_vault_and_the_engine_sees_the_threshold(
        self, pinned_clock: Any, app_client: Api
    ) -> None:
        response = register(app_client, consent(app_client))
        assert response.status_code == 200, response.text
        view = response.json()
        assert view["active"] is True
        assert float(view["threshold"]) == 5000
        assert "name" not in view
        assert "phone" not in view
        with app_client.services.decisions.db.connect() as conn:
            row = conn.execute(select(TrustedContact)).one()
            kinds = set(conn.execute(select(VaultEntry.kind)).scalars())
        assert CONTACT["phone"] not in (row.phone_token, row.name_token)
        assert CONTACT["name"] not in (row.phone_token, row.name_token)
        assert {"name", "phone"} <= kinds
        vault = app_client.services.vault
        assert vault.get("phone", row.phone_token) == CONTACT["phone"]
        assert vault.get("name", row.name_token) == CONTACT["name"]
        assert trusted_audit(app_client) == ["trusted.registered"]

        small = app_client.decide(make_event(customer_id=CUSTOMER, amount="100", occurred_at=at(1)))
        assert "TRUSTED_CONFIRMATION_REQUIRED" not in reason_codes(small)
        large = app_client.decide(
            make_event(customer_id=CUSTOMER, amount="6000", occurred_at=at(2))
        )
        assert large["action"] == "intercept"
        assert large["reasons"][0]["code"] == "TRUSTED_CONFIRMATION_REQUIRED"
        assert "DELAY" in large["measures"]
        assert large["messages"] == [
            {"locale": loc, "text": GENERIC_MESSAGES["TRUSTED_CONFIRMATION_REQUIRED"][loc]}
            for loc in ("zh-CN", "en")
        ]
        # Only outflows wait: a repayment or a disbursement of any size does not.
        repayment = app_client.decide(
            make_event(
                customer_id=CUSTOMER,
                type="repayment",
                amount="9000",
                payee_id=MISSING,
                occurred_at=at(3),
            )
        )
        assert "TRUSTED_CONFIRMATION_REQUIRED" not in reason_codes(repayment)

    def test_revoking_ends_the_wait(self, pinned_clock: Any, app_client: Api) -> None:
        assert register(app_client, consent(app_client)).status_code == 200
        revoked = app_client.client.delete(
            f"/v1/customers/{CUSTOMER}/trusted-contact", headers=app_client.admin
        )
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["active"] is False
        large = app_client.decide(make_event(customer_id=CUSTOMER, amount="6000"))
        assert "TRUSTED_CONFIRMATION_REQUIRED" not in reason_codes(large)
        again = app_client.client.delete(
            f"/v1/customers/{CUSTOMER}/trusted-contact", headers=app_client.admin
        )
        assert again.status_code == 404
        assert trusted_audit(app_client) == ["trusted.registered", "trusted.revoked"]

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            ({"customer_id": "someone-else"}, "another customer's"),
            ({"scope": "police"}, "must be a consent"),
            ({"granted": False}, "withdrawal"),
        ],
    )
    def test_a_consent_that_does_not_allow_it_is_409_naming_it(
        self, pinned_clock: Any, app_client: Api, overrides: dict[str, Any], message: str
    ) -> None:
        response = register(app_client, consent(app_client, **overrides))
        assert response.status_code == 409, response.text
        errors = response.json()["errors"]
        assert [e["field"] for e in errors] == ["consent_id"]
        assert message in errors[0]["message"]
        assert app_client.rows("trusted_contacts") == 0
        assert app_client.rows("pii_vault") == 0

    def test_a_consent_withdrawn_since_is_409(self, pinned_clock: Any, app_client: Api) -> None:
        given = consent(app_client)
        consent(app_client, granted=False)
        response = register(app_client, given)
        assert response.status_code == 409
        assert "withdrawn" in response.json()["errors"][0]["message"]
        assert app_client.rows("trusted_contacts") == 0

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"phone": "call me"}, "phone"),
            ({"phone": "139\u000000001111"}, "phone"),
            ({"name": "  "}, "name"),
            ({"name": "王\u0000"}, "name"),
            ({"threshold": "-1"}, "threshold"),
            ({"threshold": "NaN"}, "threshold"),
            ({"consent_id": 0}, "consent_id"),
            ({"extra": 1}, "extra"),
        ],
    )
    def test_bad_input_is_422_naming_the_field_and_leaves_nothing_behind(
        self, pinned_clock: Any, app_client: Api, body: dict[str, Any], field: str
    ) -> None:
        consent_id = consent(app_client)
        response = register(app_client, consent_id, **body)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        assert [e["field"] for e in response.json()["errors"]] == [field]
        assert app_client.rows("trusted_contacts") == 0
        assert app_client.rows("pii_vault") == 0
        assert trusted_audit(app_client) == []

    def test_a_consent_not_in_the_ledger_is_404_naming_it(
        self, pinned_clock: Any, app_client: Api
    ) -> None:
        response = register(app_client, 999999)
        assert response.status_code == 404
        assert [e["field"] for e in response.json()["errors"]] == ["consent_id"]
        assert app_client.rows("trusted_contacts") == 0
        assert app_client.rows("pii_vault") == 0


class TestConfirmation:
    def held(self, api: Api) -> dict[str, Any]:
        assert register(api, consent(api)).status_code == 200
        decision = api.decide(make_event(customer_id=CUSTOMER, amount="6000", occurred_at=at(1)))
        assert "TRUSTED_CONFIRMATION_REQUIRED" in reason_codes(decision)
        return decision

    def test_the_answer_is_recorded_once(self, pinned_clock: Any, app_client: Api) -> None:
        decision = self.held(app_client)
        response = answer(app_client, decision["decision_id"])
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["status"], body["amount"]) == ("confirmed", 6000.0)
        twice = answer(app_client, decision["decision_id"], confirmed=False)
        assert twice.status_code == 409
        assert twice.headers["content-type"] == PROBLEM
        with app_client.services.decisions.db.connect() as conn:
            rows = conn.execute(select(TrustedConfirmation.status)).scalars().all()
        assert rows == ["confirmed"]
        assert trusted_audit(app_client) == ["trusted.registered", "trusted.confirmed"]

    def test_a_decline_is_recorded(self, pinned_clock: Any, app_client: Api) -> None:
        decision = self.held(app_client)
        response = answer(app_client, decision["decision_id"], confirmed=False)
        assert response.json()["status"] == "declined"

    @pytest.mark.parametrize(("confirmed", "status"), [(True, "released"), (False, "cancelled")])
    def test_the_held_payment_follows_the_answer(
        self, pinned_clock: Any, app_client: Api, confirmed: bool, status: str
    ) -> None:
        decision = self.held(app_client)
        holds = app_client.services.cases.holds
        assert holds.get(decision["decision_id"])["hold_status"] == "held"
        assert answer(app_client, decision["decision_id"], confirmed).status_code == 200
        assert holds.get(decision["decision_id"])["hold_status"] == status

    def test_a_late_answer_is_recorded_as_expired_and_refused(
        self, pinned_clock: Any, app_client: Api
    ) -> None:
        decision = self.held(app_client)
        pinned_clock.shift(timedelta(hours=25))
        response = answer(app_client, decision["decision_id"])
        assert response.status_code == 409
        assert response.json()["errors"][0]["field"] == "confirmed"
        with app_client.services.decisions.db.connect() as conn:
            rows = conn.execute(select(TrustedConfirmation.status)).scalars().all()
        assert rows == ["expired"]

    def test_a_decision_not_held_for_a_trusted_person_is_409_an_unknown_one_404(
        self, pinned_clock: Any, app_client: Api
    ) -> None:
        plain = app_client.decide(make_event(customer_id="nobody", amount="100"))
        assert answer(app_client, plain["decision_id"]).status_code == 409
        assert answer(app_client, "dec-missing").status_code == 404
        assert app_client.rows("trusted_confirmations") == 0

    @pytest.mark.parametrize(
        "body",
        [{"confirmed": "yes", "by": "trusted_contact"}, {"confirmed": True, "by": "customer"}],
    )
    def test_bad_answers_are_422(
        self, pinned_clock: Any, app_client: Api, body: dict[str, Any]
    ) -> None:
        decision = self.held(app_client)
        response = app_client.client.post(
            f"/v1/decisions/{decision['decision_id']}/trusted-confirmation",
            json=body,
            headers=app_client.admin,
        )
        assert response.status_code == 422
        assert app_client.rows("trusted_confirmations") == 0


def test_every_route_needs_the_trusted_scope(app_client: Api) -> None:
    others = app_client.key("locks:write", "decisions:read", "privacy:consent")
    routes = [
        ("PUT", f"/v1/customers/{CUSTOMER}/trusted-contact", {**CONTACT, "consent_id": 1}),
        ("GET", f"/v1/customers/{CUSTOMER}/trusted-contact", None),
        ("DELETE", f"/v1/customers/{CUSTOMER}/trusted-contact", None),
        (
            "POST",
            "/v1/decisions/dec-1/trusted-confirmation",
            {"confirmed": True, "by": "trusted_contact"},
        ),
    ]
    for method, url, body in routes:
        assert app_client.client.request(method, url, json=body).status_code == 401
        refused = app_client.client.request(method, url, json=body, headers=others)
        assert refused.status_code == 403, (method, url)
    assert app_client.rows("trusted_contacts") == 0
