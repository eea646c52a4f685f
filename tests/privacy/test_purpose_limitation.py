"""R34: data collected for anti-fraud is not readable by marketing or credit functions."""

from __future__ import annotations

from fixtures import Api, make_event


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
