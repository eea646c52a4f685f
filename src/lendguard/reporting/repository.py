"""The rows the protection report counts, read for one period ``[start, end)``.

Plain reads, no figures: :mod:`lendguard.reporting.service` counts them by the definitions in
:mod:`lendguard.reporting.definitions`. Joins and ranges, never lists of ids (a year of
decisions is more ids than one statement carries).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, or_, select

from lendguard.models import Case, CaseDecision, LabelRecord
from lendguard.models.decision import DecisionRecord, EventRecord
from lendguard.models.lending import HardshipPlan, RescueStep
from lendguard.models.privacy import ConsentRecord, DataSubjectRequest
from lendguard.models.support import Complaint


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """A counted decision: its event occurred in the period and is no warm-up history."""

    decision_id: str
    event_id: str
    customer_id: str
    occurred_at: datetime
    decided_at: datetime
    action: str
    reasons: tuple[dict[str, Any], ...]
    amount: float | None
    label: int | None = None
    case_state: str | None = None
    scam_type: str | None = None
    hold_status: str | None = None
    hold_ended_at: datetime | None = None
    held_amount: float | None = None


def _amount(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def decision_rows(conn: Connection, start: datetime, end: datetime) -> list[DecisionRow]:
    """Decisions on events that occurred in ``[start, end)`` (warm-up history left out), each
    with its event's amount, latest label and the case and hold it was filed under."""
    warmup = EventRecord.body["attributes"]["warmup"].as_boolean()
    counted = (
        DecisionRecord.occurred_at >= start,
        DecisionRecord.occurred_at < end,
        or_(warmup.is_(None), warmup.is_(False)),
    )
    found = conn.execute(
        select(
            DecisionRecord.decision_id,
            DecisionRecord.event_id,
            DecisionRecord.customer_id,
            DecisionRecord.occurred_at,
            DecisionRecord.decided_at,
            DecisionRecord.action,
            DecisionRecord.reasons,
            EventRecord.body["amount"].as_string().label("amount"),
            Case.state,
            Case.scam_type,
            CaseDecision.hold_status,
            CaseDecision.hold_ended_at,
            CaseDecision.amount.label("held_amount"),
        )
        .select_from(DecisionRecord)
        .outerjoin(EventRecord, EventRecord.event_id == DecisionRecord.event_id)
        .outerjoin(CaseDecision, CaseDecision.decision_id == DecisionRecord.decision_id)
        .outerjoin(Case, Case.id == CaseDecision.case_id)
        .where(*counted)
        .order_by(DecisionRecord.occurred_at, DecisionRecord.decision_id)
    ).all()
    labels: dict[str, int] = {}
    for event_id, label in conn.execute(
        select(LabelRecord.event_id, LabelRecord.label)
        .join(DecisionRecord, DecisionRecord.event_id == LabelRecord.event_id)
        .where(DecisionRecord.occurred_at >= start, DecisionRecord.occurred_at < end)
        .order_by(LabelRecord.known_at, LabelRecord.id)
    ).all():
        labels[event_id] = int(label)  # the latest wins
    return [
        DecisionRow(
            decision_id=r.decision_id,
            event_id=r.event_id,
            customer_id=r.customer_id,
            occurred_at=r.occurred_at,
            decided_at=r.decided_at,
            action=r.action,
            reasons=tuple(x for x in (r.reasons or []) if isinstance(x, dict)),
            amount=_amount(r.amount),
            label=labels.get(r.event_id),
            case_state=r.state,
            scam_type=r.scam_type,
            hold_status=r.hold_status,
            hold_ended_at=r.hold_ended_at,
            held_amount=r.held_amount,
        )
        for r in found
    ]


def complaints(conn: Connection, start: datetime, end: datetime) -> list[Any]:
    """Complaints received in the period with their clock's instants."""
    return list(
        conn.execute(
            select(
                Complaint.jurisdiction,
                Complaint.received_at,
                Complaint.due_at,
                Complaint.responded_at,
                Complaint.escalated_at,
            ).where(Complaint.received_at >= start, Complaint.received_at < end)
        ).all()
    )


def rescue_steps(conn: Connection, start: datetime, end: datetime) -> list[Any]:
    return list(
        conn.execute(
            select(RescueStep.customer_id, RescueStep.step).where(
                RescueStep.at >= start, RescueStep.at < end
            )
        ).all()
    )


def hardship_plans(conn: Connection, start: datetime, end: datetime) -> list[Any]:
    return list(
        conn.execute(
            select(HardshipPlan.customer_id, HardshipPlan.status).where(
                HardshipPlan.created_at >= start, HardshipPlan.created_at < end
            )
        ).all()
    )


def consents(conn: Connection, start: datetime, end: datetime) -> list[Any]:
    return list(
        conn.execute(
            select(ConsentRecord.purpose, ConsentRecord.channel, ConsentRecord.granted).where(
                ConsentRecord.at >= start, ConsentRecord.at < end
            )
        ).all()
    )


def requests(conn: Connection, start: datetime, end: datetime) -> list[Any]:
    return list(
        conn.execute(
            select(
                DataSubjectRequest.kind,
                DataSubjectRequest.status,
                DataSubjectRequest.due_at,
                DataSubjectRequest.decided_at,
            ).where(DataSubjectRequest.received_at >= start, DataSubjectRequest.received_at < end)
        ).all()
    )
