"""Data-subject requests (PIPL Arts. 44–47, 50): access and copy, correct, delete, withdraw,
explain. Each request starts unverified; identity verification makes it pending; it ends
complete or refused, and a refusal must give its reason (Art. 50). Due dates count working days
after the day of receipt (day 0) on the jurisdiction's working-day calendar
(:mod:`lendguard.kit.calendars`: the official holidays and make-up working days kept as policy
data per year; a year not yet entered counts with a stricter fallback that is never later).

The access export walks every table of the schema: rows about the customer are exported, and
each table without rows about customers says why (global configuration, derived state, other
people's data), so an auditor can see nothing was skipped silently.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any, get_args
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, Engine, Table, delete, insert, select, update

from lendguard.auth import audit
from lendguard.errors import Conflict, FieldError, NotFound, ValidationFailed
from lendguard.kit.calendars import working_days_after as working_days_after  # re-exported
from lendguard.kit.ids import new_id
from lendguard.models import Base
from lendguard.models.conduct import MarketingPreference
from lendguard.models.privacy import DataSubjectRequest
from lendguard.policies import NoPolicyInForce, PolicyError, load_policy
from lendguard.privacy import intake
from lendguard.privacy.schemas import VERIFICATION_METHODS as VERIFICATION_METHODS  # re-exported
from lendguard.privacy.schemas import NewRequest, RequestKind

KINDS: tuple[str, ...] = get_args(RequestKind)
OPEN = ("identity_unverified", "pending")
CN_TZ = ZoneInfo("Asia/Shanghai")
DEFAULT_WORKING_DAYS = 15

# Tables with no rows about one customer, and why (the export lists them).
NOT_ABOUT_CUSTOMERS = {
    "alembic_version": "schema version",
    "api_keys": "integration credentials",
    "users": "staff accounts",
    "console_sessions": "staff sessions",
    "rulesets": "rule configuration",
    "ruleset_activations": "rule configuration",
    "model_versions": "model configuration",
    "model_activations": "model configuration",
    "shadow_runs": "rule configuration",
    "challenger_runs": "model configuration",
    "privacy_notices": "notice texts shown to everyone",
    "state_snapshots": "derived window state (recomputed from the events exported here); "
    "device, IP and payee states mix several customers",
    "state_checkpoint": "bookkeeping",
    "third_party_opt_outs": "preferences of third parties (other people)",
    "webhook_attempts": "delivery bookkeeping (the deliveries themselves are exported)",
    "encryption_keys": "key material (wrapped data keys)",
}
# Tables holding what was collected or derived for anti-fraud about the customer: the events
# (device, IP, session signals, payees: ``purpose_key: anti_fraud`` in the data map), the
# decisions and their reasons, labels, shadow and challenger scores, cases and what was done on
# them, and list entries and snoozes. Anti-Telecom and Online Fraud Law Art. 18 / R34: they may
# not be read for marketing or credit, so the access export leaves them out for such a caller.
ANTI_FRAUD_TABLES = frozenset(
    {
        "events",
        "decisions",
        "labels",
        "shadow_decisions",
        "challenger_scores",
        "cases",
        "case_decisions",
        "case_activities",
        "outreach_tasks",
        "webhook_deliveries",
        "list_entries",
        "suppressions",
    }
)
# How a table relates to a customer: (kind, column). kind: "customer" (the column holds the
# customer id), "event" (an event id of theirs), "case" (a case id of theirs), "audit",
# "list" (list entries naming the customer).
RELATIONS: dict[str, tuple[str, str]] = {
    "events": ("customer", "customer_id"),
    "decisions": ("customer", "customer_id"),
    "labels": ("event", "event_id"),
    "shadow_decisions": ("event", "event_id"),
    "challenger_scores": ("event", "event_id"),
    "cases": ("customer", "customer_id"),
    "case_decisions": ("case", "case_id"),
    "case_activities": ("case", "case_id"),
    "outreach_tasks": ("case", "case_id"),
    "webhook_deliveries": ("case", "case_id"),
    "list_entries": ("list", "value"),
    "suppressions": ("customer", "customer_id"),
    "consent_records": ("customer", "customer_id"),
    "data_subject_requests": ("customer", "customer_id"),
    "rescue_steps": ("customer", "customer_id"),
    "hardship_plans": ("customer", "customer_id"),
    "contact_debtors": ("customer", "debtor_id"),
    "contact_attempts": ("customer", "debtor_id"),
    "marketing_preferences": ("customer", "customer_id"),
    "conduct_flags": ("customer", "customer_id"),
    "audit_log": ("audit", "target"),
    "pii_vault": ("customer", "customer_id"),
    "complaints": ("customer", "customer_id"),
    "complaint_events": ("complaint", "complaint_id"),
    "complaint_extensions": ("complaint", "complaint_id"),
    "service_contacts": ("customer", "customer_id"),
    "service_surveys": ("customer", "customer_id"),
}


def _working_days(jurisdiction: str, on: date) -> int:
    try:
        found = load_policy("privacy", jurisdiction, on).get("dsr_working_days")
    except (NoPolicyInForce, PolicyError):
        return DEFAULT_WORKING_DAYS
    return DEFAULT_WORKING_DAYS if found is None else int(found.value)


class RequestService:
    def __init__(self, engine: Engine) -> None:
        self.db = engine

    def create(self, body: NewRequest, actor: str, ip: str | None = None) -> dict[str, Any]:
        """Receive a request: unverified, due on the jurisdiction's working-day calendar."""
        received = body.received_at or datetime.now(UTC)
        local_day = received.astimezone(CN_TZ).date()
        days = _working_days(body.jurisdiction, local_day)
        due_day = working_days_after(local_day, days, body.jurisdiction)
        due = datetime.combine(due_day, time(23, 59, 59), CN_TZ).astimezone(UTC)
        request_id = new_id("dsr")
        with self.db.begin() as conn:
            conn.execute(
                insert(DataSubjectRequest),
                {
                    "id": request_id,
                    "customer_id": body.customer_id,
                    "kind": body.kind,
                    "status": "identity_unverified",
                    "jurisdiction": body.jurisdiction,
                    "received_at": received,
                    "due_at": due,
                    "details": body.details.model_dump(exclude_unset=True),
                },
            )
            audit.record(
                conn,
                actor,
                "privacy.request_received",
                f"customer:{body.customer_id}",
                ip,
                {"request_id": request_id, "kind": body.kind},
            )
        return self.get(request_id)

    def get(self, request_id: str) -> dict[str, Any]:
        with self.db.connect() as conn:
            row = conn.execute(
                select(DataSubjectRequest).where(DataSubjectRequest.id == request_id)
            ).first()
        if row is None:
            raise NotFound(f"request '{request_id}' does not exist")
        out = dict(row._mapping)
        out["overdue"] = row.status in OPEN and row.due_at < datetime.now(UTC)
        return out

    def queue(self, include_closed: bool = False) -> list[dict[str, Any]]:
        query = select(DataSubjectRequest).order_by(DataSubjectRequest.due_at)
        if not include_closed:
            query = query.where(DataSubjectRequest.status.in_(OPEN))
        now = datetime.now(UTC)
        with self.db.connect() as conn:
            rows = conn.execute(query.limit(500)).all()
        return [{**dict(r._mapping), "overdue": r.status in OPEN and r.due_at < now} for r in rows]

    def verify(
        self,
        request_id: str,
        method: str,
        actor: str,
        ip: str | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Mark the requester's identity verified by ``method``: one of
        :data:`VERIFICATION_METHODS`, or several joined with '+'. Anything else is a 422
        naming ``method`` and the request stays unverified. ``at``: when (default now; a
        back-office import or the demo's month gives its own)."""
        method = _verification_method(method)
        self._move(
            request_id,
            "identity_unverified",
            "pending",
            actor,
            ip,
            verified_at=at or datetime.now(UTC),
            verification_method=method,
        )
        return self.get(request_id)

    def refuse(
        self,
        request_id: str,
        reason: str,
        actor: str,
        ip: str | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """PIPL Art. 50: a refusal states its reason."""
        if not reason.strip():
            raise ValidationFailed(
                "a refusal needs its reason (PIPL Art. 50)",
                errors=[FieldError("reason", "required")],
            )
        current = self.get(request_id)
        self._move(
            request_id,
            current["status"],
            "refused",
            actor,
            ip,
            refusal_reason=reason,
            decided_at=at or datetime.now(UTC),
            decided_by=actor,
        )
        return self.get(request_id)

    def complete(
        self,
        request_id: str,
        result: dict[str, Any],
        actor: str,
        ip: str | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        self._move(
            request_id,
            "pending",
            "complete",
            actor,
            ip,
            result=result,
            decided_at=at or datetime.now(UTC),
            decided_by=actor,
        )
        return self.get(request_id)

    def complete_deletion(
        self,
        request_id: str,
        result: dict[str, Any],
        actor: str,
        ip: str | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Complete a deletion request: the requester's marketing preferences are deleted in
        the transaction that completes the request and writes its audit entry, so the erasure,
        the request's state and the entry commit (or roll back) together."""
        self._move(
            request_id,
            "pending",
            "complete",
            actor,
            ip,
            erase=_erase_marketing,
            result=result,
            decided_at=at or datetime.now(UTC),
            decided_by=actor,
        )
        return self.get(request_id)

    def _move(
        self,
        request_id: str,
        from_status: str,
        to: str,
        actor: str,
        ip: str | None,
        erase: Callable[[Connection, str], None] | None = None,
        **values: Any,
    ) -> None:
        """Move the request from ``from_status`` to ``to`` with its audit entry; ``erase``
        (given the customer id) deletes what the request asked for, in the same transaction."""
        with self.db.begin() as conn:
            row = conn.execute(
                select(DataSubjectRequest.status, DataSubjectRequest.customer_id).where(
                    DataSubjectRequest.id == request_id
                )
            ).first()
            if row is None:
                raise NotFound(f"request '{request_id}' does not exist")
            if row.status != from_status or row.status not in OPEN:
                raise Conflict(
                    f"request '{request_id}' is {row.status}; it cannot become {to}",
                    errors=[FieldError("status", row.status)],
                )
            conn.execute(
                update(DataSubjectRequest)
                .where(DataSubjectRequest.id == request_id)
                .values(status=to, **values)
            )
            if erase is not None:
                erase(conn, row.customer_id)
            audit.record(
                conn,
                actor,
                f"privacy.request_{to}",
                f"customer:{row.customer_id}",
                ip,
                {"request_id": request_id},
            )


def _erase_marketing(conn: Connection, customer_id: str) -> None:
    """What a deletion request erases: the customer's marketing preferences (the anti-fraud
    and loan records are kept under their retention duties; the endpoint says which)."""
    conn.execute(delete(MarketingPreference).where(MarketingPreference.customer_id == customer_id))


def _verification_method(method: str) -> str:
    method = method.strip()
    if not method:
        raise ValidationFailed("method required", errors=[FieldError("method", "empty")])
    parts = method.split("+")
    allowed = "one of " + ", ".join(VERIFICATION_METHODS) + " (or several joined with '+')"
    if any(p not in VERIFICATION_METHODS for p in parts) or len(set(parts)) != len(parts):
        raise ValidationFailed(
            f"unknown identity verification method '{method[:64]}'",
            errors=[FieldError("method", allowed)],
        )
    return method


# -- the access export -----------------------------------------------------------------------------


def export_customer(
    engine: Engine,
    customer_id: str,
    vault: Any = None,
    withhold_for: str | None = None,
    pii_key: bytes | None = None,
) -> dict[str, Any]:
    """Everything held about one customer, table by table, machine-readable (JSON-ready).
    With the vault, its rows are given decrypted (they are the customer's own data).

    ``withhold_for``: the non-anti-fraud purpose (``marketing``, ``credit``) the caller is bound
    to or declares. The export is then given without the anti-fraud tables
    (:data:`ANTI_FRAUD_TABLES`): they are not read at all, each is listed as withheld with the
    reason, and the export names the purpose at the top (``withheld_for_purpose``).

    Why strip instead of refusing (as ``GET /v1/cases/{id}`` and the decision endpoints do):
    answering an access request is a legal duty to the data subject (PIPL Art. 45), and a
    refusal would leave the whole copy undelivered because of who asked, while reading
    decisions and reasons for marketing or credit is what Art. 18 of the Anti-Telecom and
    Online Fraud Law forbids. So such a caller gets everything else and an export that says
    what is missing and why; the privacy officer's path (a ``privacy:requests`` principal with
    no such purpose) still gets the full copy, anti-fraud data included, to hand to the
    customer."""
    # A customer id holding personal information is stored as its pseudonym on the decision
    # path (privacy.intake) and in clear elsewhere (consents, complaints): both are theirs.
    ids = [customer_id]
    if pii_key is not None:
        stored = intake.stored_identifier(customer_id, pii_key)
        if stored != customer_id:
            ids.append(stored)
    tables: dict[str, Any] = {}
    with engine.connect() as conn:
        event_ids = [
            r[0]
            for r in conn.execute(
                select(Base.metadata.tables["events"].c.event_id).where(
                    Base.metadata.tables["events"].c.customer_id.in_(ids)
                )
            )
        ]
        cases = Base.metadata.tables.get("cases")
        case_ids = (
            [r[0] for r in conn.execute(select(cases.c.id).where(cases.c.customer_id.in_(ids)))]
            if cases is not None
            else []
        )
        complaints = Base.metadata.tables.get("complaints")
        complaint_ids = (
            [
                r[0]
                for r in conn.execute(
                    select(complaints.c.id).where(complaints.c.customer_id == customer_id)
                )
            ]
            if complaints is not None
            else []
        )
        for name, table in sorted(Base.metadata.tables.items()):
            relation = RELATIONS.get(name)
            if withhold_for is not None and name in ANTI_FRAUD_TABLES:
                tables[name] = {
                    "about_customers": True,
                    "withheld": True,
                    "reason": f"anti-fraud data, withheld from a {withhold_for} purpose "
                    "(R34; Anti-Telecom and Online Fraud Law Art. 18); the privacy officer's "
                    "export includes it",
                }
                continue
            if relation is None:
                tables[name] = {
                    "about_customers": False,
                    "reason": NOT_ABOUT_CUSTOMERS.get(name, "not about customers"),
                }
                continue
            tables[name] = {
                "rows": _rows(conn, table, relation, ids, event_ids, case_ids, complaint_ids)
            }
    if vault is not None and "pii_vault" in tables:
        tables["pii_vault"] = {"rows": [row for i in ids for row in vault.for_customer(i)]}
    out: dict[str, Any] = {
        "customer_id": customer_id,
        "generated_at": datetime.now(UTC).isoformat(),
        "tables": tables,
    }
    if withhold_for is not None:
        out["withheld_for_purpose"] = withhold_for
        out["withheld_tables"] = sorted(ANTI_FRAUD_TABLES & tables.keys())
    return out


def _rows(
    conn: Connection,
    table: Table,
    relation: tuple[str, str],
    customer_ids: list[str],
    event_ids: list[str],
    case_ids: list[str],
    complaint_ids: list[str],
) -> list[dict[str, Any]]:
    kind, column = relation
    col = table.c[column]
    condition: ColumnElement[bool]
    if kind == "customer":
        condition = col.in_(customer_ids)
    elif kind == "event":
        condition = col.in_(event_ids)
    elif kind == "case":
        condition = col.in_(case_ids)
    elif kind == "complaint":
        condition = col.in_(complaint_ids)
    elif kind == "audit":
        condition = col.in_([f"customer:{i}" for i in customer_ids])
    else:  # list entries that name the customer
        condition = col.in_(customer_ids) & (table.c["field"] == "customer")
    rows = conn.execute(select(table).where(condition)).all()
    return [
        {
            k: (
                v.isoformat() if isinstance(v, datetime) else v.hex() if isinstance(v, bytes) else v
            )
            for k, v in r._mapping.items()
        }
        for r in rows
    ]
