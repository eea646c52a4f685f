"""A database with known rows for the protection report (issue #21): ``known_report``.

Events go through ``POST /v1/events`` with the clock pinned (the customers' profiles, the
period's edges, a warm-up event); the outcomes the engine would take weeks to reach (cases
resolved, holds released or cancelled, labels, complaints, consents, data-subject requests,
rescue steps, education events) are written into their tables, as the services write them. The
report helper's renderers reuse the fixture: ``known_report.report()`` is the built document.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
import time_machine
from sqlalchemy import Engine, insert

from fixtures import Api, make_event
from lendguard.models import Case, CaseDecision, LabelRecord
from lendguard.models.decision import DecisionRecord, EventRecord
from lendguard.models.education import EducationEvent
from lendguard.models.lending import HardshipPlan, RescueStep
from lendguard.models.privacy import ConsentRecord, DataSubjectRequest
from lendguard.models.support import Complaint
from lendguard.reporting.schemas import ProtectionReport
from lendguard.reporting.service import build_report

SHANGHAI = timezone(timedelta(hours=8))
ZONE = "Asia/Shanghai"
FROM = date(2026, 2, 1)
TO = date(2026, 2, 28)
START = datetime(2026, 2, 1, tzinfo=SHANGHAI).astimezone(UTC)
END = datetime(2026, 3, 1, tzinfo=SHANGHAI).astimezone(UTC)
# When the report is generated: the suite's pinned "now" (a Monday after the period).
GENERATED = datetime(2026, 3, 2, 2, 30, tzinfo=UTC)
MID = datetime(2026, 2, 15, 12, 0, tzinfo=SHANGHAI)

FRAUD = {"code": "NEW_PAYEE", "action": "intercept", "weight": 60, "category": "fraud"}
WELLBEING = {
    "code": "FINANCIAL_DIFFICULTY",
    "action": "remind",
    "weight": 50,
    "category": "wellbeing",
}

# The profiles posted with each customer's first event, and the groups they put the customer
# in at the period's end (what the test expects, worked out by hand).
PROFILES: dict[str, dict[str, Any]] = {
    "rp-elder": {"birth_date": "1950-06-01", "created_at": "2019-01-01T00:00:00+08:00"},
    "rp-student": {
        "birth_date": "2006-05-01",
        "is_student": True,
        "created_at": "2026-01-20T00:00:00+08:00",
    },
    "rp-vulnerable": {
        "birth_date": "1990-01-01",
        "vulnerable": True,
        "created_at": "2024-01-01T00:00:00+08:00",
    },
    "rp-victim": {"birth_date": "1980-01-01", "created_at": "2023-01-01T00:00:00+08:00"},
}
GROUPS: dict[str, dict[str, Any]] = {
    "rp-elder": {"age": "60+", "tenure": ">365d", "flags": {"elderly"}},
    "rp-student": {"age": "<22", "tenure": "30-365d", "flags": {"student"}},
    "rp-vulnerable": {"age": "35-59", "tenure": ">365d", "flags": {"vulnerable"}},
    "rp-victim": {"age": "35-59", "tenure": ">365d", "flags": set()},
}


@dataclass
class KnownReport:
    """The known database: the app, its engine, the period and the ids the tests name."""

    api: Api
    engine: Engine
    zone: str = ZONE
    from_date: date = FROM
    to_date: date = TO
    start: datetime = START
    end: datetime = END
    now: datetime = GENERATED
    # the event at 23:30 local on the last day (counted) and at 00:00 the next day (not)
    last_evening_event: str = ""
    next_midnight_event: str = ""
    before_start_event: str = ""
    warmup_event: str = ""
    groups: dict[str, dict[str, Any]] = field(default_factory=lambda: GROUPS)

    def report(self) -> ProtectionReport:
        settings = self.api.services.settings
        return build_report(
            self.engine, settings, self.from_date, self.to_date, self.zone, "Test Bank", self.now
        )


def _event_row(
    event_id: str, customer: str, at: datetime, amount: str | None, **body: Any
) -> dict[str, Any]:
    content: dict[str, Any] = {"event_id": event_id, "customer_id": customer, "type": "transfer"}
    if amount is not None:
        content["amount"] = amount
    content.update(body)
    return {
        "event_id": event_id,
        "customer_id": customer,
        "type": "transfer",
        "occurred_at": at,
        "body_hash": hashlib.sha256(event_id.encode()).hexdigest(),
        "body": content,
        "received_at": at,
    }


def _decision_row(
    decision_id: str, event_id: str, customer: str, at: datetime, action: str, reasons: list[Any]
) -> dict[str, Any]:
    return {
        "decision_id": decision_id,
        "event_id": event_id,
        "customer_id": customer,
        "event_type": "transfer",
        "occurred_at": at,
        "action": action,
        "score": 80,
        "model_score": None,
        "reasons": reasons,
        "measures": [],
        "messages": [],
        "guardrails": [],
        "ruleset_version": 1,
        "model_version": None,
        "model_reasons": None,
        "latency_us": 100,
        "decided_at": at,
    }


def _case(case_id: str, customer: str, state: str, scam_type: str | None) -> dict[str, Any]:
    return {
        "id": case_id,
        "customer_id": customer,
        "case_type": "fraud",
        "state": state,
        "risk": 80,
        "scam_type": scam_type,
        "is_elderly": False,
        "held_amount": 0.0,
        "assignee": None,
        "outcome": None,
        "opened_at": MID,
        "updated_at": MID,
        "sla_due_at": MID + timedelta(days=1),
        "resolved_at": MID + timedelta(hours=5),
        "reopen_count": 0,
        "revision": 1,
    }


def _hold(
    case_id: str,
    decision_id: str,
    event_id: str,
    action: str,
    amount: float,
    status: str,
    ended: datetime | None,
) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "decision_id": decision_id,
        "event_id": event_id,
        "action": action,
        "amount": amount,
        "hold_status": status,
        "label": None,
        "added_at": MID,
        "hold_deadline": None,
        "hold_ended_at": ended,
        "hold_end_reason": "case_resolved" if ended else None,
    }


def _complaint(
    cid: str,
    jurisdiction: str,
    received: datetime,
    due: datetime,
    responded: datetime | None = None,
    escalated: datetime | None = None,
) -> dict[str, Any]:
    return {
        "id": cid,
        "customer_id": "rp-elder",
        "channel": "app",
        "jurisdiction": jurisdiction,
        "policy_version": "1",
        "product": "loan",
        "product_source": "given",
        "product_confidence": 1.0,
        "issue": "fees",
        "issue_confidence": 1.0,
        "classifier": "rules",
        "narrative_masked": "",
        "pii_types": [],
        "staff_involved": [],
        "external_ref": None,
        "state": "responded" if responded else "received",
        "received_at": received,
        "due_at": due,
        "responded_at": responded,
        "escalated_at": escalated,
        "root_cause_tags": [],
        "created_by": "test",
        "updated_at": received,
    }


def _request(
    rid: str, kind: str, status: str, received: datetime, due: datetime, decided: datetime | None
) -> dict[str, Any]:
    return {
        "id": rid,
        "customer_id": "rp-student",
        "kind": kind,
        "status": status,
        "jurisdiction": "CN",
        "received_at": received,
        "due_at": due,
        "details": {},
        "decided_at": decided,
    }


def _consent(purpose: str, channel: str, granted: bool, at: datetime) -> dict[str, Any]:
    return {
        "customer_id": "rp-student",
        "purpose": purpose,
        "scope": "*",
        "granted": granted,
        "method": "toggle",
        "channel": channel,
        "notice_key": "privacy",
        "notice_version": 1,
        "at": at,
        "recorded_by": "test",
    }


def _education(n: int, customer: str, kind: str, at: datetime) -> dict[str, Any]:
    return {
        "event_id": f"rp-edu-{n}",
        "customer_id": customer,
        "content_id": "fake-service-article",
        "topic": "fake_customer_service",
        "kind": kind,
        "channel": "app",
        "occurred_at": at,
        "received_at": at,
        "recorded_by": "test",
    }


def _post(api: Api, event: dict[str, Any]) -> None:
    response = api.post_event(event)
    assert response.status_code == 200, response.text


@pytest.fixture
def known_report(app_client: Api, pinned_clock: time_machine.Coordinates) -> KnownReport:
    """The known database (SQLite and PostgreSQL): see the module's docstring."""
    api = app_client
    engine = api.services.decisions.db
    known = KnownReport(api=api, engine=engine)
    # -- through the API: profiles, the period's edges, a warm-up event
    for i, (customer, profile) in enumerate(PROFILES.items()):
        _post(
            api,
            make_event(
                event_id=f"rp-profile-{i}",
                customer_id=customer,
                occurred_at=datetime(2026, 2, 2, 10, i, tzinfo=SHANGHAI),
                amount="50.00",
                customer=profile,
            ),
        )
    edges = {
        "last_evening_event": datetime(2026, 2, 28, 23, 30, tzinfo=SHANGHAI),
        "next_midnight_event": datetime(2026, 3, 1, 0, 0, tzinfo=SHANGHAI),
        "before_start_event": datetime(2026, 1, 31, 23, 59, tzinfo=SHANGHAI),
    }
    for name, at in edges.items():
        event = make_event(event_id=f"rp-{name}", customer_id="rp-edge", occurred_at=at)
        _post(api, event)
        setattr(known, name, event["event_id"])
    warm = make_event(
        event_id="rp-warmup",
        customer_id="rp-edge",
        occurred_at=datetime(2026, 2, 12, 9, 0, tzinfo=SHANGHAI),
        attributes={"warmup": True},
    )
    _post(api, warm)
    known.warmup_event = warm["event_id"]

    # -- outcomes, as the services write them
    later = MID + timedelta(minutes=10)
    decided = [
        # an honest elderly customer held 5 hours, then released
        ("rp-d1", "rp-elder", MID, "intercept", [FRAUD], "3000.00"),
        # the student reminded, then held 2 hours and released; a dissuasion confirmed legit
        ("rp-d2", "rp-student", MID, "remind", [FRAUD], "200.00"),
        ("rp-d3", "rp-student", later, "intercept", [FRAUD], "900.00"),
        ("rp-d4", "rp-student", later + timedelta(hours=1), "dissuade", [FRAUD], "800.00"),
        # the vulnerable customer dissuaded (an estimated avoided loss)
        ("rp-d5", "rp-vulnerable", MID, "dissuade", [FRAUD], "1000.00"),
        # a scam victim intercepted, the hold cancelled
        ("rp-d6", "rp-victim", MID, "intercept", [FRAUD], "5000.00"),
        # a block confirmed by a fraud label, no case
        ("rp-d7", "rp-labelled", MID, "block", [FRAUD], "2000.00"),
        # a wellbeing reminder: protective, not an inconvenience
        ("rp-d8", "rp-plain", MID, "remind", [WELLBEING], "100.00"),
    ]
    with engine.begin() as conn:
        for decision_id, customer, at, action, reasons, amount in decided:
            event_id = f"{decision_id}-evt"
            conn.execute(insert(EventRecord).values(**_event_row(event_id, customer, at, amount)))
            conn.execute(
                insert(DecisionRecord).values(
                    **_decision_row(decision_id, event_id, customer, at, action, reasons)
                )
            )
        conn.execute(insert(Case).values(**_case("rp-k1", "rp-elder", "resolved_legit", None)))
        conn.execute(insert(Case).values(**_case("rp-k2", "rp-student", "resolved_legit", None)))
        conn.execute(
            insert(Case).values(
                **_case("rp-k3", "rp-victim", "resolved_scam_victim", "fake_customer_service")
            )
        )
        conn.execute(
            insert(CaseDecision).values(
                **_hold(
                    "rp-k1",
                    "rp-d1",
                    "rp-d1-evt",
                    "intercept",
                    3000.0,
                    "released",
                    MID + timedelta(hours=5),
                )
            )
        )
        conn.execute(
            insert(CaseDecision).values(
                **_hold(
                    "rp-k2",
                    "rp-d3",
                    "rp-d3-evt",
                    "intercept",
                    900.0,
                    "released",
                    later + timedelta(hours=2),
                )
            )
        )
        conn.execute(
            insert(CaseDecision).values(
                **_hold(
                    "rp-k3",
                    "rp-d6",
                    "rp-d6-evt",
                    "intercept",
                    5000.0,
                    "cancelled",
                    MID + timedelta(hours=3),
                )
            )
        )
        for event_id, label in (("rp-d7-evt", 1), ("rp-d4-evt", 0)):
            conn.execute(
                insert(LabelRecord).values(
                    event_id=event_id, label=label, known_at=MID + timedelta(days=1), source="test"
                )
            )
        day = timedelta(days=1)
        feb = datetime(2026, 2, 3, 10, 0, tzinfo=SHANGHAI)
        complaints = [
            _complaint("rp-c1", "CN", feb, feb + 15 * day, responded=feb + 2 * day),
            _complaint("rp-c2", "CN", feb + 7 * day, feb + 20 * day),  # overdue at the end
            _complaint(
                "rp-c3", "CN", feb + 9 * day, feb + 35 * day, escalated=feb + 11 * day
            ),  # open, not yet due
            _complaint("rp-c4", "US", feb + day, feb + 5 * day, responded=feb + 6 * day),  # late
            _complaint("rp-c5", "US", feb - 10 * day, feb, responded=feb - day),  # before
        ]
        conn.execute(insert(Complaint), complaints)
        conn.execute(
            insert(DataSubjectRequest),
            [
                _request("rp-r1", "access", "complete", feb, feb + 15 * day, feb + 3 * day),
                _request("rp-r2", "delete", "pending", feb, feb + 10 * day, None),  # overdue
                _request("rp-r3", "correct", "refused", feb, feb + 2 * day, feb + 4 * day),  # late
                _request("rp-r4", "access", "complete", feb - 9 * day, feb, feb - day),  # before
            ],
        )
        conn.execute(
            insert(ConsentRecord),
            [
                _consent("marketing", "app", True, feb),
                _consent("marketing", "app", False, feb + 3 * day),
                _consent("anti_fraud", "web", True, feb + 4 * day),
                _consent("marketing", "web", False, feb + 40 * day),  # after
            ],
        )
        conn.execute(
            insert(RescueStep),
            [
                {"customer_id": "rp-vulnerable", "step": s, "at": at, "source": "t", "detail": {}}
                for s, at in (
                    ("CREDIT_FREEZE", feb),
                    ("COLLECTION_PAUSED", feb + day),
                    ("CREDIT_FREEZE", feb - 5 * day),  # before
                )
            ],
        )
        conn.execute(
            insert(HardshipPlan).values(
                id="rp-plan-1",
                customer_id="rp-vulnerable",
                status="agreed",
                product="loan",
                jurisdiction="CN",
                balance=10000.0,
                term_months=12,
                instalment=900.0,
                plan_rate_percent=3.0,
                quote={},
                created_at=feb + day,
                created_by="test",
            )
        )
        conn.execute(
            insert(EducationEvent),
            [
                _education(1, "rp-elder", "delivered", feb),
                _education(2, "rp-elder", "opened", feb + timedelta(hours=1)),
                _education(3, "rp-elder", "completed", feb + timedelta(hours=2)),
                _education(4, "rp-student", "delivered", feb + day),
                _education(5, "rp-victim", "delivered", feb - 3 * day),  # before
            ],
        )
    return known
