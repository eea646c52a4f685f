"""Complaint extensions: the approval behind an extension to day 60 comes from who the caller
is (their role or scopes), never from what the request body says about them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine

from fixtures import Api, sign_in
from lendguard.auth.service import Principal
from lendguard.support import taxonomy as taxonomy_module

# 12:00 in Shanghai on Thursday 12 March 2026; the complaint came in ten days before.
NOW = datetime(2026, 3, 12, 4, 0, tzinfo=UTC)
RECEIVED = "2026-03-02T12:00:00+08:00"
# Everything a body can claim about its approval.
CLAIMS_SENIOR = {
    "reason": "especially complex: the collector's call records come from a third party",
    "approver_level": "senior",
    "approved_by": "head-of-complaints",
    "complainant_notified": True,
}


@pytest.fixture(autouse=True)
def _rules_classifier(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No trained model: the rule-based fallback classifies."""
    monkeypatch.setenv(taxonomy_module.MODEL_DIR_ENV, str(tmp_path / "no-model"))


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    with time_machine.travel(NOW, tick=True):
        yield


def _extended_to_day_30(api: Api, post: Any) -> str:
    """A CN complaint taken in on day 0 and extended to day 30 (no approval needed for that)."""
    created = post(
        "/v1/complaints",
        json={
            "customer_id": "c-approval",
            "channel": "app",
            "narrative": "催收员天天打电话给我家人",
            "received_at": RECEIVED,
        },
    )
    assert created.status_code == 201, created.text
    complaint_id: str = created.json()["id"]
    first = post(f"/v1/complaints/{complaint_id}/extend", json={"reason": "needs call records"})
    assert first.status_code == 200, first.text
    assert first.json()["clock"]["limit_day"] == 30
    return complaint_id


class TestSeniorApprovalComesFromThePrincipal:
    def test_an_analyst_claiming_senior_in_the_body_is_refused(self, case_app: Api) -> None:
        analyst = sign_in(case_app.app, case_app.services, "analyst")
        complaint_id = _extended_to_day_30(case_app, analyst.post)
        first = case_app.client.get(f"/v1/complaints/{complaint_id}", headers=case_app.admin)
        assert first.json()["extensions"][0]["approver_level"] == "staff"
        assert first.json()["extensions"][0]["approved_by"] is None  # day 30 needs no approver
        before = case_app.client.get(f"/v1/complaints/{complaint_id}", headers=case_app.admin)
        for url, body in (
            (f"/v1/complaints/{complaint_id}/extend", CLAIMS_SENIOR),
            (f"/v1/complaints/{complaint_id}/transition", {**CLAIMS_SENIOR, "to": "extended"}),
        ):
            refused = analyst.post(url, json=body)
            assert refused.status_code == 409, refused.text
            problem = refused.json()
            assert problem["detail"].startswith("EXTENSION_INVALID")
            assert [e["field"] for e in problem["errors"]] == ["approver_level"]
            assert analyst.actor in problem["errors"][0]["message"]
            assert "staff" in problem["errors"][0]["message"]
        after = case_app.client.get(f"/v1/complaints/{complaint_id}", headers=case_app.admin)
        assert after.json()["revision"] == before.json()["revision"]
        assert after.json()["clock"]["limit_day"] == 30

    def test_an_admin_approves_and_the_record_names_the_real_approver(self, case_app: Api) -> None:
        complaint_id = _extended_to_day_30(
            case_app, lambda url, **kw: case_app.client.post(url, headers=case_app.admin, **kw)
        )
        body = {**CLAIMS_SENIOR, "approver_level": "staff"}  # the body's level changes nothing
        approved = case_app.client.post(
            f"/v1/complaints/{complaint_id}/extend", json=body, headers=case_app.admin
        )
        assert approved.status_code == 200, approved.text
        extension = approved.json()["extensions"][1]
        assert approved.json()["clock"]["limit_day"] == 60
        assert extension["to_day"] == 60
        assert extension["approver_level"] == "senior"
        assert extension["approved_by"].startswith("key:bootstrap")
        assert extension["approved_by"] != "head-of-complaints"

    def test_an_approver_user_extends_to_day_sixty(self, case_app: Api) -> None:
        """The approver role is the senior who signs off day 60 (it was refused 403: the role
        carried no complaint scope)."""
        analyst = sign_in(case_app.app, case_app.services, "analyst")
        approver = sign_in(case_app.app, case_app.services, "approver")
        complaint_id = _extended_to_day_30(case_app, analyst.post)
        body = {**CLAIMS_SENIOR, "approver_level": "staff"}  # the body's level changes nothing
        approved = approver.post(f"/v1/complaints/{complaint_id}/extend", json=body)
        assert approved.status_code == 200, approved.text
        extension = approved.json()["extensions"][1]
        assert (extension["to_day"], extension["approver_level"]) == (60, "senior")
        assert extension["approved_by"] == approver.actor

    def test_a_senior_still_needs_the_notice_to_the_complainant(self, case_app: Api) -> None:
        complaint_id = _extended_to_day_30(
            case_app, lambda url, **kw: case_app.client.post(url, headers=case_app.admin, **kw)
        )
        refused = case_app.client.post(
            f"/v1/complaints/{complaint_id}/extend",
            json={**CLAIMS_SENIOR, "complainant_notified": False},
            headers=case_app.admin,
        )
        assert refused.status_code == 409
        assert [e["field"] for e in refused.json()["errors"]] == ["complainant_notified"]


class TestApproverLevels:
    @pytest.mark.parametrize(
        ("principal", "level"),
        [
            (Principal("u1", "ann", frozenset({"complaints:write"}), "user", "analyst"), "staff"),
            (Principal("u2", "apo", frozenset({"rules:approve"}), "user", "approver"), "senior"),
            (Principal("u3", "adm", frozenset({"admin"}), "user", "admin"), "senior"),
            (Principal("k1", "crm", frozenset({"complaints:write"})), "staff"),
            (Principal("k2", "ops", frozenset({"admin"})), "senior"),
            # a key cannot hold a role: a name or a role field does not make it senior
            (
                Principal("k3", "approver", frozenset({"complaints:write"}), "key", "approver"),
                "staff",
            ),
        ],
    )
    def test_the_level_is_the_principals(self, principal: Principal, level: str) -> None:
        from lendguard.support.complaints import approver_level_of

        assert approver_level_of(principal) == level
