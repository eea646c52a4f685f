"""An attacker's pass over the interventions endpoints (issue #19), with the real app on a real
database: hostile bodies and path ids are refused with a problem document naming the field and
leave nothing behind (no row, no audit entry, no webhook delivery); every route refuses a
caller without a key, without the scope, or bound to a purpose that may not touch anti-fraud
data; racing requests settle once; a phone or ID number typed into free text never comes back
in clear (responses, the evidence pack in both formats, log lines)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import structlog
from sqlalchemy import select
from structlog.testing import capture_logs

from fixtures import PINNED_NOW, Api, WebhookReceiver, make_event, r39_scam_events, sign_in
from lendguard.models import AuditEntry
from lendguard.models.cases import CaseDecision

PROBLEM = "application/problem+json"
PHONE = "13800138000"
ID_NUMBER = "110101199003074514"
# Every table a refused request could leave something in.
TABLES = (
    "challenge_responses",
    "customer_locks",
    "customer_lock_events",
    "trusted_contacts",
    "trusted_confirmations",
    "audit_log",
    "webhook_deliveries",
)


def snapshot(api: Api) -> tuple[dict[str, int], list[tuple[Any, ...]]]:
    """Row counts of every table above, and the case decisions' hold columns."""
    with api.services.decisions.db.connect() as conn:
        holds = [
            tuple(row)
            for row in conn.execute(
                select(
                    CaseDecision.decision_id,
                    CaseDecision.hold_status,
                    CaseDecision.hold_deadline,
                    CaseDecision.hold_ended_at,
                    CaseDecision.hold_end_reason,
                ).order_by(CaseDecision.decision_id)
            )
        ]
    return {table: api.rows(table) for table in TABLES}, holds


def held(api: Api, customer: str = "student-21") -> str:
    """The R39 scam transfer, intercepted and held: its decision id."""
    decisions = [api.decide(e) for e in r39_scam_events(customer)]
    assert decisions[-1]["action"] == "intercept"
    decision_id: str = decisions[-1]["decision_id"]
    return decision_id


def challenged(api: Api, customer: str = "cust-9") -> dict[str, Any]:
    """A dissuaded transfer (screen shared) carrying the safe-account questions."""
    decision = api.decide(
        make_event(customer_id=customer, amount="3000.00", session={"screen_share_active": True})
    )
    assert decision["challenge"], decision
    return decision


def fitting_answers(decision: dict[str, Any]) -> dict[str, str]:
    """'no' to every yes/no question, the first option of any other."""
    answers = {}
    for question in decision["challenge"]["questions"]:
        values = [o["value"] for o in question["options"]]
        answers[question["id"]] = "no" if "no" in values else values[0]
    return answers


def audit_actions(api: Api) -> list[str]:
    with api.services.decisions.db.connect() as conn:
        return list(conn.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars())


def assert_problem(response: Any, status: int | tuple[int, ...], field: str | None = None) -> None:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    if field is not None:
        fields = [e["field"] for e in response.json().get("errors", [])]
        assert field in fields, (field, response.json())


@pytest.fixture
def app(pinned_clock: Any, case_app: Api) -> Api:
    return case_app


# -- bodies -------------------------------------------------------------------------------------

# Bytes no endpoint takes: each a 400 (not JSON, too deep, an infinite number) or a 422.
RAW_BODIES = [
    b"",
    b"null",
    b"[]",
    b"42",
    b'"text"',
    b"not json",
    b"{" * 1100 + b"}" * 1100,
    b"[" * 2000 + b"]" * 2000,
    b'{"x": 1e309}',
    b'{"x": NaN}',
    b'{"x": Infinity}',
    b'"\\u0000"',
    b"\xff\xfe",
]


def write_routes(api: Api, decision_id: str, challenge_id: str) -> list[tuple[str, str]]:
    return [
        ("POST", "/v1/customers/student-21/lock"),
        ("POST", "/v1/customers/student-21/unlock"),
        ("PUT", "/v1/customers/student-21/trusted-contact"),
        ("POST", f"/v1/decisions/{challenge_id}/challenge"),
        ("POST", f"/v1/decisions/{decision_id}/trusted-confirmation"),
        ("POST", f"/v1/holds/{decision_id}/release"),
        ("POST", f"/v1/holds/{decision_id}/cancel"),
    ]


# Per route: (body, the field the problem must name).
BAD_BODIES: dict[str, list[tuple[Any, str]]] = {
    "lock": [
        ({"channel": "app", "note": "a\u0000b"}, "note"),
        ({"channel": "app", "note": "line\u001bescape"}, "note"),
        ({"channel": "app", "note": "x" * 10_000}, "note"),
        ({"channel": "app", "note": "\u200b\u3000"}, "note"),
        ({"channel": "app", "note": {"a": 1}}, "note"),
        ({"channel": "app", "kill_switch": "true"}, "kill_switch"),
        ({"channel": "app", "kill_switch": 1}, "kill_switch"),
        ({"channel": ["app"]}, "channel"),
        ({"channel": "branch"}, "channel"),
        ({"channel": "app", "unlock": True}, "unlock"),
        ({}, "channel"),
    ],
    "unlock": [
        ({"method": "cooling_off", "revision": True}, "revision"),
        ({"method": "cooling_off", "revision": "1"}, "revision"),
        ({"method": "cooling_off", "revision": 1.5}, "revision"),
        ({"method": "cooling_off", "revision": 2**63}, "revision"),
        ({"method": "cooling_off", "revision": -1}, "revision"),
        ({"method": "cooling_off", "revision": [1]}, "revision"),
        (
            {"method": "video", "reference": "r\u0000", "verified_by": "a", "revision": 1},
            "reference",
        ),
        (
            {"method": "video", "reference": "x" * 10_000, "verified_by": "a", "revision": 1},
            "reference",
        ),
        (
            {"method": "video", "reference": "v-1", "verified_by": "\u3000", "revision": 1},
            "verified_by",
        ),
        ({"method": "video", "revision": 1}, "reference"),
        ({"method": "app", "revision": 1}, "method"),
        ({"method": "cooling_off", "revision": 1, "force": True}, "force"),
    ],
    "trusted-contact": [
        ({"name": "a\u0000", "phone": "13900001111", "threshold": "1", "consent_id": 1}, "name"),
        ({"name": "x" * 10_000, "phone": "13900001111", "threshold": "1", "consent_id": 1}, "name"),
        ({"name": "a", "phone": "139-0000-1111", "threshold": "1", "consent_id": 1}, "phone"),
        ({"name": "a", "phone": 13900001111, "threshold": "1", "consent_id": 1}, "phone"),
        ({"name": "a", "phone": "13900001111", "threshold": True, "consent_id": 1}, "threshold"),
        ({"name": "a", "phone": "13900001111", "threshold": -1, "consent_id": 1}, "threshold"),
        ({"name": "a", "phone": "13900001111", "threshold": "NaN", "consent_id": 1}, "threshold"),
        ({"name": "a", "phone": "13900001111", "threshold": 1e300, "consent_id": 1}, "threshold"),
        ({"name": "a", "phone": "13900001111", "threshold": "1", "consent_id": True}, "consent_id"),
        ({"name": "a", "phone": "13900001111", "threshold": "1", "consent_id": "1"}, "consent_id"),
        (
            {"name": "a", "phone": "13900001111", "threshold": "1", "consent_id": 2**64},
            "consent_id",
        ),
        ({"name": "a", "phone": "13900001111", "threshold": "1", "consent_id": 0}, "consent_id"),
        ({"name": "a", "phone": "13900001111", "threshold": "1"}, "consent_id"),
    ],
    "challenge": [
        ({"answers": {"told_by_authority": True}}, "answers.told_by_authority"),
        ({"answers": {"told_by_authority": "yes\u0000"}}, "answers.told_by_authority"),
        ({"answers": []}, "answers"),
        ({"answers": {"q": {"nested": {"deeper": 1}}}}, "answers.q"),
        ({"shown_at": "2026-03-02T02:00:00"}, "shown_at"),
        ({"shown_at": "0001-01-01T00:00:00Z"}, "shown_at"),
        ({"shown_at": "9999-12-31T23:59:59+14:00"}, "shown_at"),
        ({"shown_at": 1772418600}, "shown_at"),
        (
            {"verification": {"liveness_score": "0.9", "face_match_score": 0.9}},
            "verification.liveness_score",
        ),
        (
            {"verification": {"liveness_score": True, "face_match_score": 0.9}},
            "verification.liveness_score",
        ),
        (
            {"verification": {"liveness_score": -0.1, "face_match_score": 0.9}},
            "verification.liveness_score",
        ),
        (
            {"verification": {"liveness_score": 0.9, "face_match_score": 2**63}},
            "verification.face_match_score",
        ),
        ({"verification": []}, "verification"),
        ({"locale": "fr"}, "locale"),
        ({"channel": "carrier_pigeon"}, "channel"),
        ({"outcome": "passed"}, "outcome"),
    ],
    "trusted-confirmation": [
        ({"confirmed": 1, "by": "trusted_contact"}, "confirmed"),
        ({"confirmed": "true", "by": "trusted_contact"}, "confirmed"),
        ({"confirmed": True, "by": "customer"}, "by"),
        ({"confirmed": True}, "by"),
    ],
    "release": [
        ({"note": "\u200b"}, "note"),
        ({"note": "a\u0000b"}, "note"),
        ({"note": "x" * 10_000}, "note"),
        ({"note": 5}, "note"),
        ({"note": ["ok"]}, "note"),
        ({}, "note"),
        ({"note": "fine", "approved": True}, "approved"),
    ],
    "cancel": [
        ({"note": "a\u0000b"}, "note"),
        ({"note": "x" * 10_000}, "note"),
        ({"note": None}, "note"),
        ({"reason": "x"}, "reason"),
    ],
}


def _route_key(path: str) -> str:
    return path.rsplit("/", 1)[-1]


class TestBodies:
    def test_every_hostile_body_is_a_problem_naming_the_field_and_leaves_nothing(
        self, app: Api, receiver: WebhookReceiver
    ) -> None:
        decision_id = held(app)
        challenge = challenged(app)
        # A lock to unlock (revision 1), so a type slip there would otherwise succeed.
        locked = app.client.post(
            "/v1/customers/student-21/lock", json={"channel": "app"}, headers=app.admin
        )
        assert locked.status_code == 200, locked.text
        before = snapshot(app)
        routes = write_routes(app, decision_id, challenge["decision_id"])
        for method, path in routes:
            for data in RAW_BODIES:
                response = app.client.request(
                    method,
                    path,
                    content=data,
                    headers={**app.admin, "content-type": "application/json"},
                )
                assert_problem(response, (400, 422), "body")
            for body, field in BAD_BODIES[_route_key(path)]:
                response = app.client.request(method, path, json=body, headers=app.admin)
                assert_problem(response, 422, field)
            # Over the configured body limit: refused before it is read.
            response = app.client.request(
                method,
                path,
                content=b'{"note": "' + b"x" * 1_100_000 + b'"}',
                headers={**app.admin, "content-type": "application/json"},
            )
            assert_problem(response, 413, "body")
        assert snapshot(app) == before
        assert receiver.requests == []


# -- path ids ------------------------------------------------------------------------------------

HOSTILE_IDS = [
    "x" * 300,
    "a%2Fb",
    "%00",
    "%1b",
    "%E2%80%8B",
    "名字",
    "%27%20OR%201%3D1%20--",
    "%ff",
    "%2e%2e",
    "dec_%25",
]


class TestPathIds:
    def test_hostile_ids_are_a_404_or_422_never_a_500_and_change_nothing(self, app: Api) -> None:
        held(app)
        before = snapshot(app)
        for raw in HOSTILE_IDS:
            for method, path, body in (
                ("GET", f"/v1/customers/{raw}/lock", None),
                ("POST", f"/v1/customers/{raw}/unlock", {"method": "cooling_off", "revision": 1}),
                ("GET", f"/v1/customers/{raw}/trusted-contact", None),
                ("DELETE", f"/v1/customers/{raw}/trusted-contact", None),
                ("GET", f"/v1/customers/{raw}/evidence", None),
                ("GET", f"/v1/cases/{raw}/evidence", None),
                ("POST", f"/v1/decisions/{raw}/challenge", {}),
                (
                    "POST",
                    f"/v1/decisions/{raw}/trusted-confirmation",
                    {"confirmed": True, "by": "trusted_contact"},
                ),
                ("POST", f"/v1/holds/{raw}/release", {"note": "checked"}),
                ("POST", f"/v1/holds/{raw}/cancel", {}),
            ):
                kwargs: dict[str, Any] = {} if body is None else {"json": body}
                response = app.client.request(method, path, headers=app.admin, **kwargs)
                assert response.status_code in (404, 405, 409, 422), (
                    method,
                    path,
                    response.status_code,
                    response.text,
                )
                if response.status_code != 405:
                    assert response.headers["content-type"].startswith(PROBLEM)
        assert snapshot(app) == before


# -- authorization -------------------------------------------------------------------------------


def every_route(decision_id: str, case_id: str) -> list[tuple[str, str, Any]]:
    return [
        ("POST", f"/v1/decisions/{decision_id}/challenge", {}),
        ("POST", "/v1/customers/student-21/lock", {"channel": "app"}),
        ("GET", "/v1/customers/student-21/lock", None),
        ("POST", "/v1/customers/student-21/unlock", {"method": "cooling_off", "revision": 1}),
        (
            "PUT",
            "/v1/customers/student-21/trusted-contact",
            {"name": "a", "phone": "13900001111", "threshold": "1", "consent_id": 1},
        ),
        ("GET", "/v1/customers/student-21/trusted-contact", None),
        ("DELETE", "/v1/customers/student-21/trusted-contact", None),
        (
            "POST",
            f"/v1/decisions/{decision_id}/trusted-confirmation",
            {"confirmed": True, "by": "trusted_contact"},
        ),
        ("GET", "/v1/holds", None),
        ("POST", f"/v1/holds/{decision_id}/release", {"note": "checked"}),
        ("POST", f"/v1/holds/{decision_id}/cancel", {}),
        ("GET", f"/v1/cases/{case_id}/evidence", None),
        ("GET", "/v1/customers/student-21/evidence", None),
        ("GET", "/v1/interventions/effectiveness", None),
    ]


def _call(api: Api, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    kwargs: dict[str, Any] = {} if body is None else {"json": body}
    return api.client.request(method, path, headers=headers, **kwargs)


class TestAuthorization:
    def test_no_key_wrong_scope_and_a_marketing_purpose_are_refused_and_change_nothing(
        self, app: Api
    ) -> None:
        decision_id = held(app)
        case_id = app.client.get("/v1/holds", headers=app.admin).json()["holds"][0]["case_id"]
        every_scope = (
            "challenges:answer",
            "locks:write",
            "trusted:write",
            "cases:read",
            "cases:write",
            "evidence:read",
            "decisions:read",
        )
        wrong = app.key("labels:write", "lists:write")
        marketing = app.key(*every_scope, "purpose:marketing")
        declared = {**app.key(*every_scope), "X-LendGuard-Purpose": "marketing"}
        before = snapshot(app)
        for method, path, body in every_route(decision_id, case_id):
            assert_problem(_call(app, method, path, body, {}), 401)
            assert_problem(_call(app, method, path, body, {"Authorization": "Bearer nope"}), 401)
            assert_problem(_call(app, method, path, body, wrong), 403)
            # Locks, holds, answers, trusted persons and evidence are anti-fraud data (R34):
            # a key bound to marketing, or a request declaring it, neither reads nor acts.
            assert_problem(_call(app, method, path, body, marketing), 403)
            assert_problem(_call(app, method, path, body, declared), 403)
        counts, holds = snapshot(app)
        # Each purpose refusal is itself audited; nothing else was written.
        assert {**counts, "audit_log": before[0]["audit_log"]} == before[0]
        assert counts["audit_log"] > before[0]["audit_log"]
        assert holds == before[1]

    def test_console_roles_get_only_what_their_work_needs(self, app: Api) -> None:
        decision_id = held(app)
        case_id = app.client.get("/v1/holds", headers=app.admin).json()["holds"][0]["case_id"]
        officer = sign_in(app.app, app.services, "officer")
        analyst = sign_in(app.app, app.services, "analyst")
        before = snapshot(app)
        for method, path, body in every_route(decision_id, case_id):
            kwargs: dict[str, Any] = {} if body is None else {"json": body}
            as_officer = officer.client.request(
                method, path, headers={"X-CSRF-Token": officer.csrf}, **kwargs
            )
            if method == "GET" and "lock" not in path and "trusted" not in path:
                assert as_officer.status_code == 200, (path, as_officer.text)
            else:
                # The compliance officer reads; it never acts on money, locks or answers.
                assert_problem(as_officer, 403)
            if method != "GET":
                # A cookie without the session's CSRF token is refused whatever the role.
                assert_problem(analyst.client.request(method, path, **kwargs), 403)
            if "trusted" in path:
                # Registering a trusted person is the lender's app's, on the customer's consent.
                assert_problem(
                    analyst.client.request(
                        method, path, headers={"X-CSRF-Token": analyst.csrf}, **kwargs
                    ),
                    403,
                )
        counts, holds = snapshot(app)
        assert {**counts, "audit_log": before[0]["audit_log"]} == before[0]
        assert holds == before[1]
        # What was written is the officer's two evidence reads, each audited.
        assert audit_actions(app)[-2:] == ["read.evidence", "read.evidence"]
        assert counts["audit_log"] == before[0]["audit_log"] + 2


# -- races ---------------------------------------------------------------------------------------


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def race(n: int, call: Callable[[int], Any]) -> list[Any]:
    """``call(i)`` for i in range(n) on n threads released together; their results."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = call(i)
        except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


class TestRaces:
    def test_two_answers_to_one_challenge_store_one_row_and_agree(self, app: Api) -> None:
        decision = challenged(app)
        body = {"answers": fitting_answers(decision), "locale": "en"}
        results = race(
            2,
            lambda _: app.client.post(
                f"/v1/decisions/{decision['decision_id']}/challenge", json=body, headers=app.admin
            ),
        )
        assert [r.status_code for r in results] == [201, 201], [r.text for r in results]
        assert results[0].json() == results[1].json()
        assert app.rows("challenge_responses") == 1

    def test_two_different_answers_to_one_challenge_one_wins_the_other_409(self, app: Api) -> None:
        decision = challenged(app)
        answers = fitting_answers(decision)
        scam = {**answers, next(iter(answers)): "yes"}
        results = race(
            2,
            lambda i: app.client.post(
                f"/v1/decisions/{decision['decision_id']}/challenge",
                json={"answers": (answers, scam)[i]},
                headers=app.admin,
            ),
        )
        assert sorted(r.status_code for r in results) == [201, 409], [r.text for r in results]
        assert app.rows("challenge_responses") == 1

    def test_first_locks_at_once_make_one_lock_with_one_step(self, app: Api) -> None:
        results = race(
            4,
            lambda _: app.client.post(
                "/v1/customers/racer/lock", json={"channel": "app"}, headers=app.admin
            ),
        )
        assert [r.status_code for r in results] == [200] * 4, [r.text for r in results]
        assert (app.rows("customer_locks"), app.rows("customer_lock_events")) == (1, 1)
        assert audit_actions(app).count("locks.locked") == 1

    def test_two_unlocks_with_one_revision_one_wins_the_other_409(self, app: Api) -> None:
        lock = app.client.post(
            "/v1/customers/racer/lock", json={"channel": "app"}, headers=app.admin
        ).json()
        body = {
            "method": "video",
            "reference": "vc-1",
            "verified_by": "agent-7",
            "revision": lock["revision"],
        }
        results = race(
            2,
            lambda _: app.client.post("/v1/customers/racer/unlock", json=body, headers=app.admin),
        )
        assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
        view = app.client.get("/v1/customers/racer/lock", headers=app.admin).json()
        assert [s["kind"] for s in view["history"]] == ["locked", "unlocked"]
        assert app.rows("customer_lock_events") == 2

    def test_two_releases_of_one_hold_release_once_and_tell_the_lender_once(
        self, app: Api, receiver: WebhookReceiver
    ) -> None:
        decision_id = held(app)
        # Two different agents: a second person's release would not wait for a proposal.
        agents = [app.key("cases:read", "cases:write") for _ in range(2)]
        results = race(
            2,
            lambda i: app.client.post(
                f"/v1/holds/{decision_id}/release",
                json={"note": "customer confirmed on a call"},
                headers=agents[i],
            ),
        )
        assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
        assert app.rows("webhook_deliveries") == 1
        hold = app.client.get("/v1/holds", headers=app.admin).json()["holds"][0]
        assert hold["hold_status"] == "released"

    def test_a_confirmation_and_a_refusal_at_once_record_one_answer(
        self, app: Api, receiver: WebhookReceiver
    ) -> None:
        app.client.post(
            "/v1/privacy/notices",
            json={
                "notice_key": "trusted-contact",
                "purposes": ["third_party_sharing"],
                "texts": {"zh-CN": "您的可信联系人会收到您大额付款的确认请求。"},
            },
            headers=app.admin,
        )
        consent = app.client.post(
            "/v1/privacy/consents",
            json={
                "customer_id": "elder-1",
                "purpose": "third_party_sharing",
                "scope": "trusted_contact",
                "granted": True,
                "notice_key": "trusted-contact",
                "notice_version": 1,
            },
            headers=app.admin,
        )
        assert consent.status_code == 201, consent.text
        registered = app.client.put(
            "/v1/customers/elder-1/trusted-contact",
            json={
                "name": "王小明",
                "phone": "13900001111",
                "threshold": "5000",
                "consent_id": consent.json()["id"],
            },
            headers=app.admin,
        )
        assert registered.status_code == 200, registered.text
        decision = app.decide(
            make_event(customer_id="elder-1", amount="6000", occurred_at=PINNED_NOW)
        )
        assert decision["reasons"][0]["code"] == "TRUSTED_CONFIRMATION_REQUIRED"
        results = race(
            2,
            lambda i: app.client.post(
                f"/v1/decisions/{decision['decision_id']}/trusted-confirmation",
                json={"confirmed": i == 0, "by": "trusted_contact"},
                headers=app.admin,
            ),
        )
        assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
        assert app.rows("trusted_confirmations") == 1
        answered = [a for a in audit_actions(app) if a in ("trusted.confirmed", "trusted.declined")]
        assert len(answered) == 1
        # The hold ended once, as the answer that won says, and the lender was told once.
        assert app.rows("webhook_deliveries") == 1
        status = next(r for r in results if r.status_code == 200).json()["status"]
        hold = app.client.get("/v1/holds", headers=app.admin).json()["holds"][0]
        assert hold["hold_status"] == {"confirmed": "released", "declined": "cancelled"}[status]


# -- personal information ------------------------------------------------------------------------


class TestPersonalInformation:
    def test_a_phone_or_id_number_in_free_text_never_comes_back_in_clear(
        self, app: Api, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        # Every level, so the capture sees what a verbose server would write (restored below).
        wrapper = structlog.get_config()["wrapper_class"]
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
        try:
            with capture_logs() as logs:
                answers, pages = self._free_text_everywhere(app)
                wait_for(lambda: len(receiver.requests) >= 1)
        finally:
            structlog.configure(wrapper_class=wrapper)
        seen = [
            *answers,
            *pages,
            *(r["body"].decode() for r in receiver.requests),
            json.dumps(logs, default=str),
            caplog.text,
        ]
        for text in seen:
            for secret in (PHONE, ID_NUMBER):
                assert secret not in text, text[max(0, text.find(secret) - 200) :][:400]
        for page in pages[-2:]:
            # Markup typed into a note is text on the printable page, never markup.
            assert "<script>" not in page
            assert "&lt;script&gt;" in page
        # Masked, not dropped: the record still says what was written.
        view = app.client.get("/v1/customers/student-21/lock", headers=app.admin).json()
        unlocked = view["history"][-1]["detail"]
        assert unlocked["reference"] == "call 138****8000"
        assert unlocked["verified_by"] == "agent 110101********4514"

    @staticmethod
    def _free_text_everywhere(app: Api) -> tuple[list[str], list[str]]:
        """Free text holding a phone and an ID number in every field that takes it; the
        answers, then the reads (lock, holds, evidence as JSON and as both printed pages)."""
        answers: list[str] = []
        decision_id = held(app)
        lock = app.client.post(
            "/v1/customers/student-21/lock",
            json={
                "channel": "agent",
                "note": f"<script>alert(1)</script> called from {PHONE}, id {ID_NUMBER}",
            },
            headers=app.admin,
        )
        assert lock.status_code == 200, lock.text
        answers.append(lock.text)
        unlock = app.client.post(
            "/v1/customers/student-21/unlock",
            json={
                "method": "video",
                "reference": f"call {PHONE}",
                "verified_by": f"agent {ID_NUMBER}",
                "revision": lock.json()["revision"],
            },
            headers=app.admin,
        )
        assert unlock.status_code == 200, unlock.text
        answers.append(unlock.text)
        cancel = app.client.post(
            f"/v1/holds/{decision_id}/cancel",
            json={"note": f"customer {PHONE} ({ID_NUMBER}) says it is a scam"},
            headers=app.admin,
        )
        assert cancel.status_code == 200, cancel.text
        answers.append(cancel.text)
        decision = challenged(app, "student-21")
        answered = app.client.post(
            f"/v1/decisions/{decision['decision_id']}/challenge",
            json={
                "answers": fitting_answers(decision),
                "verification": {
                    "liveness_score": 0.99,
                    "face_match_score": 0.99,
                    "vendor_reference": PHONE,
                },
            },
            headers=app.admin,
        )
        assert answered.status_code == 201, answered.text
        answers.append(answered.text)
        # Refused bodies echo nothing of what was sent either.
        for bad in (
            {"channel": "agent", "note": f"{PHONE}\u0000"},
            {"channel": "agent", "note": f"{ID_NUMBER} " * 200},
        ):
            refused = app.client.post("/v1/customers/student-21/lock", json=bad, headers=app.admin)
            assert refused.status_code == 422
            answers.append(refused.text)
        pages = []
        for path in (
            "/v1/customers/student-21/lock",
            "/v1/holds",
            "/v1/customers/student-21/evidence",
            "/v1/customers/student-21/evidence?format=html&locale=zh-CN",
            "/v1/customers/student-21/evidence?format=html&locale=en",
        ):
            response = app.client.get(path, headers=app.admin)
            assert response.status_code == 200, (path, response.text)
            pages.append(response.text)
        return answers, pages
