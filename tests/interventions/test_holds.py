"""Holds over HTTP on a real SQLite app with the lender's webhook pointed at a real receiver,
the wall clock pinned (Monday 2 March 2026, 10:30 in Shanghai): an interception is held until
the end of the 4th business day; an agent releases or cancels it (reason, second person above
the release policy, timeline, audit, webhook); the deadline releases it (not before), once even
with two processes sweeping, and a running server does it on its own."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import func, select

from fixtures import T0, Api, WebhookReceiver, make_event, r39_scam_events
from lendguard.auth import audit
from lendguard.cases.service import CaseService, ReleasePolicy
from lendguard.cases.webhooks import WebhookSender
from lendguard.db import make_engine
from lendguard.models import CaseDecision
from lendguard.models.cases import WebhookDelivery

# The 4th business day after Monday 2 March 2026 is Friday 6 March; its end in Shanghai.
DEADLINE = datetime(2026, 3, 6, 16, 0, tzinfo=UTC)


@pytest.fixture
def app(pinned_clock: time_machine.Traveller, case_app: Api) -> Api:
    """The case app, built and used under the pinned clock."""
    return case_app


def held(api: Api, customer_id: str = "student-21") -> dict[str, Any]:
    """The R39 scam transfer (19,000 CNY to a safe account) intercepted: its hold."""
    decisions = [api.decide(e) for e in r39_scam_events(customer_id)]
    assert decisions[-1]["action"] == "intercept"
    listing = api.client.get(
        "/v1/holds", params={"customer_id": customer_id}, headers=api.admin
    ).json()
    assert listing["total"] == 1
    hold: dict[str, Any] = listing["holds"][0]
    assert hold["decision_id"] == decisions[-1]["decision_id"]
    return hold


def case_of(api: Api, hold: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = api.client.get(f"/v1/cases/{hold['case_id']}", headers=api.admin).json()
    return found


def resolve(api: Api, case_id: str, to: str, note: str) -> dict[str, Any]:
    """Triage the case, then resolve it."""
    moved = api.client.post(
        f"/v1/cases/{case_id}/transition", json={"to": "triage"}, headers=api.admin
    )
    assert moved.status_code == 200, moved.text
    done = api.client.post(
        f"/v1/cases/{case_id}/transition", json={"to": to, "note": note}, headers=api.admin
    )
    assert done.status_code == 200, done.text
    found: dict[str, Any] = done.json()
    return found


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def deliveries(api: Api) -> list[tuple[str, str]]:
    with api.services.decisions.db.connect() as conn:
        return [
            (d.instruction, d.body["reason"])
            for d in conn.execute(select(WebhookDelivery).order_by(WebhookDelivery.created_at))
        ]


class TestDeadline:
    def test_an_interception_is_held_until_the_end_of_the_fourth_business_day(
        self, app: Api
    ) -> None:
        hold = held(app)
        assert hold["hold_status"] == "held"
        assert hold["hold_deadline"] == "2026-03-06T16:00:00Z"
        assert hold["hold_ended_at"] is None
        assert hold["hold_end_reason"] is None
        assert hold["amount"] == 19000.0
        assert "2026年3月6日（星期五）" in hold["release_instructions"]["zh-CN"]
        assert "Friday 6 March 2026" in hold["release_instructions"]["en"]
        decision = case_of(app, hold)["decisions"][0]
        assert decision["hold_deadline"] == hold["hold_deadline"]
        assert decision["release_instructions"] == hold["release_instructions"]
        assert decision["hold_end_reason"] is None

    def test_the_listing_filters_by_customer_and_status(self, app: Api) -> None:
        held(app, "student-21")
        held(app, "student-22")
        everyone = app.client.get("/v1/holds", headers=app.admin).json()
        assert everyone["total"] == 2
        released = app.client.get(
            "/v1/holds", params={"status": "released"}, headers=app.admin
        ).json()
        assert released == {"total": 0, "holds": []}

    def test_a_case_resolution_ends_the_hold_and_says_why(self, app: Api) -> None:
        hold = held(app)
        decision = resolve(app, hold["case_id"], "resolved_fraud", "mule account")["decisions"][0]
        assert decision["hold_status"] == "cancelled"
        assert decision["hold_end_reason"] == "case_resolved"
        assert decision["hold_ended_at"] is not None
        assert deliveries(app) == [("cancel", "case_resolved")]


class TestAgent:
    def test_a_release_tells_the_lender_and_goes_on_the_timeline(
        self, app: Api, receiver: WebhookReceiver
    ) -> None:
        hold = held(app)
        worker = app.key("cases:read", "cases:write")
        done = app.client.post(
            f"/v1/holds/{hold['decision_id']}/release",
            json={"note": "customer answered the questions; paying her landlord"},
            headers=worker,
        )
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["release_proposal"] is None
        assert body["hold"]["hold_status"] == "released"
        assert body["hold"]["hold_end_reason"] == "released_by_agent"
        assert body["hold"]["hold_ended_at"] is not None

        wait_for(lambda: len(receiver.requests) == 1)
        payload = json.loads(receiver.requests[0]["body"])
        assert (payload["instruction"], payload["outcome"], payload["reason"]) == (
            "release",
            "hold_released",
            "released_by_agent",
        )
        assert payload["decision_id"] == hold["decision_id"]

        case = case_of(app, hold)
        entry = case["timeline"][-1]
        assert entry["kind"] == "hold_released"
        assert entry["detail"]["decision_id"] == hold["decision_id"]
        assert entry["detail"]["reason"] == "released_by_agent"
        assert entry["actor"].startswith("key:")
        actions = [e["action"] for e in audit.entries(app.services.decisions.db)]
        assert "case.hold_released" in actions

        # Released already: a second release or a cancel is a conflict; nothing more is sent.
        for verb in ("release", "cancel"):
            again = app.client.post(
                f"/v1/holds/{hold['decision_id']}/{verb}", json={"note": "again"}, headers=worker
            )
            assert again.status_code == 409, again.text
            assert again.json()["errors"][0]["field"] == "hold_status"
        # Resolving the case afterwards does not tell the lender a second time.
        resolve(app, hold["case_id"], "resolved_legit", "honest")
        assert deliveries(app) == [("release", "released_by_agent")]

    def test_a_cancel_needs_no_reason_and_tells_the_lender(self, app: Api) -> None:
        hold = held(app)
        done = app.client.post(
            f"/v1/holds/{hold['decision_id']}/cancel", json={}, headers=app.admin
        )
        assert done.status_code == 200, done.text
        assert done.json()["hold"]["hold_status"] == "cancelled"
        assert done.json()["hold"]["hold_end_reason"] == "cancelled_by_agent"
        assert deliveries(app) == [("cancel", "cancelled_by_agent")]
        assert case_of(app, hold)["timeline"][-1]["kind"] == "hold_cancelled"

    def test_a_release_without_a_reason_is_refused_and_changes_nothing(self, app: Api) -> None:
        hold = held(app)
        for body in ({}, {"note": ""}, {"note": " \u200b "}):
            refused = app.client.post(
                f"/v1/holds/{hold['decision_id']}/release", json=body, headers=app.admin
            )
            assert refused.status_code == 422, refused.text
            assert refused.json()["errors"][0]["field"] == "note"
        assert case_of(app, hold)["decisions"][0]["hold_status"] == "held"
        assert deliveries(app) == []

    def test_above_the_release_policy_a_second_person_approves(self, app: Api) -> None:
        cases = app.services.cases
        cases.release_policy = cases.holds.release_policy = ReleasePolicy(10_000.0, "CNY")
        hold = held(app)
        maker, checker = app.key("cases:write"), app.key("cases:write")
        url = f"/v1/holds/{hold['decision_id']}/release"
        proposed = app.client.post(url, json={"note": "known payee"}, headers=maker)
        assert proposed.status_code == 202, proposed.text
        assert proposed.json()["hold"]["hold_status"] == "held"
        assert proposed.json()["release_proposal"]["amount"] == 19000.0
        assert deliveries(app) == []
        own = app.client.post(url, json={"note": "known payee"}, headers=maker)
        assert own.status_code == 403, own.text
        assert own.json()["errors"][0]["field"] == "approver"
        approved = app.client.post(url, json={"note": "checked the payee"}, headers=checker)
        assert approved.status_code == 200, approved.text
        assert approved.json()["hold"]["hold_status"] == "released"
        assert approved.json()["release_proposal"] is None
        entry = case_of(app, hold)["timeline"][-1]
        assert entry["kind"] == "hold_released"
        assert entry["detail"]["proposed_by"] != entry["actor"]

    def test_releasing_in_pieces_does_not_get_round_the_second_person(self, app: Api) -> None:
        cases = app.services.cases
        cases.release_policy = cases.holds.release_policy = ReleasePolicy(19_500.0, "CNY")
        hold = held(app)
        done = app.client.post(
            f"/v1/holds/{hold['decision_id']}/release", json={"note": "ok"}, headers=app.admin
        )
        assert done.status_code == 200, done.text
        # A second interception of 900 joins the case: 19,900 let go in all is above 19,500.
        again = make_event(
            customer_id="student-21",
            occurred_at=T0 + timedelta(minutes=14),
            amount="900",
            payee_id="other-safe-account",
            session={"remote_control_app": True},
        )
        assert app.decide(again)["action"] == "intercept"
        other = app.client.get("/v1/holds", params={"status": "held"}, headers=app.admin).json()
        assert other["holds"][0]["case_id"] == hold["case_id"]
        proposed = app.client.post(
            f"/v1/holds/{other['holds'][0]['decision_id']}/release",
            json={"note": "ok"},
            headers=app.admin,
        )
        assert proposed.status_code == 202, proposed.text
        assert proposed.json()["release_proposal"]["amount"] == 19900.0


class TestEdge:
    def test_unknown_decisions_and_bad_input_are_refused(self, app: Api) -> None:
        hold = held(app)
        missing = app.client.post("/v1/holds/dec_nope/cancel", json={}, headers=app.admin)
        assert missing.status_code == 404
        too_long = app.client.post(f"/v1/holds/{'d' * 65}/cancel", json={}, headers=app.admin)
        assert too_long.status_code == 422
        assert too_long.json()["errors"][0]["field"].endswith("decision_id")
        extra = app.client.post(
            f"/v1/holds/{hold['decision_id']}/cancel", json={"notes": "x"}, headers=app.admin
        )
        assert extra.status_code == 422
        assert extra.json()["errors"][0]["field"] == "notes"
        long_note = app.client.post(
            f"/v1/holds/{hold['decision_id']}/cancel", json={"note": "x" * 4001}, headers=app.admin
        )
        assert long_note.status_code == 422
        assert long_note.json()["errors"][0]["field"] == "note"
        status = app.client.get("/v1/holds", params={"status": "gone"}, headers=app.admin)
        assert status.status_code == 422
        assert status.json()["errors"][0]["field"].endswith("status")
        assert case_of(app, hold)["decisions"][0]["hold_status"] == "held"
        assert deliveries(app) == []

    def test_each_endpoint_needs_its_scope(self, app: Api) -> None:
        hold = held(app)
        reader = app.key("cases:read")
        assert app.client.get("/v1/holds", headers=reader).status_code == 200
        for verb in ("release", "cancel"):
            refused = app.client.post(
                f"/v1/holds/{hold['decision_id']}/{verb}", json={"note": "x"}, headers=reader
            )
            assert refused.status_code == 403
        decisions_only = app.key("decisions:read")
        assert app.client.get("/v1/holds", headers=decisions_only).status_code == 403
        assert app.client.get("/v1/holds").status_code == 401
        assert case_of(app, hold)["decisions"][0]["hold_status"] == "held"


class TestAutomaticRelease:
    def test_the_deadline_releases_it_and_not_before(
        self, app: Api, pinned_clock: time_machine.Traveller, receiver: WebhookReceiver
    ) -> None:
        hold = held(app)
        cases = app.services.cases
        pinned_clock.move_to(DEADLINE - timedelta(minutes=5))
        assert cases.release_due_holds() == []
        assert case_of(app, hold)["decisions"][0]["hold_status"] == "held"

        pinned_clock.move_to(DEADLINE + timedelta(seconds=1))
        swept = app.client.post("/v1/cases/sweep", headers=app.admin)
        assert swept.json() == {"filed": 0, "released": 1}
        decision = case_of(app, hold)["decisions"][0]
        assert decision["hold_status"] == "released"
        assert decision["hold_end_reason"] == "deadline"
        entry = case_of(app, hold)["timeline"][-1]
        assert (entry["kind"], entry["actor"]) == ("hold_released", "system")
        assert entry["detail"]["deadline"] == DEADLINE.isoformat()
        wait_for(lambda: len(receiver.requests) == 1)
        payload = json.loads(receiver.requests[0]["body"])
        assert (payload["instruction"], payload["reason"], payload["decided_by"]) == (
            "release",
            "deadline",
            "system",
        )
        actions = [e["action"] for e in audit.entries(app.services.decisions.db)]
        assert "case.hold_released" in actions
        assert "cases.hold_sweep" in actions
        # Nothing left: a second sweep releases nothing and sends nothing more.
        assert cases.release_due_holds() == []
        assert deliveries(app) == [("release", "deadline")]

    def test_two_processes_sweeping_at_once_release_a_hold_once(
        self, app: Api, pinned_clock: time_machine.Traveller
    ) -> None:
        for n in range(3):
            held(app, f"student-{30 + n}")
        pinned_clock.move_to(DEADLINE + timedelta(hours=1))
        url = app.services.settings.database_url
        engines = [make_engine(url), make_engine(url)]
        try:
            sweepers = [
                CaseService(e, WebhookSender(e, app.services.settings.webhook_url, "s"))
                for e in engines
            ]
            start = threading.Barrier(2)
            results: list[list[str]] = [[], []]

            def sweep(i: int) -> None:
                start.wait()
                results[i] = sweepers[i].release_due_holds()

            threads = [threading.Thread(target=sweep, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
        finally:
            for e in engines:
                e.dispose()
        assert len(results[0]) + len(results[1]) == 3
        assert not set(results[0]) & set(results[1])
        with app.services.decisions.db.connect() as conn:
            assert conn.execute(select(func.count()).select_from(WebhookDelivery)).scalar() == 3
            ended = conn.execute(
                select(CaseDecision.hold_status, CaseDecision.hold_end_reason)
            ).all()
        assert {tuple(r) for r in ended} == {("released", "deadline")}
        listing = app.client.get("/v1/holds", headers=app.admin).json()
        for hold in listing["holds"]:
            kinds = [a["kind"] for a in case_of(app, hold)["timeline"]]
            assert kinds.count("hold_released") == 1

    def test_a_running_server_releases_due_holds_on_its_own(
        self, app: Api, pinned_clock: time_machine.Traveller
    ) -> None:
        hold = held(app)
        pinned_clock.move_to(DEADLINE + timedelta(minutes=1))
        app.services.cases.hold_sweep_every_s = 0.05
        app.services.webhooks.wake()
        wait_for(lambda: case_of(app, hold)["decisions"][0]["hold_status"] == "released")
        assert case_of(app, hold)["decisions"][0]["hold_end_reason"] == "deadline"
