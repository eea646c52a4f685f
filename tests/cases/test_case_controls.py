"""Controls on case work, on both databases: releasing held money as legit needs a reason and,
above the policy amount, a second person (maker–checker); a case is assigned only to an
existing, active user who can work cases; free text on a case is stored masked."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from fixtures import T0, Api, WebhookReceiver, make_event, r39_scam_events, sign_in
from lendguard.models import AuditEntry, CaseActivity, LabelRecord, OutreachTask, User

PROBLEM = "application/problem+json"
PHONE = "13812345678"
RESIDENT_ID = "11010519491231002X"
CARD = "6222021234567890128"
FREE_TEXT = f"客户手机号{PHONE}，身份证{RESIDENT_ID}，卡号{CARD}"


def scam_case(api: Api, customer_id: str, amount: str = "19000") -> dict[str, Any]:
    """The engine-core scam (a student's loan money to a 'safe account' while screen sharing),
    with the transfer's amount given: the intercepted transfer's case, moved to triage."""
    events = r39_scam_events(customer_id)
    events[0]["amount"] = str(float(amount) + 1000)
    events[1]["amount"] = amount
    decisions = [api.decide(e) for e in events]
    assert decisions[-1]["action"] == "intercept"
    listing = api.client.get("/v1/cases", headers=api.admin).json()
    found = [c for c in listing["cases"] if c["customer_id"] == customer_id]
    assert len(found) == 1
    moved = api.client.post(
        f"/v1/cases/{found[0]['id']}/transition", json={"to": "triage"}, headers=api.admin
    )
    assert moved.status_code == 200, moved.text
    case: dict[str, Any] = moved.json()
    return case


def labels(api: Api) -> list[int]:
    with api.services.decisions.db.connect() as conn:
        return list(conn.execute(select(LabelRecord.label)).scalars())


def settle(receiver: WebhookReceiver, expected: int) -> None:
    """Give the webhook sender time to post what it has (none is expected to be missing)."""
    deadline = time.monotonic() + 10
    while len(receiver.requests) < expected and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    assert len(receiver.requests) == expected


class TestReleasingHeldMoney:
    def test_the_policy_amount_is_50000_cny_from_the_cases_policy(self) -> None:
        from lendguard.cases.service import load_release_policy

        policy = load_release_policy()
        assert policy.second_person_above == 50_000
        assert policy.currency == "CNY"

    def test_a_legit_resolution_needs_a_reason(
        self, case_app: Api, receiver: WebhookReceiver
    ) -> None:
        case = scam_case(case_app, "legit-no-note")
        for body in ({"to": "resolved_legit"}, {"to": "resolved_legit", "note": "   "}):
            refused = case_app.client.post(
                f"/v1/cases/{case['id']}/transition", json=body, headers=case_app.admin
            )
            assert refused.status_code == 422, refused.text
            assert refused.headers["content-type"] == PROBLEM
            assert [e["field"] for e in refused.json()["errors"]] == ["note"]
        after = case_app.client.get(f"/v1/cases/{case['id']}", headers=case_app.admin).json()
        assert (after["state"], after["revision"]) == ("triage", case["revision"])
        assert after["decisions"][0]["hold_status"] == "held"
        assert labels(case_app) == []
        settle(receiver, 0)

    def test_below_the_policy_amount_one_person_releases(
        self, case_app: Api, receiver: WebhookReceiver
    ) -> None:
        case = scam_case(case_app, "legit-small", amount="50000")  # not above 50,000
        done = case_app.client.post(
            f"/v1/cases/{case['id']}/transition",
            json={"to": "resolved_legit", "note": "her own savings account, confirmed by call"},
            headers=case_app.admin,
        )
        assert done.status_code == 200, done.text
        assert done.json()["state"] == "resolved_legit"
        assert done.json()["decisions"][0]["hold_status"] == "released"
        settle(receiver, 1)

    def test_above_it_a_second_person_approves_the_release(
        self, case_app: Api, receiver: WebhookReceiver
    ) -> None:
        case = scam_case(case_app, "legit-large", amount="60000")
        maker = sign_in(case_app.app, case_app.services, "analyst")
        checker = sign_in(case_app.app, case_app.services, "analyst")
        url = f"/v1/cases/{case['id']}/transition"
        reason = {"to": "resolved_legit", "note": "down payment for a flat; contract seen"}

        proposed = maker.post(url, json=reason)
        assert proposed.status_code == 202, proposed.text
        body = proposed.json()
        assert body["state"] == "triage"
        assert body["decisions"][0]["hold_status"] == "held"
        assert body["release_proposal"]["proposed_by"] == maker.actor
        assert body["release_proposal"]["amount"] == 60000.0
        assert body["release_proposal"]["threshold"] == 50000.0
        assert body["timeline"][-1]["kind"] == "release_proposed"
        assert labels(case_app) == []

        own = maker.post(url, json={**reason, "note": "approving my own proposal"})
        assert own.status_code == 403, own.text
        assert own.json()["errors"][0]["field"] == "approver"
        assert "different person" in own.json()["detail"]
        unchanged = case_app.client.get(f"/v1/cases/{case['id']}", headers=case_app.admin)
        assert unchanged.json()["state"] == "triage"
        settle(receiver, 0)

        approved = checker.post(url, json={**reason, "note": "contract checked, agree"})
        assert approved.status_code == 200, approved.text
        done = approved.json()
        assert (done["state"], done["outcome"]) == ("resolved_legit", "resolved_legit")
        assert done["decisions"][0]["hold_status"] == "released"
        assert done["release_proposal"] is None
        resolution = done["timeline"][-1]
        assert resolution["kind"] == "transition"
        assert resolution["actor"] == checker.actor
        assert resolution["detail"]["proposed_by"] == maker.actor
        settle(receiver, 1)
        assert json.loads(receiver.requests[0]["body"])["instruction"] == "release"
        assert labels(case_app) == [0]

    def test_a_decision_joining_after_the_proposal_voids_it(
        self, case_app: Api, receiver: WebhookReceiver
    ) -> None:
        case = scam_case(case_app, "legit-grows", amount="60000")
        first = case_app.key("cases:write", "cases:read")
        second = case_app.key("cases:write", "cases:read")
        url = f"/v1/cases/{case['id']}/transition"
        reason = {"to": "resolved_legit", "note": "known landlord"}
        assert case_app.client.post(url, json=reason, headers=first).status_code == 202
        joined = make_event(
            customer_id="legit-grows",
            occurred_at=T0 + timedelta(minutes=14),
            amount="900",
            payee_id="other-safe-account",
            session={"remote_control_app": True},
        )
        assert case_app.decide(joined)["action"] == "intercept"
        # The amount grew since the proposal: the second caller's request is a new proposal,
        # not an approval of a smaller release than the one now at stake.
        again = case_app.client.post(url, json=reason, headers=second)
        assert again.status_code == 202, again.text
        assert again.json()["release_proposal"]["amount"] == 60900.0
        assert again.json()["release_proposal"]["proposed_by"].startswith("key:")
        done = case_app.client.post(url, json=reason, headers=first)
        assert done.status_code == 200, done.text
        assert [d["hold_status"] for d in done.json()["decisions"]] == ["released", "released"]
        settle(receiver, 2)

    def test_a_pending_proposal_does_not_stop_another_outcome(
        self, case_app: Api, receiver: WebhookReceiver
    ) -> None:
        case = scam_case(case_app, "legit-then-fraud", amount="60000")
        url = f"/v1/cases/{case['id']}/transition"
        maker = case_app.key("cases:write", "cases:read")
        proposed = case_app.client.post(
            url, json={"to": "resolved_legit", "note": "looks fine"}, headers=maker
        )
        assert proposed.status_code == 202
        fraud = case_app.client.post(url, json={"to": "resolved_fraud"}, headers=maker)
        assert fraud.status_code == 200, fraud.text
        assert fraud.json()["decisions"][0]["hold_status"] == "cancelled"
        assert fraud.json()["release_proposal"] is None
        settle(receiver, 1)


class TestAssignment:
    def test_only_an_existing_active_user_who_works_cases(self, case_app: Api) -> None:
        case = scam_case(case_app, "assign-1")
        analyst = sign_in(case_app.app, case_app.services, "analyst", username="ann")
        sign_in(case_app.app, case_app.services, "officer", username="olga")
        url = f"/v1/cases/{case['id']}/assign"
        post = case_app.client.post

        for assignee in ("user:ann", "ann"):
            done = post(url, json={"assignee": assignee}, headers=case_app.admin)
            assert done.status_code == 200, done.text
            assert done.json()["assignee"] == analyst.actor

        case_app.services.users.create("gone", "correct-horse-battery-1", "analyst")
        with case_app.services.decisions.db.begin() as conn:
            conn.execute(update(User).where(User.username == "gone").values(disabled=True))
        before = case_app.client.get(f"/v1/cases/{case['id']}", headers=case_app.admin).json()
        for assignee in ("user:ghost", "ghost", "user:gone", "user:olga", "key:bot:k_1", ""):
            refused = post(url, json={"assignee": assignee}, headers=case_app.admin)
            assert refused.status_code == 422, (assignee, refused.text)
            assert refused.headers["content-type"] == PROBLEM
            assert [e["field"] for e in refused.json()["errors"]] == ["assignee"], assignee
        after = case_app.client.get(f"/v1/cases/{case['id']}", headers=case_app.admin).json()
        assert (after["assignee"], after["revision"]) == (analyst.actor, before["revision"])

    def test_an_empty_body_is_refused_and_null_unassigns(self, case_app: Api) -> None:
        case = scam_case(case_app, "assign-2")
        sign_in(case_app.app, case_app.services, "analyst", username="bea")
        url = f"/v1/cases/{case['id']}/assign"
        post = case_app.client.post
        assert post(url, json={"assignee": "bea"}, headers=case_app.admin).status_code == 200
        empty = post(url, json={}, headers=case_app.admin)
        assert empty.status_code == 422, empty.text
        assert [e["field"] for e in empty.json()["errors"]] == ["assignee"]
        still = case_app.client.get(f"/v1/cases/{case['id']}", headers=case_app.admin).json()
        assert still["assignee"] == "user:bea"
        cleared = post(url, json={"assignee": None}, headers=case_app.admin)
        assert cleared.status_code == 200, cleared.text
        assert cleared.json()["assignee"] is None


class TestFreeTextIsMasked:
    def test_notes_outreach_notes_and_transition_notes(self, case_app: Api) -> None:
        case = scam_case(case_app, "mask-1")
        base = f"/v1/cases/{case['id']}"
        admin = case_app.admin
        noted = case_app.client.post(f"{base}/notes", json={"text": FREE_TEXT}, headers=admin)
        assert noted.status_code == 200, noted.text
        task = case["outreach"][0]["id"]
        called = case_app.client.post(
            f"{base}/outreach/{task}",
            json={"outcome": "insisted", "notes": FREE_TEXT},
            headers=admin,
        )
        assert called.status_code == 200, called.text
        moved = case_app.client.post(
            f"{base}/transition", json={"to": "resolved_fraud", "note": FREE_TEXT}, headers=admin
        )
        assert moved.status_code == 200, moved.text
        body = moved.json()
        assert (
            body["outreach"][0]["notes"]
            == "客户手机号138****5678，身份证110105********002X，卡号622202*********0128"
        )
        note = next(a for a in body["timeline"] if a["kind"] == "note")
        assert note["detail"]["text"] == body["outreach"][0]["notes"]

        with case_app.services.decisions.db.connect() as conn:
            stored = [
                *conn.execute(select(CaseActivity.detail)).scalars(),
                *conn.execute(select(OutreachTask.notes)).scalars(),
                *conn.execute(select(AuditEntry.detail)).scalars(),
            ]
        text = json.dumps(stored, ensure_ascii=False)
        for secret in (PHONE, RESIDENT_ID, CARD):
            assert secret not in text
            assert secret not in json.dumps(body, ensure_ascii=False)
        assert text.count("138****5678") >= 6  # timeline and audit of all three
