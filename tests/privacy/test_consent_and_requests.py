"""The consent ledger, the two lists, R14 consent-flow checks and data-subject requests, over
HTTP on both databases."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from fixtures import PINNED_NOW, Api, make_event
from lendguard.privacy.requests import working_days_after

# Consent checks, request due dates and overdue alerts are read against "now": pinned.
pytestmark = pytest.mark.usefixtures("pinned_clock")

NOTICE = {
    "notice_key": "app-privacy",
    "purposes": ["marketing", "loan_service", "third_party_sharing", "sensitive"],
    "texts": {"zh-CN": "我们如何使用您的信息……", "en": "How we use your information…"},
}


def publish(api: Api) -> int:
    response = api.client.post("/v1/privacy/notices", json=NOTICE, headers=api.admin)
    assert response.status_code == 201, response.text
    version: int = response.json()["version"]
    return version


def consent(api: Api, customer: str, granted: bool, scope: str = "sms", **extra: Any) -> Any:
    body = {
        "customer_id": customer,
        "purpose": "marketing",
        "scope": scope,
        "granted": granted,
        "notice_key": "app-privacy",
        "notice_version": 1,
        **extra,
    }
    return api.client.post("/v1/privacy/consents", json=body, headers=api.admin)


def sms_check(api: Api, customer: str, **extra: Any) -> dict[str, Any]:
    at = PINNED_NOW.replace(hour=6, minute=0, second=0, microsecond=0)  # 14:00 in Shanghai
    body = {
        "purpose": "marketing",
        "channel": "sms",
        "debtor_id": customer,
        "contact": "+8613900000000",
        "at": at.isoformat(),
        "timezone": "Asia/Shanghai",
        "template_text": "限时优惠：会员专享借款额度。",
        **extra,
    }
    response = api.client.post("/v1/conduct/contacts/check", json=body, headers=api.admin)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def codes(answer: dict[str, Any]) -> set[str]:
    return {c["code"] for c in answer["codes"]}


class TestLedger:
    def test_a_withdrawal_applies_to_a_check_planned_before_it(
        self, app_client: Api, pinned_clock: Any
    ) -> None:
        """Product rule: a withdrawal takes effect at once for every contact not yet made. A
        check whose planned ``at`` lies before a withdrawal already recorded is refused; a log
        of a contact that was really made before the withdrawal is accepted (it was lawful
        when made)."""
        publish(app_client)
        pinned_clock.move_to(PINNED_NOW.replace(hour=3))  # 11:00 in Shanghai
        assert consent(app_client, "c-21", True).status_code == 201
        pinned_clock.move_to(PINNED_NOW.replace(hour=7))  # 15:00 in Shanghai
        assert consent(app_client, "c-21", False).status_code == 201
        planned_earlier = sms_check(app_client, "c-21")  # at 06:00 UTC, before the withdrawal
        assert planned_earlier["allowed"] is False
        assert "MARKETING_OPTED_OUT" in codes(planned_earlier)
        made_earlier = app_client.client.post(
            "/v1/conduct/contacts",
            json={
                "purpose": "marketing",
                "channel": "sms",
                "debtor_id": "c-21",
                "contact": "+8613900000000",
                "at": PINNED_NOW.replace(hour=6).isoformat(),
                "timezone": "Asia/Shanghai",
                "template_text": "限时优惠：会员专享借款额度。",
                "result": "delivered",
            },
            headers=app_client.admin,
        )
        assert made_earlier.status_code in (200, 201), made_earlier.text

    def test_notices_are_versioned_and_immutable(self, app_client: Api) -> None:
        assert publish(app_client) == 1
        assert publish(app_client) == 2
        first = app_client.client.get(
            "/v1/privacy/notices/app-privacy/1", headers=app_client.admin
        ).json()
        assert first["texts"]["en"] == NOTICE["texts"]["en"]
        assert len(first["sha256"]) == 64

    def test_withdrawing_sms_marketing_stops_the_next_sms(self, app_client: Api) -> None:
        """The issue's check: withdrawal → MARKETING_OPTED_OUT, visible in the audit trail."""
        publish(app_client)
        assert consent(app_client, "c-9", True).status_code == 201
        assert "MARKETING_OPTED_OUT" not in codes(sms_check(app_client, "c-9"))
        assert consent(app_client, "c-9", False).status_code == 201
        refused = sms_check(app_client, "c-9")
        assert refused["allowed"] is False
        assert "MARKETING_OPTED_OUT" in codes(refused)
        trail = app_client.client.get(
            "/v1/privacy/customers/c-9/audit", headers=app_client.admin
        ).json()["entries"]
        actions = [e["action"] for e in trail]
        assert "privacy.consent_withdrawn" in actions
        refusal = next(e for e in trail if e["action"] == "conduct.marketing_refused")
        assert "MARKETING_OPTED_OUT" in refusal["detail"]["codes"]

    def test_the_ledger_wins_over_what_the_caller_sends(self, app_client: Api) -> None:
        publish(app_client)
        consent(app_client, "c-1", False)
        said_yes = sms_check(app_client, "c-1", marketing_opted_out=False)
        assert "MARKETING_OPTED_OUT" in codes(said_yes)
        consent(app_client, "c-1", True)
        said_no = sms_check(app_client, "c-1", marketing_opted_out=True)
        assert "MARKETING_OPTED_OUT" not in codes(said_no)

    def test_withdrawing_one_channel_leaves_the_others(self, app_client: Api) -> None:
        publish(app_client)
        consent(app_client, "c-2", True, scope="*")
        consent(app_client, "c-2", False, scope="sms")
        assert "MARKETING_OPTED_OUT" in codes(sms_check(app_client, "c-2"))
        push = sms_check(app_client, "c-2", channel="push")
        assert "MARKETING_OPTED_OUT" not in codes(push)

    def test_consent_needs_a_notice_that_told_the_purpose(self, app_client: Api) -> None:
        publish(app_client)
        unknown_notice = consent(app_client, "c-3", True, notice_version=7)
        assert unknown_notice.status_code == 404
        assert unknown_notice.json()["errors"][0]["field"] == "notice_version"
        not_told = app_client.client.post(
            "/v1/privacy/consents",
            json={
                "customer_id": "c-3",
                "purpose": "credit_assessment",
                "granted": True,
                "notice_key": "app-privacy",
                "notice_version": 1,
            },
            headers=app_client.admin,
        )
        assert not_told.status_code == 409
        sensitive_all = consent(app_client, "c-3", True, purpose="sensitive", scope="*")
        assert sensitive_all.status_code == 422
        assert sensitive_all.json()["errors"][0]["field"] == "scope"
        assert app_client.rows("consent_records") == 0

    def test_state_and_history(self, app_client: Api) -> None:
        publish(app_client)
        consent(app_client, "c-4", True)
        consent(app_client, "c-4", False)
        body = app_client.client.get(
            "/v1/privacy/customers/c-4/consents", headers=app_client.admin
        ).json()
        assert [(c["purpose"], c["scope"], c["granted"]) for c in body["current"]] == [
            ("marketing", "sms", False)
        ]
        assert [h["granted"] for h in body["history"]] == [True, False]


class TestConsentFlows:
    @pytest.mark.parametrize(
        ("flow", "expected"),
        [
            (
                {"items": [{"purposes": ["loan_service"], "prechecked": True}]},
                {"CONSENT_PRECHECKED"},
            ),
            ({"items": [{"purposes": ["loan_service", "marketing"]}]}, {"BUNDLED_CONSENT"}),
            ({"items": [{"purposes": ["loan_service"]}, {"purposes": ["marketing"]}]}, set()),
            (
                {"items": [{"purposes": ["sensitive:biometric", "loan_service"]}]},
                {"BUNDLED_CONSENT"},
            ),
            (
                {"declined_permissions": ["contacts"], "loan_refused_because": ["contacts"]},
                {"CONSENT_COERCION"},
            ),
            (
                {"declined_permissions": ["contacts"], "loan_refused_because": ["id_number"]},
                set(),
            ),
        ],
    )
    def test_r14(self, app_client: Api, flow: dict[str, Any], expected: set[str]) -> None:
        answer = app_client.client.post(
            "/v1/privacy/consent-flows/check", json=flow, headers=app_client.admin
        ).json()
        assert {f["code"] for f in answer["findings"]} == expected
        assert "bank_card" in answer["necessary_pi"]["value"]


class TestLists:
    def test_global_lists_in_three_formats(self, app_client: Api) -> None:
        body = app_client.client.get("/v1/privacy/lists?locale=en", headers=app_client.admin).json()
        types = {r["type"] for r in body["collected"]}
        assert "Bank card number" in types
        assert all(r["method"] for r in body["sharing"])
        csv_text = app_client.client.get(
            "/v1/privacy/lists?format=csv&which=sharing", headers=app_client.admin
        ).text
        assert csv_text.splitlines()[0].startswith("recipient,type,purpose,scenario,method")
        html = app_client.client.get("/v1/privacy/lists?format=html", headers=app_client.admin)
        assert html.headers["content-type"].startswith("text/html")
        assert "已收集个人信息清单" in html.text
        assert "第三方共享个人信息清单" in html.text

    def test_one_customers_lists(self, app_client: Api) -> None:
        publish(app_client)
        app_client.decide(make_event(customer_id="c-5", device_id="d-1", ip="10.0.0.9"))
        app_client.decide(make_event(customer_id="c-5", device_id="d-1"))
        app_client.decide(make_event(customer_id="other", device_id="d-1"))
        body = app_client.client.get(
            "/v1/privacy/customers/c-5/lists?locale=en", headers=app_client.admin
        ).json()
        counts = {r["id"]: r["collection_count"] for r in body["collected"]}
        assert counts["device_network"] == 2
        assert counts["bank_card"] == 0
        recipients = {r["declaration"] for r in body["sharing"]}
        assert recipients == {"bank_card"}  # the credit bureau needs their separate consent
        consent(app_client, "c-5", True, purpose="third_party_sharing", scope="credit_bureau")
        body = app_client.client.get(
            "/v1/privacy/customers/c-5/lists?locale=en", headers=app_client.admin
        ).json()
        assert {r["declaration"] for r in body["sharing"]} == {"bank_card", "credit_report"}


class TestRequests:
    def test_due_dates_skip_holidays_and_count_make_up_days(self) -> None:
        # 2025: National Day holiday 10-01..10-08; Sat 10-11 is a make-up working day.
        assert working_days_after(date(2025, 9, 29), 1) == date(2025, 9, 30)
        assert working_days_after(date(2025, 9, 29), 2) == date(2025, 10, 9)
        assert working_days_after(date(2025, 9, 29), 4) == date(2025, 10, 11)
        assert working_days_after(date(2025, 9, 29), 15) == date(2025, 10, 27)
        assert working_days_after(date(2025, 9, 29), 15, "UK") == date(2025, 10, 20)

    def test_an_access_request_exports_only_the_customers_rows(self, app_client: Api) -> None:
        """Two customers share a device: A's export holds A's rows and nothing of B's."""
        publish(app_client)
        a_events = [make_event(customer_id="alice", device_id="shared-dev") for _ in range(2)]
        b_events = [make_event(customer_id="bob", device_id="shared-dev") for _ in range(2)]
        for event in a_events + b_events:
            app_client.decide(event)
        consent(app_client, "alice", True)
        consent(app_client, "bob", True)
        for who in ("alice", "bob"):
            filed = app_client.client.post(
                "/v1/complaints",
                json={"customer_id": who, "channel": "app", "narrative": "fees were not explained"},
                headers=app_client.admin,
            )
            assert filed.status_code == 201, filed.text
        created = app_client.client.post(
            "/v1/privacy/requests",
            json={"customer_id": "alice", "kind": "access"},
            headers=app_client.admin,
        ).json()
        assert created["status"] == "identity_unverified"
        early = app_client.client.post(
            f"/v1/privacy/requests/{created['id']}/fulfil", headers=app_client.admin
        )
        assert early.status_code == 409
        app_client.client.post(
            f"/v1/privacy/requests/{created['id']}/verify",
            json={"method": "face_match+sms_code"},
            headers=app_client.admin,
        )
        done = app_client.client.post(
            f"/v1/privacy/requests/{created['id']}/fulfil", headers=app_client.admin
        ).json()
        assert done["status"] == "complete"
        assert {"events", "decisions", "consent_records", "audit_log", "complaints"} <= set(
            done["result"]["tables_with_rows"]
        )
        export = app_client.client.get(
            f"/v1/privacy/requests/{created['id']}/export", headers=app_client.admin
        ).json()
        text = json.dumps(export, ensure_ascii=False)
        assert "bob" not in text
        for event in b_events:
            assert event["event_id"] not in text
        assert [c["customer_id"] for c in export["tables"]["complaints"]["rows"]] == ["alice"]
        assert export["tables"]["complaint_events"]["rows"]
        events = export["tables"]["events"]["rows"]
        assert sorted(e["event_id"] for e in events) == sorted(e["event_id"] for e in a_events)
        assert export["tables"]["state_snapshots"]["about_customers"] is False
        assert export["tables"]["users"]["about_customers"] is False
        trail = app_client.client.get(
            "/v1/privacy/customers/alice/audit", headers=app_client.admin
        ).json()["entries"]
        assert "privacy.export_read" in {e["action"] for e in trail}

    def test_a_refusal_needs_its_reason(self, app_client: Api) -> None:
        created = app_client.client.post(
            "/v1/privacy/requests",
            json={"customer_id": "c-7", "kind": "delete"},
            headers=app_client.admin,
        ).json()
        bare = app_client.client.post(
            f"/v1/privacy/requests/{created['id']}/refuse", json={}, headers=app_client.admin
        )
        assert bare.status_code == 422
        assert bare.json()["errors"][0]["field"] == "reason"
        refused = app_client.client.post(
            f"/v1/privacy/requests/{created['id']}/refuse",
            json={"reason": "identity could not be verified after three attempts"},
            headers=app_client.admin,
        ).json()
        assert refused["status"] == "refused"
        assert refused["refusal_reason"].startswith("identity")

    def test_withdraw_and_explain_requests(self, app_client: Api) -> None:
        publish(app_client)
        consent(app_client, "c-8", True)
        decision = app_client.decide(make_event(customer_id="c-8"))

        def run(kind: str, details: dict[str, Any]) -> dict[str, Any]:
            created = app_client.client.post(
                "/v1/privacy/requests",
                json={"customer_id": "c-8", "kind": kind, "details": details},
                headers=app_client.admin,
            ).json()
            app_client.client.post(
                f"/v1/privacy/requests/{created['id']}/verify",
                json={"method": "sms_code"},
                headers=app_client.admin,
            )
            response = app_client.client.post(
                f"/v1/privacy/requests/{created['id']}/fulfil", headers=app_client.admin
            )
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        withdrawn = run("withdraw", {})
        assert withdrawn["result"]["withdrawn"] == ["marketing:sms"]
        assert "MARKETING_OPTED_OUT" in codes(sms_check(app_client, "c-8"))
        explained = run("explain", {"decision_id": decision["decision_id"], "locale": "en"})
        assert explained["result"]["explanation"]

    def test_the_queue_needs_the_privacy_scope(self, app_client: Api) -> None:
        refused = app_client.client.get(
            "/v1/privacy/requests", headers=app_client.key("cases:read")
        )
        assert refused.status_code == 403
        allowed = app_client.client.get(
            "/v1/privacy/requests", headers=app_client.key("privacy:requests")
        )
        assert allowed.status_code == 200


class TestConsoleQueue:
    def test_officers_see_overdue_requests(self, case_app: Api) -> None:
        from fixtures import sign_in

        case_app.client.post(
            "/v1/privacy/requests",
            json={
                "customer_id": "late-1",
                "kind": "access",
                "received_at": "2025-01-02T09:00:00+08:00",
            },
            headers=case_app.admin,
        )
        officer = sign_in(case_app.app, case_app.services, "officer")
        page = officer.get("/console/privacy")
        assert page.status_code == 200
        assert 'id="overdue-alert"' in page.text
        assert "late-1" in page.text
        analyst = sign_in(case_app.app, case_app.services, "analyst")
        assert analyst.get("/console/privacy").status_code == 403
