"""R34: data collected for anti-fraud is not readable by marketing or credit functions."""

from __future__ import annotations

import json
from typing import Any

from fixtures import Api, make_event, r39_scam_events


class TestPurposeLimitation:
    def test_a_marketing_key_cannot_read_decisions(self, app_client: Api) -> None:
        decision = app_client.decide(make_event(customer_id="p-1"))
        marketing = app_client.key("decisions:read", "purpose:marketing")
        for url in (
            f"/v1/decisions/{decision['decision_id']}",
            "/v1/customers/p-1/decisions",
            f"/v1/decisions/{decision['decision_id']}/explanation",
        ):
            refused = app_client.client.get(url, headers=marketing)
            assert refused.status_code == 403, url
            body = refused.json()
            assert body["title"] == "Purpose violation"
            assert "PURPOSE_VIOLATION" in body["detail"]
            assert body["errors"][0]["field"] == "purpose"
        audit = app_client.client.get("/v1/audit", headers=app_client.admin).json()["entries"]
        violations = [e for e in audit if e["action"] == "privacy.purpose_violation"]
        assert len(violations) == 3
        assert {v["detail"]["purpose"] for v in violations} == {"marketing"}

    def test_a_declared_credit_purpose_is_refused_too(self, app_client: Api) -> None:
        app_client.decide(make_event(customer_id="p-2"))
        reader = app_client.key("decisions:read")
        refused = app_client.client.get(
            "/v1/customers/p-2/decisions",
            headers={**reader, "X-LendGuard-Purpose": "credit"},
        )
        assert refused.status_code == 403
        fraud_team = app_client.client.get(
            "/v1/customers/p-2/decisions",
            headers={**reader, "X-LendGuard-Purpose": "anti_fraud"},
        )
        assert fraud_team.status_code == 200
        assert len(fraud_team.json()["decisions"]) == 1


def _scam_case(api: Api, customer_id: str) -> str:
    """An intercepted transfer (the engine-core scam fixture): its case's id."""
    decisions = [api.decide(e) for e in r39_scam_events(customer_id)]
    assert decisions[-1]["action"] == "intercept"
    listing = api.client.get("/v1/cases", headers=api.admin).json()
    found = [c["id"] for c in listing["cases"] if c["customer_id"] == customer_id]
    assert len(found) == 1
    return found[0]


def _violations(api: Api) -> list[dict[str, Any]]:
    audit = api.client.get("/v1/audit", headers=api.admin).json()["entries"]
    return [e for e in audit if e["action"] == "privacy.purpose_violation"]


class TestCasesArePurposeLimited:
    """A case carries the decisions, their reasons and the held money: anti-fraud data, so the
    case endpoints refuse a marketing or credit purpose exactly like the decision endpoints."""

    def test_a_marketing_key_cannot_read_a_case_or_the_queue(self, app_client: Api) -> None:
        case_id = _scam_case(app_client, "p-case-1")
        marketing = app_client.key("cases:read", "cases:write", "purpose:marketing")
        for url in (f"/v1/cases/{case_id}", "/v1/cases", "/v1/lists"):
            refused = app_client.client.get(url, headers=marketing)
            assert refused.status_code == 403, url
            body = refused.json()
            assert body["title"] == "Purpose violation"
            assert "PURPOSE_VIOLATION" in body["detail"]
            assert body["errors"][0]["field"] == "purpose"
            assert "reasons" not in refused.text
        taken = app_client.client.post("/v1/cases/next", headers=marketing)
        assert taken.status_code == 403
        violations = _violations(app_client)
        assert len(violations) == 4
        assert {v["detail"]["purpose"] for v in violations} == {"marketing"}
        assert f"/v1/cases/{case_id}" in {v["target"] for v in violations}

    def test_a_declared_credit_purpose_is_refused_and_anti_fraud_is_not(
        self, app_client: Api
    ) -> None:
        case_id = _scam_case(app_client, "p-case-2")
        reader = app_client.key("cases:read")
        refused = app_client.client.get(
            f"/v1/cases/{case_id}", headers={**reader, "X-LendGuard-Purpose": "credit"}
        )
        assert refused.status_code == 403
        assert refused.json()["title"] == "Purpose violation"
        fraud_team = app_client.client.get(
            f"/v1/cases/{case_id}", headers={**reader, "X-LendGuard-Purpose": "anti_fraud"}
        )
        assert fraud_team.status_code == 200
        assert fraud_team.json()["decisions"][0]["reasons"]


# Tables that hold anti-fraud data about the customer (decisions, their reasons, the events
# they were made on, cases and what was done on them).
ANTI_FRAUD_TABLES = {
    "events",
    "decisions",
    "labels",
    "cases",
    "case_decisions",
    "case_activities",
    "outreach_tasks",
}


def _access_request(api: Api, customer_id: str) -> str:
    created = api.client.post(
        "/v1/privacy/requests",
        json={"customer_id": customer_id, "kind": "access"},
        headers=api.admin,
    ).json()
    verified = api.client.post(
        f"/v1/privacy/requests/{created['id']}/verify",
        json={"method": "sms_code"},
        headers=api.admin,
    )
    assert verified.status_code == 200, verified.text
    done = api.client.post(f"/v1/privacy/requests/{created['id']}/fulfil", headers=api.admin)
    assert done.status_code == 200, done.text
    request_id: str = created["id"]
    return request_id


class TestTheAccessExportIsPurposeLimited:
    def test_a_marketing_caller_gets_the_export_without_anti_fraud_data(
        self, app_client: Api
    ) -> None:
        _scam_case(app_client, "p-dsr-1")
        request_id = _access_request(app_client, "p-dsr-1")
        url = f"/v1/privacy/requests/{request_id}/export"
        marketing = app_client.key("privacy:requests", "purpose:marketing")
        stripped = app_client.client.get(url, headers=marketing)
        assert stripped.status_code == 200, stripped.text
        body = stripped.json()
        assert body["withheld_for_purpose"] == "marketing"
        for table in ANTI_FRAUD_TABLES:
            entry = body["tables"][table]
            assert "rows" not in entry, table
            assert entry["withheld"] is True
            assert "anti-fraud" in entry["reason"]
        text = json.dumps(body, ensure_ascii=False)
        assert "LOAN_TO_NEW_PAYEE_UNDER_COACHING" not in text
        assert "safe-account-666" not in text
        assert body["tables"]["data_subject_requests"]["rows"]  # the rest is still there

        declared = app_client.client.get(
            url,
            headers={**app_client.key("privacy:requests"), "X-LendGuard-Purpose": "credit"},
        ).json()
        assert declared["withheld_for_purpose"] == "credit"
        assert "rows" not in declared["tables"]["decisions"]

    def test_the_privacy_officer_gets_everything(self, app_client: Api) -> None:
        _scam_case(app_client, "p-dsr-2")
        request_id = _access_request(app_client, "p-dsr-2")
        url = f"/v1/privacy/requests/{request_id}/export"
        officer = app_client.key("privacy:requests")
        for headers in (officer, {**officer, "X-LendGuard-Purpose": "anti_fraud"}):
            body = app_client.client.get(url, headers=headers).json()
            assert body.get("withheld_for_purpose") is None
            for table in ANTI_FRAUD_TABLES - {"labels"}:  # (the case is not resolved yet)
                assert body["tables"][table]["rows"], table
            assert "LOAN_TO_NEW_PAYEE_UNDER_COACHING" in json.dumps(body)

    def test_an_explanation_is_not_handed_to_a_marketing_caller(self, app_client: Api) -> None:
        decision = app_client.decide(make_event(customer_id="p-dsr-3"))
        marketing = app_client.key("privacy:requests", "purpose:marketing")
        created = app_client.client.post(
            "/v1/privacy/requests",
            json={
                "customer_id": "p-dsr-3",
                "kind": "explain",
                "details": {"decision_id": decision["decision_id"], "locale": "en"},
            },
            headers=app_client.admin,
        ).json()
        url = f"/v1/privacy/requests/{created['id']}"
        app_client.client.post(f"{url}/verify", json={"method": "sms_code"}, headers=marketing)
        refused = app_client.client.post(f"{url}/fulfil", headers=marketing)
        assert refused.status_code == 403
        assert refused.json()["title"] == "Purpose violation"
        assert app_client.client.get(url, headers=app_client.admin).json()["status"] == "pending"
        done = app_client.client.post(f"{url}/fulfil", headers=app_client.admin)
        assert done.status_code == 200, done.text
        assert done.json()["result"]["explanation"]
        for read in (
            app_client.client.get(url, headers=marketing).json(),
            app_client.client.get(
                "/v1/privacy/requests", params={"closed": True}, headers=marketing
            ).json()["requests"][0],
        ):
            assert "explanation" not in read["result"]
            assert read["result"]["withheld_for_purpose"] == "marketing"
        officer_view = app_client.client.get(url, headers=app_client.admin).json()
        assert officer_view["result"]["explanation"]
