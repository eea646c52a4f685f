"""One change to a worked record: the row, its timeline and the audit trail in one transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select

from lendguard.auth import audit
from lendguard.changes import ChangeTrail
from lendguard.db import make_engine
from lendguard.errors import Conflict
from lendguard.models.access import AuditEntry
from lendguard.models.cases import Case, CaseActivity
from lendguard.models.support import ServiceContact

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

CASES = ChangeTrail(
    key=Case.id,
    action="case",
    conflict=lambda case_id: Conflict(f"case '{case_id}' was changed by someone else"),
    timeline=CaseActivity,
    timeline_key="case_id",
)
CONTACTS = ChangeTrail(
    key=ServiceContact.conversation_id,
    action="service_contact",
    conflict=lambda conversation_id: Conflict(f"contact '{conversation_id}' changed"),
    target_prefix="service_contact:",
)


@pytest.fixture
def engine(database_url: str) -> Any:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _case(engine: Engine, case_id: str = "case_1") -> SimpleNamespace:
    row = {
        "id": case_id,
        "customer_id": "cust-1",
        "case_type": "scam",
        "state": "new",
        "risk": 40,
        "scam_type": None,
        "is_elderly": False,
        "held_amount": 0.0,
        "opened_at": AT,
        "updated_at": AT,
        "sla_due_at": AT + timedelta(hours=4),
        "reopen_count": 0,
        "revision": 1,
    }
    with engine.begin() as conn:
        conn.execute(insert(Case), row)
        return SimpleNamespace(
            **conn.execute(select(Case).where(Case.id == case_id)).one()._mapping
        )


def _counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        timeline = conn.execute(select(func.count()).select_from(CaseActivity)).scalar_one()
        trail = conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    return int(timeline), int(trail)


def test_a_change_writes_the_row_its_timeline_and_the_audit_trail(engine: Engine) -> None:
    case = _case(engine)
    later = AT + timedelta(minutes=5)
    with engine.begin() as conn:
        CASES.change(
            conn,
            case,
            "user:ana",
            "10.0.0.7",
            "assigned",
            {"assignee": "user:ana"},
            later,
            assignee="user:ana",
        )
    assert (case.revision, case.assignee, case.updated_at) == (2, "user:ana", later)
    with engine.connect() as conn:
        stored = conn.execute(select(Case).where(Case.id == "case_1")).one()
        (entry,) = conn.execute(select(CaseActivity)).all()
        (row,) = conn.execute(select(AuditEntry)).all()
    assert (stored.revision, stored.assignee, stored.updated_at) == (2, "user:ana", later)
    assert (entry.case_id, entry.actor, entry.kind, entry.at) == (
        "case_1",
        "user:ana",
        "assigned",
        later,
    )
    assert entry.detail == {"assignee": "user:ana"}
    assert (row.action, row.target, row.actor, row.ip) == (
        "case.assigned",
        "case_1",
        "user:ana",
        "10.0.0.7",
    )
    assert row.detail == {"assignee": "user:ana"}
    assert audit.verify(engine).ok is True


def test_a_stale_row_is_refused_and_leaves_no_timeline_entry_or_audit_row(engine: Engine) -> None:
    case = _case(engine)
    stale = SimpleNamespace(**vars(case))
    with engine.begin() as conn:
        CASES.change(conn, case, "user:ana", None, "note", {"text": "first"})
    before = _counts(engine)
    with (
        pytest.raises(Conflict, match="case 'case_1' was changed by someone else"),
        engine.begin() as conn,
    ):
        CASES.change(conn, stale, "user:bo", None, "note", {"text": "second"})
    assert _counts(engine) == before
    assert stale.revision == 1


def test_the_audit_row_goes_with_the_transaction_of_its_change(engine: Engine) -> None:
    case = _case(engine)

    def change_then_fail() -> None:
        with engine.begin() as conn:
            CASES.change(
                conn, case, "user:ana", None, "transition", {"to": "triage"}, state="triage"
            )
            raise RuntimeError("the rest of the change failed")

    with pytest.raises(RuntimeError, match="the rest of the change failed"):
        change_then_fail()
    assert _counts(engine) == (0, 0)
    with engine.connect() as conn:
        assert conn.execute(select(Case.state, Case.revision)).one() == ("new", 1)


def test_a_record_without_a_timeline_gets_the_row_and_the_audit_row(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(ServiceContact),
            {
                "conversation_id": "conv-9",
                "customer_id": "cust-1",
                "channel": "phone",
                "jurisdiction": "CN",
                "topic": None,
                "opened_at": AT,
                "created_by": "key:desk",
                "updated_at": AT,
                "revision": 1,
            },
        )
        CONTACTS.record(conn, "conv-9", "key:desk", None, "opened", {"channel": "phone"}, AT)
        row = SimpleNamespace(
            **conn.execute(select(ServiceContact)).one()._mapping,
        )
        CONTACTS.change(
            conn, row, "key:desk", None, "closed", {"outcome": "resolved"}, AT, outcome="resolved"
        )
    with engine.connect() as conn:
        actions = conn.execute(select(AuditEntry.action, AuditEntry.target)).all()
        assert conn.execute(select(ServiceContact.outcome, ServiceContact.revision)).one() == (
            "resolved",
            2,
        )
    assert [tuple(a) for a in actions] == [
        ("service_contact.opened", "service_contact:conv-9"),
        ("service_contact.closed", "service_contact:conv-9"),
    ]
    assert _counts(engine)[0] == 0
