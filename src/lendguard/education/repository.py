"""All SQL of consumer education: the reported events and quiz answers (append-only, one row per
``event_id``), and the decisions' and cases' reasons the content is attached by."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, insert, select

from lendguard.models.cases import Case, CaseDecision
from lendguard.models.decision import DecisionRecord
from lendguard.models.education import EducationEvent, EducationQuizAnswer

_EVENT_COLUMNS = list(EducationEvent.__table__.columns)
_ANSWER_COLUMNS = list(EducationQuizAnswer.__table__.columns)
# The database is asked for this many event ids at once.
_CHUNK = 500


class EducationRepository:
    def events_by_id(self, conn: Connection, event_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        wanted = sorted(set(event_ids))
        found: dict[str, dict[str, Any]] = {}
        for i in range(0, len(wanted), _CHUNK):
            rows = conn.execute(
                select(*_EVENT_COLUMNS).where(EducationEvent.event_id.in_(wanted[i : i + _CHUNK]))
            )
            for row in rows:
                found[row.event_id] = dict(row._mapping)
        return found

    def insert_events(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        if rows:
            conn.execute(insert(EducationEvent), rows)

    def answer_by_id(self, conn: Connection, event_id: str) -> dict[str, Any] | None:
        row = conn.execute(
            select(*_ANSWER_COLUMNS).where(EducationQuizAnswer.event_id == event_id)
        ).first()
        return None if row is None else dict(row._mapping)

    def insert_answer(self, conn: Connection, row: dict[str, Any]) -> None:
        conn.execute(insert(EducationQuizAnswer).values(**row))

    def decision(self, conn: Connection, decision_id: str) -> dict[str, Any] | None:
        row = conn.execute(
            select(DecisionRecord.decision_id, DecisionRecord.reasons).where(
                DecisionRecord.decision_id == decision_id
            )
        ).first()
        return None if row is None else dict(row._mapping)

    def case(self, conn: Connection, case_id: str) -> dict[str, Any] | None:
        row = conn.execute(
            select(Case.id, Case.scam_type, Case.case_type).where(Case.id == case_id)
        ).first()
        return None if row is None else dict(row._mapping)

    def case_reasons(self, conn: Connection, case_id: str) -> list[list[dict[str, Any]]]:
        """The reasons of each decision filed under the case, in the order they were filed."""
        rows = conn.execute(
            select(DecisionRecord.reasons)
            .join(CaseDecision, CaseDecision.decision_id == DecisionRecord.decision_id)
            .where(CaseDecision.case_id == case_id)
            .order_by(CaseDecision.added_at, CaseDecision.id)
        ).scalars()
        return [list(r or []) for r in rows]


education_repository = EducationRepository()
