"""A hardship plan's offer and its agreement are audited in the transaction that records them:
when the audit entry cannot be written, the plan, its rescue steps and the collection pause are
rolled back with it (both databases)."""

from __future__ import annotations

import pytest

from audit_failure import AuditRefused, refuse_audit
from fixtures import PINNED_NOW, Api
from lendguard.auth import audit

pytestmark = pytest.mark.usefixtures("pinned_clock")

PLAN = {
    "customer_id": "heavy-1",
    "product": "loan",
    "balance": "12000",
    "penalties": "300",
    "contract_rate_percent": "18",
    "waive_interest": True,
    "waive_penalties": True,
    "term_months": 24,
    "start_date": "2026-12-01",
}
COLLECTION = {
    "purpose": "collection",
    "channel": "sms",
    "debtor_id": "heavy-1",
    "contact": "+8613800000000",
    "at": PINNED_NOW.replace(hour=6, minute=0).isoformat(),
    "timezone": "Asia/Shanghai",
    "template_text": "您好，这是一条来自贷款平台的消息。",
    "debt": {"id": "loan-77"},
}


def _collection_paused(app_client: Api) -> bool:
    answer = app_client.client.post(
        "/v1/conduct/contacts/check", json=COLLECTION, headers=app_client.admin
    ).json()
    return "COLLECTION_PAUSED" in {c["code"] for c in answer["codes"]}


def _actions(app_client: Api) -> list[str]:
    return [e["action"] for e in audit.entries(app_client.services.decisions.db)]


def test_an_offer_whose_audit_entry_fails_is_not_recorded(
    app_client: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    analyst = app_client.key("lending:write", "lending:check")
    attempted = refuse_audit(monkeypatch)
    with pytest.raises(AuditRefused):
        app_client.client.post("/v1/lending/hardship-plans", json=PLAN, headers=analyst)
    monkeypatch.undo()
    assert attempted == ["lending.plan_proposed"]
    rescue = app_client.client.get(
        "/v1/lending/rescue/customers/heavy-1", headers=app_client.admin
    ).json()
    assert rescue["plans"] == []
    assert rescue["steps"] == []
    assert not _collection_paused(app_client)
    assert "lending.plan_proposed" not in _actions(app_client)


def test_an_agreement_whose_audit_entry_fails_leaves_the_plan_proposed(
    app_client: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    analyst = app_client.key("lending:write", "lending:check")
    proposed = app_client.client.post("/v1/lending/hardship-plans", json=PLAN, headers=analyst)
    assert proposed.status_code == 201, proposed.text
    plan_id = proposed.json()["id"]
    assert "lending.plan_proposed" in _actions(app_client)
    attempted = refuse_audit(monkeypatch)
    with pytest.raises(AuditRefused):
        app_client.client.post(f"/v1/lending/hardship-plans/{plan_id}/agree", headers=analyst)
    monkeypatch.undo()
    assert attempted == ["lending.plan_agreed"]
    plans = app_client.client.get(
        "/v1/lending/rescue/customers/heavy-1", headers=app_client.admin
    ).json()["plans"]
    assert [p["status"] for p in plans] == ["proposed"]
    assert _collection_paused(app_client)
    # and once the trail takes entries again, the agreement goes through, audited
    agreed = app_client.client.post(f"/v1/lending/hardship-plans/{plan_id}/agree", headers=analyst)
    assert agreed.json()["status"] == "agreed"
    assert "lending.plan_agreed" in _actions(app_client)
