"""Cases over HTTP on both databases: intake from interventions, the queue, the state machine,
outreach, resolution (labels, signed webhooks to a real receiver), lists and snoozes, roles,
maker–checker in the console, CSRF and lock-out."""

from __future__ import annotations

import csv
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select

from conftest import WEBHOOK_SECRET
from fixtures import (
    PINNED_NOW,
    T0,
    USER_PASSWORD,
    Api,
    WebhookReceiver,
    birth_date_for_age,
    make_event,
    r39_scam_events,
    sign_in,
)
from lendguard.cases.webhooks import SIGNATURE_HEADER, verify
from lendguard.models import Case, CaseDecision, LabelRecord

PROBLEM = "application/problem+json"


def scam_case(api: Api, customer_id: str = "student-21") -> dict[str, Any]:
    """The engine-core fixture (a student's loan money to a safe account while screen
    sharing): the transfer is intercepted, and its case is returned."""
    decisions = [api.decide(e) for e in r39_scam_events(customer_id)]
    assert decisions[-1]["action"] == "intercept"
    listing = api.client.get("/v1/cases", headers=api.admin).json()
    found = [c for c in listing["cases"] if c["customer_id"] == customer_id]
    assert len(found) == 1
    case: dict[str, Any] = api.client.get(f"/v1/cases/{found[0]['id']}", headers=api.admin).json()
    return case


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


class TestIntake:
    def test_an_interception_opens_a_case_with_its_decision_and_calls(self, case_app: Api) -> None:
        case = scam_case(case_app)
        assert case["state"] == "new"
        assert case["case_type"] == "scam"
        assert case["scam_type"] == "safe_account"
        assert case["held_amount"] == 19000.0
        assert [d["action"] for d in case["decisions"]] == ["intercept"]
        assert case["decisions"][0]["payee_id"] == "safe-account-666"
        assert case["decisions"][0]["hold_status"] == "held"
        assert "LOAN_TO_NEW_PAYEE_UNDER_COACHING" in {
            r["code"] for r in case["decisions"][0]["reasons"]
        }
        assert [t["kind"] for t in case["outreach"]] == ["dissuasion_callback"]
        assert case["timeline"][0]["kind"] == "opened"
        assert case["script"]["steps"]["zh-CN"]
        assert case["script"]["steps"]["en"]
        assert case["allowed_transitions"] == ["triage", "contacting_customer"]
        assert not case["overdue"]

    def test_a_second_interception_joins_the_open_case(self, case_app: Api) -> None:
        case = scam_case(case_app)
        again = make_event(
            customer_id="student-21",
            occurred_at=T0 + timedelta(minutes=14),
            amount="900",
            payee_id="other-safe-account",
            session={"remote_control_app": True},
        )
        assert case_app.decide(again)["action"] == "intercept"
        after = case_app.client.get(f"/v1/cases/{case['id']}", headers=case_app.admin).json()
        assert len(after["decisions"]) == 2
        assert after["held_amount"] == 19900.0
        assert [a["kind"] for a in after["timeline"]] == ["opened", "joined"]
        assert case_app.client.get("/v1/cases", headers=case_app.admin).json()["total"] == 1

    def test_allowed_events_open_no_case(self, case_app: Api) -> None:
        case_app.decide(make_event(amount="10"))
        assert case_app.client.get("/v1/cases", headers=case_app.admin).json()["total"] == 0

    def test_the_sweep_files_an_intervention_left_without_a_case(self, case_app: Api) -> None:
        case = scam_case(case_app)
        engine = case_app.services.decisions.db
        with engine.begin() as conn:  # as if the process died between the two commits
            conn.execute(delete(CaseDecision))
            conn.execute(delete(Case))
        swept = case_app.client.post("/v1/cases/sweep", headers=case_app.admin)
        assert swept.json() == {"filed": 1, "released": 0}
        again = case_app.client.post("/v1/cases/sweep", headers=case_app.admin)
        assert again.json() == {"filed": 0, "released": 0}
        listing = case_app.client.get("/v1/cases", headers=case_app.admin).json()
        assert listing["total"] == 1
        assert listing["cases"][0]["id"] != case["id"]


class TestWorkingACase:
    def test_the_scam_victim_path_cancels_the_hold_labels_and_signs_the_webhook(
        self, case_app: Api, receiver: WebhookReceiver
    ) -> None:
        case = scam_case(case_app)
        analyst = sign_in(case_app.app, case_app.services, "analyst")
        taken = analyst.post("/v1/cases/next").json()["case"]
        assert (taken["id"], taken["state"], taken["assignee"]) == (
            case["id"],
            "triage",
            analyst.actor,
        )
        task = taken["outreach"][0]["id"]
        called = analyst.post(
            f"/v1/cases/{case['id']}/outreach/{task}",
            json={"outcome": "confirmed_scam", "notes": "caller posed as the campus loan desk"},
        )
        assert called.status_code == 200, called.text
        assert called.json()["state"] == "contacting_customer"
        resolved = analyst.post(
            f"/v1/cases/{case['id']}/transition",
            json={"to": "resolved_scam_victim", "note": "customer stopped the transfer"},
        )
        assert resolved.status_code == 200, resolved.text
        body = resolved.json()
        assert body["state"] == body["outcome"] == "resolved_scam_victim"
        assert body["decisions"][0]["hold_status"] == "cancelled"
        assert body["decisions"][0]["label"] == "scam_victim"

        wait_for(lambda: len(receiver.requests) == 1)
        request = receiver.requests[0]
        headers = {k.lower(): v for k, v in request["headers"].items()}
        assert verify(WEBHOOK_SECRET, request["body"], headers[SIGNATURE_HEADER.lower()])
        assert not verify("another-secret", request["body"], headers[SIGNATURE_HEADER.lower()])
        payload = json.loads(request["body"])
        assert payload["instruction"] == "cancel"
        assert payload["event_id"] == body["decisions"][0]["event_id"]
        assert headers["idempotency-key"] == payload["delivery_id"]

        with case_app.services.decisions.db.connect() as conn:
            labels = conn.execute(select(LabelRecord.event_id, LabelRecord.label)).all()
        assert [(e, label) for e, label in labels] == [(payload["event_id"], 1)]
        kinds = [a["kind"] for a in body["timeline"]]
        assert kinds == ["opened", "assigned", "transition", "outreach", "transition"]
        assert {a["actor"] for a in body["timeline"][1:]} == {analyst.actor}
        audit = case_app.client.get("/v1/audit", headers=case_app.admin).json()["entries"]
        assert {"case.outreach", "case.transition"} <= {e["action"] for e in audit}

    def test_a_legit_outcome_releases_the_hold(
        self, case_app: Api, receiver: WebhookReceiver
    ) -> None:
        case = scam_case(case_app)
        done = case_app.client.post(
            f"/v1/cases/{case['id']}/transition",
            json={"to": "triage"},
            headers=case_app.admin,
        )
        assert done.status_code == 200
        legit = case_app.client.post(
            f"/v1/cases/{case['id']}/transition",
            json={"to": "resolved_legit", "note": "her own savings account"},
            headers=case_app.admin,
        ).json()
        assert legit["decisions"][0]["hold_status"] == "released"
        wait_for(lambda: len(receiver.requests) == 1)
        assert json.loads(receiver.requests[0]["body"])["instruction"] == "release"
        with case_app.services.decisions.db.connect() as conn:
            assert conn.execute(select(LabelRecord.label)).scalars().all() == [0]
        officer = sign_in(case_app.app, case_app.services, "officer")
        page = officer.get("/console/customers/student-21")
        assert page.status_code == 200
        assert case["id"] in page.text  # closed cases stay on the customer's page

    def test_an_invalid_transition_is_refused_and_changes_nothing(self, case_app: Api) -> None:
        case = scam_case(case_app)
        client, admin = case_app.client, case_app.admin
        client.post(f"/v1/cases/{case['id']}/transition", json={"to": "triage"}, headers=admin)
        client.post(
            f"/v1/cases/{case['id']}/transition", json={"to": "resolved_fraud"}, headers=admin
        )
        before = client.get(f"/v1/cases/{case['id']}", headers=admin).json()
        refused = client.post(
            f"/v1/cases/{case['id']}/transition",
            json={"to": "contacting_customer"},
            headers=admin,
        )
        assert refused.status_code == 409
        assert refused.headers["content-type"] == PROBLEM
        problem = refused.json()
        assert "reopen" in problem["detail"]
        assert problem["errors"][0]["field"] == "to"
        after = client.get(f"/v1/cases/{case['id']}", headers=admin).json()
        # (waiting time and the webhook's delivery status move on their own)
        for key in ("state", "outcome", "revision", "timeline", "decisions", "outreach"):
            assert after[key] == before[key], key
        reopened = client.post(
            f"/v1/cases/{case['id']}/transition", json={"to": "triage"}, headers=admin
        ).json()
        assert (reopened["state"], reopened["reopen_count"], reopened["outcome"]) == (
            "triage",
            1,
            None,
        )
        assert (
            client.post(
                f"/v1/cases/{case['id']}/transition",
                json={"to": "contacting_customer"},
                headers=admin,
            ).status_code
            == 200
        )

    def test_a_stale_revision_is_refused(self, case_app: Api) -> None:
        case = scam_case(case_app)
        stale = case_app.client.post(
            f"/v1/cases/{case['id']}/transition",
            json={"to": "triage", "revision": case["revision"] - 1},
            headers=case_app.admin,
        )
        assert stale.status_code == 409
        assert stale.json()["errors"][0]["field"] == "revision"

    def test_bad_bodies_name_the_field(self, case_app: Api) -> None:
        case = scam_case(case_app)
        task = case["outreach"][0]["id"]
        bad = case_app.client.post(
            f"/v1/cases/{case['id']}/outreach/{task}",
            json={"outcome": "maybe"},
            headers=case_app.admin,
        )
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "outcome"
        unknown = case_app.client.get("/v1/cases/case_nope", headers=case_app.admin)
        assert unknown.status_code == 404

    def test_elderly_customers_get_a_trusted_contact_call(self, case_app: Api) -> None:
        events = r39_scam_events("grandma-72")
        events[0]["customer"]["birth_date"] = "1952-01-01"
        events[0]["customer"]["is_student"] = False
        for event in events:
            case_app.decide(event)
        listing = case_app.client.get("/v1/cases", headers=case_app.admin).json()
        case = case_app.client.get(
            f"/v1/cases/{listing['cases'][0]['id']}", headers=case_app.admin
        ).json()
        assert case["is_elderly"] is True
        assert [t["kind"] for t in case["outreach"]] == [
            "dissuasion_callback",
            "trusted_contact_call",
        ]

    def test_the_age_arriving_with_a_later_decision_adds_the_trusted_contact_call_once(
        self, case_app: Api
    ) -> None:
        """The case opens on a decision that says nothing of an age; a later intercept of the
        same customer carries a birth date making them 80 and joins the open case: the
        trusted-contact call is added then, and a further join does not add it again."""
        case = scam_case(case_app, "late-age-80")
        assert case["is_elderly"] is False
        assert [t["kind"] for t in case["outreach"]] == ["dissuasion_callback"]
        for minutes, payee in ((14, "other-safe-account"), (20, "third-safe-account")):
            joined = make_event(
                customer_id="late-age-80",
                occurred_at=T0 + timedelta(minutes=minutes),
                amount="900",
                payee_id=payee,
                session={"remote_control_app": True},
                customer={"birth_date": birth_date_for_age(80), "is_student": False},
            )
            assert case_app.decide(joined)["action"] == "intercept"
        after = case_app.client.get(f"/v1/cases/{case['id']}", headers=case_app.admin).json()
        assert len(after["decisions"]) == 3
        assert after["is_elderly"] is True
        assert [t["kind"] for t in after["outreach"]] == [
            "dissuasion_callback",
            "trusted_contact_call",
        ]
        joins = [a["detail"] for a in after["timeline"] if a["kind"] == "joined"]
        assert [j.get("outreach_added") for j in joins] == [["trusted_contact_call"], None]

    def test_an_elderly_case_joined_again_keeps_one_trusted_contact_call(
        self, case_app: Api
    ) -> None:
        events = r39_scam_events("grandpa-75")
        events[0]["customer"] = {"birth_date": birth_date_for_age(75), "is_student": False}
        for event in events:
            case_app.decide(event)
        again = make_event(
            customer_id="grandpa-75",
            occurred_at=T0 + timedelta(minutes=14),
            amount="900",
            payee_id="other-safe-account",
            session={"remote_control_app": True},
            customer={"birth_date": birth_date_for_age(75)},
        )
        assert case_app.decide(again)["action"] == "intercept"
        listing = case_app.client.get("/v1/cases", headers=case_app.admin).json()
        assert listing["total"] == 1
        case = case_app.client.get(
            f"/v1/cases/{listing['cases'][0]['id']}", headers=case_app.admin
        ).json()
        kinds = [t["kind"] for t in case["outreach"]]
        assert kinds.count("trusted_contact_call") == 1


class TestWebhookRetries:
    def test_a_receiver_failing_twice_gets_it_once_after_three_attempts(
        self, case_app: Api, receiver: WebhookReceiver
    ) -> None:
        receiver.fail_first = 2
        case = scam_case(case_app)
        for target in ("triage", "resolved_fraud"):
            case_app.client.post(
                f"/v1/cases/{case['id']}/transition", json={"to": target}, headers=case_app.admin
            )

        def delivered() -> bool:
            got = case_app.client.get(f"/v1/cases/{case['id']}", headers=case_app.admin).json()
            return bool(got["deliveries"]) and got["deliveries"][0]["status"] == "delivered"

        wait_for(delivered)
        got = case_app.client.get(f"/v1/cases/{case['id']}", headers=case_app.admin).json()
        delivery = got["deliveries"][0]
        assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 200]
        assert len(receiver.requests) == 3
        keys = {r["headers"]["Idempotency-Key"] for r in receiver.requests}
        assert keys == {delivery["id"]}
        bodies = {r["body"] for r in receiver.requests}
        assert len(bodies) == 1  # the same signed body on every retry
        time.sleep(0.3)
        assert len(receiver.requests) == 3  # delivered once: no more attempts


class TestLists:
    def test_a_deny_entry_blocks_and_removing_it_restores(self, case_app: Api) -> None:
        analyst = sign_in(case_app.app, case_app.services, "analyst")
        added = analyst.post(
            "/v1/lists",
            json={
                "list_type": "deny",
                "field": "payee",
                "value": "mule-77",
                "reason": "confirmed mule account (case 123)",
            },
        )
        assert added.status_code == 201, added.text
        decision = case_app.decide(make_event(payee_id="mule-77", amount="50"))
        assert decision["action"] == "block"
        listing = analyst.get("/v1/lists").json()
        entry = listing["entries"][0]
        assert (entry["author"], entry["reason"]) == (
            analyst.actor,
            "confirmed mule account (case 123)",
        )
        removed = analyst.client.delete(
            f"/v1/lists/{entry['id']}", headers={"X-CSRF-Token": analyst.csrf}
        )
        assert removed.status_code == 204
        assert case_app.decide(make_event(payee_id="mule-77", amount="50"))["action"] == "allow"

    @pytest.mark.usefixtures("pinned_clock")
    def test_a_snooze_needs_a_known_rule_and_a_future_time(self, case_app: Api) -> None:
        future = (PINNED_NOW + timedelta(days=1)).isoformat()  # the clock reads PINNED_NOW
        unknown = case_app.client.post(
            "/v1/suppressions",
            json={"customer_id": "c1", "rule_id": "no-such-rule", "until": future, "reason": "x"},
            headers=case_app.admin,
        )
        assert unknown.status_code == 422
        assert unknown.json()["errors"][0]["field"] == "rule_id"
        past = case_app.client.post(
            "/v1/suppressions",
            json={
                "customer_id": "c1",
                "rule_id": "screen-sharing-outflow",
                "until": "2020-01-01T00:00:00+00:00",
                "reason": "x",
            },
            headers=case_app.admin,
        )
        assert past.status_code == 422
        assert past.json()["errors"][0]["field"] == "until"
        missing = case_app.client.post(
            "/v1/lists", json={"list_type": "deny", "field": "ssn"}, headers=case_app.admin
        )
        assert missing.status_code == 422
        assert {e["field"] for e in missing.json()["errors"]} >= {"field", "value", "reason"}
        assert case_app.rows("list_entries") == 0
        assert case_app.rows("suppressions") == 0


class TestRoles:
    @pytest.mark.parametrize(
        ("role", "method", "url", "allowed"),
        [
            ("officer", "POST", "/v1/cases/next", False),
            ("officer", "GET", "/v1/audit", True),
            ("officer", "GET", "/v1/cases", True),
            ("analyst", "GET", "/v1/audit", False),
            ("analyst", "POST", "/v1/rulesets/1/activate", False),
            ("analyst", "POST", "/v1/cases/next", True),
            ("approver", "POST", "/v1/cases/next", False),
            ("approver", "POST", "/v1/lists", False),
            ("analyst", "POST", "/v1/users", False),
            ("approver", "POST", "/v1/events", False),
        ],
    )
    def test_each_role_gets_403_where_it_should(
        self, case_app: Api, role: str, method: str, url: str, allowed: bool
    ) -> None:
        user = sign_in(case_app.app, case_app.services, role)
        if method == "GET":
            response = user.get(url)
        else:
            response = user.post(url, json={})
        if allowed:
            assert response.status_code != 403, response.text
        else:
            assert response.status_code == 403, response.text
            assert response.headers["content-type"] == PROBLEM
            assert role in response.json()["detail"]

    def test_a_cookie_post_without_the_csrf_token_is_refused(self, case_app: Api) -> None:
        scam_case(case_app)
        analyst = sign_in(case_app.app, case_app.services, "analyst")
        refused = analyst.client.post("/v1/cases/next")
        assert refused.status_code == 403
        assert "CSRF" in refused.json()["detail"]
        queue = case_app.client.get("/v1/cases", headers=case_app.admin).json()
        assert queue["cases"][0]["state"] == "new"

    def test_five_wrong_passwords_lock_the_account(self, case_app: Api) -> None:
        case_app.services.users.create("lockme", USER_PASSWORD, "analyst")
        for _ in range(5):
            wrong = case_app.client.post(
                "/console/login", data={"username": "lockme", "password": "nope-nope-nope"}
            )
            assert wrong.status_code == 401
        right = case_app.client.post(
            "/console/login",
            data={"username": "lockme", "password": USER_PASSWORD},
            follow_redirects=False,
        )
        assert right.status_code == 401  # locked, even with the right password
        assert "lg_session" not in right.cookies

    def test_the_session_cookie_is_http_only_and_same_site(self, case_app: Api) -> None:
        case_app.services.users.create("cookie", USER_PASSWORD, "analyst")
        response = case_app.client.post(
            "/console/login",
            data={"username": "cookie", "password": USER_PASSWORD},
            follow_redirects=False,
        )
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie

    def test_the_uploader_cannot_approve_in_the_console(self, case_app: Api) -> None:
        approver = sign_in(case_app.app, case_app.services, "approver")
        source = case_app.services.decisions.rulesets.source(1)["source"].replace(
            "name: ", "name: tuned-", 1
        )
        uploaded = approver.post("/v1/rulesets", json={"source": source})
        assert uploaded.status_code == 201, uploaded.text
        version = uploaded.json()["version"]
        page = approver.get(f"/console/rules/{version}")
        assert "cannot approve their own" in page.text
        refused = approver.client.post(
            f"/console/rules/{version}/approve", data={"csrf": approver.csrf}
        )
        assert refused.status_code == 403
        assert case_app.services.decisions.ruleset_version == 1
        other = sign_in(case_app.app, case_app.services, "approver")
        page = other.get(f"/console/rules/{version}")
        assert 'id="approve"' in page.text
        approved = other.client.post(
            f"/console/rules/{version}/approve", data={"csrf": other.csrf}, follow_redirects=False
        )
        assert approved.status_code == 303
        assert case_app.services.decisions.ruleset_version == version


class TestLabelsExport:
    def test_resolved_cases_feed_the_training_labels_file(
        self, case_app: Api, database_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from typer.testing import CliRunner

        from lendguard.cli.main import app as cli
        from lendguard.config import get_settings

        case = scam_case(case_app)
        for target in ("triage", "resolved_fraud"):
            case_app.client.post(
                f"/v1/cases/{case['id']}/transition", json={"to": target}, headers=case_app.admin
            )
        monkeypatch.setenv("LENDGUARD_DATABASE_URL", database_url)
        get_settings.cache_clear()
        out = tmp_path / "labels.csv"
        try:
            result = CliRunner().invoke(cli, ["labels", "export", "--out", str(out)])
        finally:
            get_settings.cache_clear()
        assert result.exit_code == 0, result.output
        with out.open() as handle:
            rows = list(csv.DictReader(handle))
        assert rows == [{"event_id": case["decisions"][0]["event_id"], "label": "1"}]
