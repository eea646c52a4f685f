"""Nothing but the per-event path works on the event loop: every ``async`` endpoint (API and
console) reads its body on the loop and does its database work, and every password hash, on
another thread. Watched directly: each SQL statement and each argon2 call made while an event
loop runs on the calling thread is recorded with the request that made it.

(``POST /v1/events`` decides on the loop on purpose, with group commit on the decision
service's own reader and writer connections: those two are not watched. The timing side of
the same defect, against a real server, is ``test_nothing_stalls.py``.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import event

from fixtures import USER_PASSWORD, Api, make_event, sign_in
from lendguard.auth import passwords
from lendguard.decisions.service import default_ruleset_text

FAR_FUTURE = "2999-01-01T00:00:00+00:00"


def _on_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@dataclass
class Watch:
    request: str = ""
    on_loop: list[tuple[str, str]] = field(default_factory=list)

    def record(self, what: str) -> None:
        if _on_loop():
            self.on_loop.append((self.request, what))


class _WatchedHasher:
    def __init__(self, real: Any, watch: Watch) -> None:
        self._real, self._watch = real, watch

    def hash(self, password: str) -> str:
        self._watch.record("argon2 hash")
        result: str = self._real.hash(password)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@pytest.fixture
def watch(case_app: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[Watch]:
    found = Watch()
    service = case_app.services.decisions
    engine = service.db

    def before_cursor_execute(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if conn is service._reader or conn is service._writer:
            return  # the per-event path, on the loop by design
        found.record(" ".join(statement.split())[:90])

    verify = passwords._verify

    def watched_verify(password_hash: str, password: str) -> bool:
        found.record("argon2 verify")
        return verify(password_hash, password)

    monkeypatch.setattr(passwords, "_verify", watched_verify)
    monkeypatch.setattr(passwords, "_hasher", _WatchedHasher(passwords._hasher, found))
    event.listen(engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", before_cursor_execute)


def _contact(**extra: Any) -> dict[str, Any]:
    return {
        "purpose": "collection",
        "channel": "call",
        "debtor_id": "debtor-1",
        "contact": "+86 138 0013 8000",
        "debt": {"id": "loan-1", "amount": 3200},
        "timezone": "Asia/Shanghai",
        "at": "2026-03-02T10:00:00+08:00",
        **extra,
    }


API_POSTS: list[tuple[str, dict[str, Any]]] = [
    ("/v1/events/batch", {"events": [make_event(event_id="loop-batch-1")]}),
    ("/v1/cases/case-nope/transition", {"to": "triage"}),
    ("/v1/cases/case-nope/assign", {"assignee": None}),
    ("/v1/cases/case-nope/notes", {"text": "called"}),
    ("/v1/cases/case-nope/outreach/1", {"outcome": "unreachable"}),
    (
        "/v1/lists",
        {"list_type": "deny", "field": "device", "value": "dev-x", "reason": "test"},
    ),
    (
        "/v1/suppressions",
        {"customer_id": "c-1", "rule_id": "r-1", "until": FAR_FUTURE, "reason": "test"},
    ),
    ("/v1/users", {"username": "newbie", "password": USER_PASSWORD, "role": "analyst"}),
    ("/v1/conduct/contacts/check", _contact()),
    ("/v1/conduct/contacts", _contact(result="unanswered")),
    ("/v1/conduct/preferences", {"kind": "marketing", "customer_id": "c-1", "opted_out": True}),
    (
        "/v1/conduct/flags",
        {"customer_id": "c-1", "flag": "marketing_suppressed", "reason": "test"},
    ),
    ("/v1/rulesets", {"source": default_ruleset_text()}),
    ("/v1/labels", {"labels": [{"event_id": "evt-nope", "label": "fraud"}]}),
    (
        "/v1/lending/hardship-plans",
        {
            "customer_id": "heavy-1",
            "product": "loan",
            "balance": "12000",
            "penalties": "300",
            "contract_rate_percent": "18",
            "waive_interest": True,
            "waive_penalties": True,
            "term_months": 24,
            "start_date": "2026-12-01",
        },
    ),
    (
        "/v1/assistant/analyze",
        {"customer_id": "hardship-1", "text": "我上个月失业了，这个月的贷款实在还不上"},
    ),
    ("/v1/complaints", {"customer_id": "c-1", "channel": "app", "narrative": "催收电话太多"}),
    ("/v1/complaints/cmp-nope/transition", {"to": "investigating"}),
    ("/v1/complaints/cmp-nope/assign", {"assignee": "user:someone"}),
    ("/v1/complaints/cmp-nope/extend", {"reason": "records"}),
    ("/v1/support/contacts", {"conversation_id": "S1", "customer_id": "c-1", "channel": "chat"}),
    ("/v1/support/contacts/S1/first-response", {}),
    ("/v1/support/contacts/S1/close", {"outcome": "resolved", "topic": "repayment_methods"}),
    ("/v1/support/surveys", {"conversation_id": "S1", "score": 5}),
    (
        "/v1/privacy/notices",
        {"notice_key": "n", "purposes": ["marketing"], "texts": {"en": "How we use it"}},
    ),
    (
        "/v1/privacy/consents",
        {
            "customer_id": "c-1",
            "purpose": "marketing",
            "granted": True,
            "notice_key": "n",
            "notice_version": 1,
        },
    ),
    ("/v1/privacy/requests", {"customer_id": "c-1", "kind": "access", "details": {}}),
    ("/v1/privacy/requests/dsr-nope/verify", {"method": "sms_code"}),
    ("/v1/privacy/requests/dsr-nope/refuse", {"reason": "duplicate"}),
    ("/v1/privacy/pii/mask", {"texts": ["call 13987654321"]}),
]


def test_the_api_endpoints_do_their_database_work_off_the_loop(case_app: Api, watch: Watch) -> None:
    for path, body in API_POSTS:
        watch.request = f"POST {path}"
        response = case_app.client.post(path, json=body, headers=case_app.admin)
        assert response.status_code < 500, (path, response.text)
    assert watch.on_loop == []


def test_console_sign_in_and_forms_work_off_the_loop(case_app: Api, watch: Watch) -> None:
    watch.request = "POST /console/login (right password)"
    admin = sign_in(case_app.app, case_app.services, "admin", "boss")
    watch.request = "POST /console/login (wrong password)"
    wrong = case_app.client.post(
        "/console/login",
        data={"username": "boss", "password": "not-the-password"},
        follow_redirects=False,
    )
    assert wrong.status_code == 401
    watch.request = "GET /v1/cases (session cookie)"
    assert admin.get("/v1/cases").status_code == 200
    forms: list[tuple[str, dict[str, str]]] = [
        ("/console/cases/next", {}),
        ("/console/cases/case-nope/transition", {"to": "triage"}),
        ("/console/cases/case-nope/notes", {"text": "called"}),
        ("/console/cases/case-nope/outreach/1", {"outcome": "unreachable"}),
        ("/console/rules/1/approve", {}),
        ("/console/models/1/approve", {}),
        (
            "/console/lists",
            {
                "kind": "entry",
                "list_type": "deny",
                "field": "device",
                "value": "dev-y",
                "reason": "test",
            },
        ),
        (
            "/console/complaints",
            {"customer_id": "c-2", "channel": "app", "narrative": "催收电话太多"},
        ),
        ("/console/logout", {}),
    ]
    for path, data in forms:
        watch.request = f"POST {path}"
        response = admin.client.post(
            path, data={"csrf": admin.csrf, **data}, follow_redirects=False
        )
        assert response.status_code < 500, (path, response.text)
    assert watch.on_loop == []


def test_the_watch_sees_work_on_the_loop(case_app: Api, watch: Watch) -> None:
    """The watch itself: a statement or a hash made on the loop is recorded."""

    async def on_the_loop() -> None:
        with case_app.services.decisions.db.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        passwords._verify(passwords.dummy_hash(), "x")

    watch.request = "direct"
    asyncio.run(on_the_loop())
    assert [what for _, what in watch.on_loop] == ["SELECT 1", "argon2 verify"]
