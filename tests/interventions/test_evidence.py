"""The evidence pack over HTTP on both databases: a scam victim's intercepted transfer, its
case worked to the end (a call with notes, the hold cancelled, the lender told), a challenge
answered and a money lock; every section, the digest, the printable page, masking, escaping,
scopes, 404s and the audit entry."""

from __future__ import annotations

import hashlib
import json
import re
import time
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from fixtures import T0, Api, make_event, r39_scam_events
from lendguard.models import AuditEntry
from lendguard.models.cases import OutreachTask, WebhookDelivery
from lendguard.models.interventions import (
    ChallengeResponse,
    CustomerLockEvent,
    TrustedConfirmation,
)

CUSTOMER = "victim-21"
PHONE = "13812345678"
HOSTILE = "<script>alert('x')</script>"
QUESTION = (
    "Did someone who said they were police, the bank or customer service ask you to move this "
    "money?"
)
LOCKED_AT = datetime(2025, 3, 3, 6, 20, tzinfo=UTC)


def canonical_digest(pack: dict[str, Any]) -> str:
    """The digest as a reader recomputes it from the JSON export."""
    wanted = {"scope": pack["scope"], "sections": pack["sections"]}
    text = json.dumps(wanted, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_victim(api: Api) -> dict[str, Any]:
    """The intercepted transfer, its case worked to resolved_scam_victim, a call note holding a
    phone number and a script, a challenge answered, a lock event and a trusted confirmation."""
    decisions = [api.decide(e) for e in r39_scam_events(CUSTOMER)]
    intercepted = decisions[-1]
    assert intercepted["action"] == "intercept"
    listing = api.client.get("/v1/cases", headers=api.admin).json()
    case_id = next(c["id"] for c in listing["cases"] if c["customer_id"] == CUSTOMER)
    case = api.client.get(f"/v1/cases/{case_id}", headers=api.admin).json()
    task_id = case["outreach"][0]["id"]
    recorded = api.client.post(
        f"/v1/cases/{case_id}/outreach/{task_id}",
        json={"outcome": "confirmed_scam", "notes": f"She read the code aloud {HOSTILE}"},
        headers=api.admin,
    )
    assert recorded.status_code == 200, recorded.text
    resolved = api.client.post(
        f"/v1/cases/{case_id}/transition",
        json={"to": "resolved_scam_victim", "note": "coached by a fake police officer"},
        headers=api.admin,
    )
    assert resolved.status_code == 200, resolved.text
    engine = api.services.decisions.db
    # The questions were answered 40 s after the decision was shown.
    answered_at = datetime.fromisoformat(intercepted["decided_at"]) + timedelta(seconds=40)
    # The cancel instruction reaches the lender on the sender's thread: wait for it, so every
    # export of the test sees the same evidence.
    deadline = time.monotonic() + 10
    while True:
        with engine.connect() as conn:
            status = conn.execute(select(WebhookDelivery.status)).scalar_one_or_none()
        if status == "delivered":
            break
        assert time.monotonic() < deadline, f"the cancel instruction is still {status}"
        time.sleep(0.02)
    with engine.begin() as conn:
        # A note stored before masking existed: the export masks it on the way out.
        conn.execute(
            update(OutreachTask)
            .where(OutreachTask.id == task_id)
            .values(notes=f"Customer asked us to call back on {PHONE} {HOSTILE}")
        )
        conn.execute(
            insert(ChallengeResponse).values(
                decision_id=intercepted["decision_id"],
                customer_id=CUSTOMER,
                challenge_id="safe_account",
                policy_version="2025-03",
                locale="en",
                channel="app",
                questions=[
                    {
                        "id": "authority",
                        "kind": "yes_no",
                        "text": QUESTION,
                        "options": [{"id": "yes", "text": "Yes"}, {"id": "no", "text": "No"}],
                    }
                ],
                answers={"authority": "yes", "comment": f"he said call {PHONE}"},
                outcome="failed",
                follow_up_decision_id="dec-follow-up-1",
                follow_up_action="block",
                follow_up_reasons=[{"code": "LOAN_TO_NEW_PAYEE_UNDER_COACHING"}],
                follow_up_measures=["SUSPEND"],
                follow_up_messages=[{"locale": "en", "text": "We stopped this payment."}],
                shown_at=answered_at - timedelta(seconds=30),
                answered_at=answered_at,
                actor="key:lender-app",
            )
        )
        conn.execute(
            insert(CustomerLockEvent).values(
                customer_id=CUSTOMER,
                kind="locked",
                at=LOCKED_AT,
                actor="key:lender-app",
                detail={"channel": "app", "reason": f"reach me on {PHONE}"},
            )
        )
        conn.execute(
            insert(TrustedConfirmation).values(
                decision_id=intercepted["decision_id"],
                customer_id=CUSTOMER,
                status="declined",
                amount=19000.0,
                requested_at=answered_at,
                expires_at=answered_at + timedelta(hours=1),
                answered_at=answered_at + timedelta(minutes=5),
                actor="trusted:daughter",
            )
        )
    return {"case_id": case_id, "decision": intercepted, "answered_at": answered_at}


def evidence(api: Api, path: str, headers: dict[str, str] | None = None, **params: str) -> Any:
    return api.client.get(path, params=params, headers=headers or api.admin)


class TestCaseEvidence:
    def test_every_section_of_a_worked_case(self, case_app: Api) -> None:
        built = build_victim(case_app)
        decision = built["decision"]
        response = evidence(case_app, f"/v1/cases/{built['case_id']}/evidence")
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        pack = response.json()
        assert pack["scope"] == {
            "kind": "case",
            "case_id": built["case_id"],
            "customer_id": CUSTOMER,
            "truncated": False,
        }
        assert pack["requested_by"].startswith("key:bootstrap-admin:")
        s = pack["sections"]

        shown, after = s["interventions"]
        assert shown["decision_id"] == decision["decision_id"]
        assert shown["follow_up_of"] is None
        assert shown["action"] == "intercept"
        assert shown["channel"] == "app"
        assert (shown["amount"], shown["currency"]) == ("19000.00", "CNY")
        assert shown["messages"] == decision["messages"]  # exactly as stored
        assert {m["locale"] for m in shown["messages"]} == {"zh-CN", "en"}
        for locale in ("zh-CN", "en"):
            words = case_app.client.get(
                f"/v1/decisions/{decision['decision_id']}/explanation",
                params={"locale": locale},
                headers=case_app.admin,
            ).json()
            assert shown["explanation"][locale]["text"] == words["text"]
            assert shown["explanation"][locale]["reasons"] == words["reasons"]
        assert shown["case_id"] == built["case_id"]
        assert shown["customer_choice"] == {
            "code": "stopped_after_questions",
            "challenge_outcome": "failed",
            "follow_up_decision_id": "dec-follow-up-1",
            "follow_up_action": "block",
        }
        # what the answers gave was shown too: the follow-up, after the first
        assert after["decision_id"] == "dec-follow-up-1"
        assert after["follow_up_of"] == decision["decision_id"]
        assert (after["action"], after["event_id"]) == ("block", decision["event_id"])
        assert after["decided_at"] == built["answered_at"].isoformat()
        assert after["messages"] == [{"locale": "en", "text": "We stopped this payment."}]
        assert after["explanation"]["en"]["reasons"]

        [challenge] = s["challenges"]
        assert challenge["questions"][0]["text"] == QUESTION
        assert challenge["answers"]["authority"] == "yes"
        assert PHONE not in challenge["answers"]["comment"]
        assert challenge["follow_up_messages"] == [
            {"locale": "en", "text": "We stopped this payment."}
        ]
        assert challenge["follow_up_reasons"]["en"]
        assert challenge["follow_up_reasons"]["zh-CN"]
        assert challenge["answered_at"] == built["answered_at"].isoformat()

        [hold] = s["holds"]
        assert (hold["decision_id"], hold["hold_status"], hold["amount"]) == (
            decision["decision_id"],
            "cancelled",
            19000.0,
        )
        [case] = s["cases"]
        assert (case["state"], case["scam_type"]) == ("resolved_scam_victim", "safe_account")
        kinds = [a["kind"] for a in s["case_timeline"]]
        assert kinds[0] == "opened"
        assert {"outreach", "transition"} <= set(kinds)
        assert [a["at"] for a in s["case_timeline"]] == sorted(a["at"] for a in s["case_timeline"])

        [call] = s["calls"]
        assert (call["kind"], call["status"], call["outcome"]) == (
            "dissuasion_callback",
            "done",
            "confirmed_scam",
        )
        assert PHONE not in call["notes"]
        assert PHONE[-4:] in call["notes"]  # masked, not dropped
        assert HOSTILE in call["notes"]  # JSON carries the text; the page escapes it

        [sent] = s["lender_notifications"]
        assert (sent["instruction"], sent["event_id"], sent["status"]) == (
            "cancel",
            decision["event_id"],
            "delivered",
        )

        [locked] = s["money_lock"]
        assert locked["kind"] == "locked"
        assert PHONE not in locked["detail"]["reason"]
        [confirmation] = s["trusted_confirmations"]
        assert confirmation["status"] == "declined"

        assert pack["digest"]["algorithm"] == "sha256"
        assert pack["digest"]["value"] == canonical_digest(pack)
        assert PHONE not in response.text

    def test_the_digest_is_the_same_for_the_same_evidence_and_moves_with_it(
        self, case_app: Api
    ) -> None:
        built = build_victim(case_app)
        path = f"/v1/cases/{built['case_id']}/evidence"
        first = evidence(case_app, path).json()
        again = evidence(case_app, path, headers=case_app.key("evidence:read")).json()
        assert again["requested_by"] != first["requested_by"]
        assert again["digest"] == first["digest"]
        with case_app.services.decisions.db.begin() as conn:
            conn.execute(
                insert(CustomerLockEvent).values(
                    customer_id=CUSTOMER,
                    kind="unlocked",
                    at=LOCKED_AT + timedelta(days=1),
                    actor="user:branch-agent",
                    detail={"method": "in_person"},
                )
            )
        later = evidence(case_app, path).json()
        assert [e["kind"] for e in later["sections"]["money_lock"]] == ["locked", "unlocked"]
        assert later["digest"]["value"] != first["digest"]["value"]
        assert later["digest"]["value"] == canonical_digest(later)

    @pytest.mark.parametrize(("locale", "heading"), [("en", "Calls made"), ("zh-CN", "外呼记录")])
    def test_the_printable_page(self, case_app: Api, locale: str, heading: str) -> None:
        built = build_victim(case_app)
        path = f"/v1/cases/{built['case_id']}/evidence"
        digest = evidence(case_app, path).json()["digest"]["value"]
        page = evidence(case_app, path, format="html", locale=locale)
        assert page.status_code == 200, page.text
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in page.headers["content-security-policy"]
        html = page.text
        read = unescape(html)  # what a reader of the page sees
        assert f'<html lang="{locale}">' in html
        assert heading in html
        assert digest in html  # the printed copy matches the JSON export
        for message in built["decision"]["messages"]:
            assert message["text"] in read  # the exact text shown
        assert QUESTION in read
        # hostile text is escaped, never markup; the phone number is masked
        assert "<script" not in html
        assert "&lt;script&gt;" in html
        assert PHONE not in html
        # self-contained: nothing fetched from anywhere
        assert not re.search(r"(?i)(src|href)\s*=|@import|url\(", html)

    def test_the_export_is_audited(self, case_app: Api) -> None:
        built = build_victim(case_app)
        key = case_app.key("evidence:read")
        pack = evidence(
            case_app, f"/v1/cases/{built['case_id']}/evidence", headers=key, format="html"
        )
        assert pack.status_code == 200
        with case_app.services.decisions.db.connect() as conn:
            entries = conn.execute(
                select(AuditEntry).where(AuditEntry.action == "read.evidence")
            ).all()
        [entry] = entries
        assert entry.target == f"case:{built['case_id']}"
        assert entry.actor.startswith("key:test-")
        assert entry.detail["format"] == "html"
        assert entry.detail["counts"]["interventions"] == 2
        assert re.fullmatch(r"[0-9a-f]{64}", entry.detail["digest"])


class TestWithARealChallenge:
    def test_a_yes_to_a_scam_question_shows_both_decisions_and_the_questions_as_asked(
        self, case_app: Api
    ) -> None:
        dissuaded = case_app.decide(
            make_event(
                customer_id="answering-1", amount="3000.00", session={"screen_share_active": True}
            )
        )
        assert dissuaded["action"] == "dissuade"
        answered = case_app.client.post(
            f"/v1/decisions/{dissuaded['decision_id']}/challenge",
            json={
                "answers": {"told_by_authority": "yes", "screen_watched": "no", "purpose": "other"},
                "locale": "zh-CN",
                "channel": "app",
            },
            headers=case_app.admin,
        )
        assert answered.status_code == 201, answered.text
        follow = answered.json()
        assert follow["action"] == "intercept"
        listing = case_app.client.get("/v1/cases", headers=case_app.admin).json()
        case_id = next(c["id"] for c in listing["cases"] if c["customer_id"] == "answering-1")

        pack = evidence(case_app, f"/v1/cases/{case_id}/evidence").json()
        first, then = pack["sections"]["interventions"]
        assert (first["decision_id"], first["action"]) == (dissuaded["decision_id"], "dissuade")
        assert first["messages"] == dissuaded["messages"]
        assert first["customer_choice"]["code"] == "stopped_after_questions"
        assert first["customer_choice"]["challenge_outcome"] == "escalated"
        assert (then["decision_id"], then["follow_up_of"]) == (
            follow["decision_id"],
            dissuaded["decision_id"],
        )
        assert then["messages"] == follow["messages"]
        assert then["case_id"] == case_id
        [challenge] = pack["sections"]["challenges"]
        assert challenge["locale"] == "zh-CN"
        asked = {q["id"]: q["text"] for q in challenge["questions"]}
        shown_in_zh = {q["id"]: q["text"]["zh-CN"] for q in dissuaded["challenge"]["questions"]}
        assert asked == shown_in_zh
        [hold] = pack["sections"]["holds"]
        assert (hold["decision_id"], hold["hold_status"]) == (follow["decision_id"], "held")
        assert pack["digest"]["value"] == canonical_digest(pack)

        page = unescape(evidence(case_app, f"/v1/cases/{case_id}/evidence", format="html").text)
        for question in asked.values():
            assert question in page
        for message in [*dissuaded["messages"], *follow["messages"]]:
            assert message["text"] in page


class TestCustomerEvidence:
    def test_a_customers_export_holds_every_intervention_and_resolves_the_id(
        self, case_app: Api
    ) -> None:
        built = build_victim(case_app)
        # A second intervention without questions: the customer's choice is unknown.
        later = case_app.decide(
            make_event(
                customer_id=CUSTOMER,
                occurred_at=T0 + timedelta(days=2),
                amount="300",
                payee_id="payee-7",
                session={"screen_share_active": True},
            )
        )
        assert later["action"] == "dissuade"
        response = evidence(case_app, f"/v1/customers/{CUSTOMER}/evidence")
        assert response.status_code == 200, response.text
        pack = response.json()
        assert pack["scope"]["kind"] == "customer"
        assert pack["scope"]["case_id"] is None
        shown = pack["sections"]["interventions"]
        by_id = {i["decision_id"]: i for i in shown}
        assert set(by_id) == {
            built["decision"]["decision_id"],
            "dec-follow-up-1",
            later["decision_id"],
        }
        assert [i["decided_at"] for i in shown] == sorted(i["decided_at"] for i in shown)
        assert by_id[later["decision_id"]]["customer_choice"]["code"] == "unknown"
        assert by_id[later["decision_id"]]["case_id"] is None  # a dissuasion opens no case
        assert pack["digest"]["value"] == canonical_digest(pack)

    def test_a_customer_id_holding_a_phone_number_is_found_by_its_pseudonym(
        self, case_app: Api
    ) -> None:
        events = r39_scam_events(PHONE)
        decided = [case_app.decide(e) for e in events]
        stored = decided[-1]["customer_id"]
        assert stored != PHONE
        pack = evidence(case_app, f"/v1/customers/{PHONE}/evidence").json()
        assert pack["scope"]["customer_id"] == stored
        assert PHONE not in json.dumps(pack)
        assert [i["action"] for i in pack["sections"]["interventions"]] == ["intercept"]


class TestRefusals:
    def test_unknown_case_and_customer_are_404(self, case_app: Api) -> None:
        case_app.decide(make_event(customer_id="quiet-1", amount="10"))  # allowed: nothing
        for path in ("/v1/cases/no-such-case/evidence", "/v1/customers/quiet-1/evidence"):
            response = evidence(case_app, path)
            assert response.status_code == 404, path
            assert response.headers["content-type"] == "application/problem+json"
        with case_app.services.decisions.db.connect() as conn:
            assert not conn.execute(
                select(AuditEntry).where(AuditEntry.action == "read.evidence")
            ).all()

    def test_a_key_without_the_scope_is_403(self, case_app: Api) -> None:
        built = build_victim(case_app)
        reader = case_app.key("cases:read", "decisions:read")
        for path in (
            f"/v1/cases/{built['case_id']}/evidence",
            f"/v1/customers/{CUSTOMER}/evidence",
        ):
            assert evidence(case_app, path, headers=reader).status_code == 403

    @pytest.mark.parametrize(
        ("params", "field"),
        [({"format": "pdf"}, "query.format"), ({"locale": "fr"}, "query.locale")],
    )
    def test_a_bad_parameter_is_422_naming_it(
        self, case_app: Api, params: dict[str, str], field: str
    ) -> None:
        built = build_victim(case_app)
        response = evidence(case_app, f"/v1/cases/{built['case_id']}/evidence", **params)
        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == [field]

    def test_an_overlong_id_is_422(self, case_app: Api) -> None:
        response = evidence(case_app, f"/v1/customers/{'x' * 129}/evidence")
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "path.customer_id"
