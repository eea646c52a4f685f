"""Cases: every intercept or block opens one (or joins the customer's open one); analysts work
the queue, call the customer, and the outcome releases or cancels the held transactions and
labels the decisions for the next model.

Releasing held money as legit is the one outcome that lets money a rule stopped go on to a
possible fraudster, so it carries two controls (:meth:`CaseService.transition`): a reason (the
note) every time, and above the release policy's amount a second person (maker–checker: one
principal proposes, a different one approves). Free text on a case (notes, outreach notes,
transition notes) is stored with personal information masked (``privacy.pii.mask_text``), like
complaint narratives.

Every held payment also has a deadline (the hold policy's business days, set when it is
filed) and may be released or cancelled on its own or released at the deadline:
:mod:`lendguard.cases.holds`, reached through :attr:`CaseService.holds`.

Intake reads the decision log itself (the log is the outbox): after each group commit the
decision service hands over the new interventions, and :meth:`CaseService.sweep` files any
intervention that has no case yet, so a crash between the two writes loses nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from types import SimpleNamespace
from typing import Any

import structlog
import yaml
from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy import case as sql_case

from lendguard.auth import audit
from lendguard.auth.service import ROLE_SCOPES, Role, Scope
from lendguard.cases.flow import (
    CLOSED,
    CRISIS_ONLY,
    HOLD_INSTRUCTION,
    LABEL_OF,
    OPEN,
    CaseState,
    InvalidTransition,
    allowed_from,
    dispatch,
)
from lendguard.cases.holds import (
    CASE_RESOLVED,
    HoldDesk,
    agent_released,
    instructions_for,
    second_person,
)
from lendguard.cases.trail import SYSTEM, TRAIL
from lendguard.cases.trail import blank as _blank
from lendguard.cases.trail import masked as _masked
from lendguard.cases.webhooks import WebhookSender
from lendguard.errors import Conflict, FieldError, NotFound, ValidationFailed
from lendguard.kit.ids import new_id
from lendguard.models.access import User
from lendguard.models.cases import (
    Case,
    CaseActivity,
    CaseDecision,
    OutreachTask,
    WebhookAttempt,
    WebhookDelivery,
)
from lendguard.models.decision import DecisionRecord, EventRecord, LabelRecord
from lendguard.models.interventions import ChallengeResponse

log = structlog.get_logger(__name__)

INTERVENTIONS = frozenset({"intercept", "block"})
# A customer who spoke of ending their life: a case type of its own, worked before any other
# open case whatever the risk scores (the queue and next_case sort on it first).
CRISIS_CASE_TYPE = "crisis"

# (jurisdictions the case was opened for, or None for all; the day) -> hotlines in both languages
CrisisHotlines = Callable[[list[str] | None, date], list[dict[str, Any]]]
CRISIS_RISK = 100
OUTREACH_OUTCOMES = ("confirmed_scam", "insisted", "unreachable")


@dataclass(frozen=True)
class Script:
    scam_type: str
    case_type: str
    reasons: tuple[str, ...]
    title: dict[str, str]
    steps: dict[str, list[str]]
    trusted_contact: bool


@dataclass(frozen=True)
class ReleasePolicy:
    """When releasing held money as legit needs a second person: above ``second_person_above``
    (money still held on the case, in ``currency``); at or below it one person with a reason
    may release. From ``release_policy`` in ``scripts/call_scripts.yaml``, the cases area's
    policy file (it also holds the SLAs)."""

    second_person_above: float
    currency: str


def _cases_yaml() -> dict[str, Any]:
    text = (
        resources.files("lendguard.cases")
        .joinpath("scripts/call_scripts.yaml")
        .read_text(encoding="utf-8")
    )
    raw: dict[str, Any] = yaml.safe_load(text)
    return raw


def load_release_policy() -> ReleasePolicy:
    """The release policy (shipped YAML; 50,000 CNY by default)."""
    found = _cases_yaml().get("release_policy") or {}
    return ReleasePolicy(
        float(found.get("second_person_above", 50_000)), str(found.get("currency", "CNY"))
    )


def load_scripts() -> tuple[dict[str, Script], dict[str, int]]:
    """Call scripts per scam type, and SLA minutes per case type (shipped YAML)."""
    raw = _cases_yaml()
    scripts = {
        name: Script(
            name,
            body["case_type"],
            tuple(body.get("reasons", [])),
            body["title"],
            body["steps"],
            bool(body.get("trusted_contact", False)),
        )
        for name, body in raw["scripts"].items()
    }
    return scripts, {k: int(v) for k, v in raw["sla_minutes"].items()}


def classify(reason_codes: list[str], scripts: dict[str, Script]) -> Script:
    """The scam type whose reasons match first (script order), else ``general``."""
    for script in scripts.values():
        if any(code in script.reasons for code in reason_codes):
            return script
    return scripts["general"]


class CaseService:
    # How often a server releases the holds whose deadline passed (seconds).
    hold_sweep_every_s = 60.0

    def __init__(
        self,
        engine: Engine,
        webhooks: WebhookSender | None = None,
        elderly_age: int = 60,
        crisis_hotlines: CrisisHotlines | None = None,
    ) -> None:
        self.db = engine
        # The hotlines a crisis case's script points to (the support area's policy data),
        # handed in by the app so the cases area does not import support.
        self.crisis_hotlines = crisis_hotlines
        self.scripts, self.sla_minutes = load_scripts()
        self.release_policy = load_release_policy()
        self.webhooks = webhooks
        # Held payments: deadlines, ends outside a resolution, the release at the deadline.
        self.holds = HoldDesk(engine, webhooks, self.release_policy)
        if webhooks is not None:
            # Every server process releases the holds whose deadline passed, on the cases
            # area's background loop (the compare-and-set in HoldDesk.release_due keeps two
            # processes from releasing one hold twice).
            webhooks.every(
                "hold_deadlines", lambda: self.hold_sweep_every_s, self.release_due_holds
            )
        self.elderly_age = elderly_age
        self._intake_lock = threading.Lock()
        # Called after a resolution commits with the labels it wrote ({id, label, known_at,
        # event_id}); the app wires it to the decision service's live label features.
        self.on_labels: Callable[[list[dict[str, Any]]], None] | None = None
        # The consumer-education content for the case's outreach (issue #21), chosen by its
        # decisions' reasons and its scam type; wired in by the app (education sits above).
        self.education_for: (
            Callable[[list[dict[str, Any]], str | None], list[dict[str, Any]]] | None
        ) = None
        self._new_labels: list[dict[str, Any]] = []

    def _crisis_hotlines(
        self, timeline: list[dict[str, Any]], now: datetime
    ) -> list[dict[str, Any]]:
        """The hotlines a crisis case's script points to: those of the jurisdictions it was
        opened for (the assistant records them; all known ones otherwise), in both languages."""
        if self.crisis_hotlines is None:
            return []
        opened: dict[str, Any] = next((a["detail"] for a in timeline if a["kind"] == "opened"), {})
        return self.crisis_hotlines(opened.get("jurisdictions") or None, now.date())

    # -- intake ----------------------------------------------------------------------------------

    def take_in(self, decisions: list[dict[str, Any]]) -> list[str]:
        """File intercept and block decisions under cases; returns the case ids touched.

        Idempotent: a decision already filed is skipped (``case_decisions.decision_id`` is
        unique), so intake after a commit and the sweep may both see the same decision.
        """
        wanted = [d for d in decisions if d.get("action") in INTERVENTIONS]
        if not wanted:
            return []
        with self._intake_lock, self.db.begin() as conn:
            return self._take_in(conn, wanted)

    def _take_in(self, conn: Connection, wanted: list[dict[str, Any]]) -> list[str]:
        """:meth:`take_in` inside the caller's transaction (which holds the intake lock)."""
        if not wanted:
            return []
        touched: list[str] = []
        filed = set(
            conn.execute(
                select(CaseDecision.decision_id).where(
                    CaseDecision.decision_id.in_([d["decision_id"] for d in wanted])
                )
            ).scalars()
        )
        bodies: dict[str, dict[str, Any]] = dict(
            conn.execute(
                select(EventRecord.event_id, EventRecord.body).where(
                    EventRecord.event_id.in_([d["event_id"] for d in wanted])
                )
            ).all()
        )
        for decision in wanted:
            if decision["decision_id"] in filed:
                continue
            case_id = self._file(conn, decision, bodies.get(decision["event_id"], {}))
            touched.append(case_id)
        return touched

    def sweep(self, limit: int = 10_000, actor: str | None = None, ip: str | None = None) -> int:
        """File every intervention in the decision log that has no case (start-up, schedule).

        Given an ``actor`` (an administrator's sweep, from the API or the CLI), the audit entry
        ``cases.sweep`` commits with the cases it filed: a sweep is never left unaudited."""
        with self._intake_lock, self.db.begin() as conn:
            rows = conn.execute(
                select(DecisionRecord)
                .outerjoin(CaseDecision, CaseDecision.decision_id == DecisionRecord.decision_id)
                .where(DecisionRecord.action.in_(INTERVENTIONS), CaseDecision.id.is_(None))
                .order_by(DecisionRecord.decided_at)
                .limit(limit)
            ).all()
            filed = len(self._take_in(conn, [_decision_dict(r) for r in rows]))
            if actor is not None:
                audit.record(conn, actor, "cases.sweep", "cases", ip, {"filed": filed})
        return filed

    def release_due_holds(self, actor: str | None = None, ip: str | None = None) -> list[str]:
        """Release every held payment whose deadline has passed (the background loop, the
        sweep endpoint and ``lendguard cases sweep``); returns the decision ids released.
        Each release is audited on its case, by ``system``; given an ``actor`` (an
        administrator's sweep) who released any, ``cases.hold_sweep`` also records that they
        ran it."""
        released = self.holds.release_due()
        if actor is not None and released:
            with self.db.begin() as conn:
                audit.record(
                    conn, actor, "cases.hold_sweep", "holds", ip, {"released": len(released)}
                )
        return released

    def _file(self, conn: Connection, decision: dict[str, Any], body: dict[str, Any]) -> str:
        now = datetime.now(UTC)
        codes = [r["code"] for r in decision.get("reasons", [])]
        script = classify(codes, self.scripts)
        customer_id = decision["customer_id"]
        amount = _number(body.get("amount"))
        # The age signal: the engine's elderly reason, or a birth date on the event (the age at
        # the event, not today). It may come with any decision of the case, not only the first.
        elderly = "ELDERLY_CUSTOMER" in codes or _age(body, _occurred(body) or now) >= (
            self.elderly_age
        )
        case = conn.execute(
            select(Case)
            .where(Case.customer_id == customer_id, Case.state.in_([s.value for s in OPEN]))
            .order_by(Case.opened_at)
            .limit(1)
        ).one_or_none()
        held = amount or 0.0
        if case is None:
            case_id = new_id("case")
            sla = timedelta(minutes=self.sla_minutes.get(script.case_type, 240))
            conn.execute(
                insert(Case),
                {
                    "id": case_id,
                    "customer_id": customer_id,
                    "case_type": script.case_type,
                    "state": CaseState.new.value,
                    "risk": int(decision.get("score", 0)),
                    "scam_type": script.scam_type,
                    "is_elderly": elderly,
                    "held_amount": held,
                    "opened_at": now,
                    "updated_at": now,
                    "sla_due_at": now + sla,
                    "reopen_count": 0,
                    "revision": 1,
                },
            )
            TRAIL.note(
                conn,
                case_id,
                SYSTEM,
                "opened",
                {
                    "decision_id": decision["decision_id"],
                    "reasons": codes,
                    "scam_type": script.scam_type,
                },
            )
            self._add_outreach(conn, case_id, script, elderly, now)
        else:
            case_id = case.id
            conn.execute(
                update(Case)
                .where(Case.id == case_id)
                .values(
                    risk=func.max(Case.risk, int(decision.get("score", 0)))
                    if conn.dialect.name == "sqlite"
                    else func.greatest(Case.risk, int(decision.get("score", 0))),
                    held_amount=Case.held_amount + held,
                    is_elderly=True if elderly else Case.is_elderly,
                    updated_at=now,
                    revision=Case.revision + 1,
                )
            )
            joined: dict[str, Any] = {"decision_id": decision["decision_id"]}
            if elderly and self._add_trusted_contact(
                conn, case_id, case.scam_type or script.scam_type, now
            ):
                joined["outreach_added"] = ["trusted_contact_call"]
            TRAIL.note(conn, case_id, SYSTEM, "joined", joined)
        terms = self.holds.terms(decision)
        conn.execute(
            insert(CaseDecision),
            {
                "case_id": case_id,
                "decision_id": decision["decision_id"],
                "event_id": decision["event_id"],
                "action": decision["action"],
                "amount": amount,
                "hold_status": "held",
                "added_at": now,
                "hold_deadline": terms.deadline if terms is not None else None,
            },
        )
        return case_id

    def _add_outreach(
        self, conn: Connection, case_id: str, script: Script, elderly: bool, now: datetime
    ) -> None:
        kinds = ["dissuasion_callback"]
        if elderly or script.trusted_contact:
            kinds.append("trusted_contact_call")
        for kind in kinds:
            conn.execute(
                insert(OutreachTask),
                {
                    "case_id": case_id,
                    "kind": kind,
                    "script_id": script.scam_type,
                    "status": "open",
                    "notes": "",
                    "created_at": now,
                },
            )

    @staticmethod
    def _add_trusted_contact(conn: Connection, case_id: str, script_id: str, now: datetime) -> bool:
        """The trusted-contact call of an elderly customer, on a case opened before the age
        was known (the first decision said nothing of it, a later one does): added once,
        whatever joins afterwards. Returns whether it was added now."""
        have = conn.execute(
            select(OutreachTask.id).where(
                OutreachTask.case_id == case_id, OutreachTask.kind == "trusted_contact_call"
            )
        ).first()
        if have is not None:
            return False
        conn.execute(
            insert(OutreachTask),
            {
                "case_id": case_id,
                "kind": "trusted_contact_call",
                "script_id": script_id,
                "status": "open",
                "notes": "",
                "created_at": now,
            },
        )
        return True

    def open_crisis(
        self, customer_id: str, detail: dict[str, Any], actor: str = SYSTEM
    ) -> tuple[str, bool]:
        """The crisis case of a customer (the assistant heard them speak of ending their life):
        opened with the highest priority, or, when one is open already, the new cue is added
        to its timeline. ``detail`` names the cues and where they came from, never the words
        (no personal information on a case). Returns (case id, whether it was opened now)."""
        return self._open_or_add(
            customer_id, CRISIS_CASE_TYPE, detail, actor, risk=CRISIS_RISK, sla_minutes=5
        )

    def raise_alert(self, subject: str, case_type: str, detail: dict[str, Any]) -> str:
        """An alert that is not about one customer (a model's score drifting): opens a case for
        ``subject``, or adds the alert to the timeline of its open case of that type."""
        case_id, _ = self._open_or_add(subject, case_type, detail, SYSTEM, risk=50)
        return case_id

    def raise_checked_alerts(
        self,
        subject: str,
        case_type: str,
        alerts: list[dict[str, Any]],
        check: str,
        actor: str,
        ip: str | None = None,
    ) -> list[str]:
        """The alerts of a check a person ran (a model's stability check), each as
        :meth:`raise_alert`, and the check's audit entry (``check`` on ``subject``, with the
        number of alerts) in one transaction: the cases and the entry commit or fail together.
        Returns the case ids touched, sorted."""
        touched: set[str] = set()
        with self._intake_lock, self.db.begin() as conn:
            for detail in alerts:
                case_id, _ = self._open_or_add_in(conn, subject, case_type, detail, SYSTEM, 50)
                touched.add(case_id)
            audit.record(conn, actor, check, subject, ip, {"alerts": len(alerts)})
        return sorted(touched)

    def _open_or_add(
        self,
        subject: str,
        case_type: str,
        detail: dict[str, Any],
        actor: str,
        risk: int,
        sla_minutes: int = 1440,
    ) -> tuple[str, bool]:
        """The open case of ``subject`` and ``case_type`` gets ``detail`` on its timeline, or a
        case is opened with it (under the intake lock: two alerts never open two cases).
        ``sla_minutes`` is the default when the call scripts set none for the case type."""
        with self._intake_lock, self.db.begin() as conn:
            return self._open_or_add_in(conn, subject, case_type, detail, actor, risk, sla_minutes)

    def _open_or_add_in(
        self,
        conn: Connection,
        subject: str,
        case_type: str,
        detail: dict[str, Any],
        actor: str,
        risk: int,
        sla_minutes: int = 1440,
    ) -> tuple[str, bool]:
        """:meth:`_open_or_add` inside the caller's transaction (which holds the intake lock)."""
        now = datetime.now(UTC)
        found = conn.execute(
            select(Case.id).where(
                Case.customer_id == subject,
                Case.case_type == case_type,
                Case.state.in_([s.value for s in OPEN]),
            )
        ).first()
        if found is not None:
            TRAIL.note(conn, found.id, actor, "alert", detail)
            return str(found.id), False
        case_id = new_id("case")
        sla = timedelta(minutes=self.sla_minutes.get(case_type, sla_minutes))
        conn.execute(
            insert(Case),
            {
                "id": case_id,
                "customer_id": subject,
                "case_type": case_type,
                "state": CaseState.new.value,
                "risk": risk,
                "scam_type": None,
                "is_elderly": False,
                "held_amount": 0.0,
                "opened_at": now,
                "updated_at": now,
                "sla_due_at": now + sla,
                "reopen_count": 0,
                "revision": 1,
            },
        )
        TRAIL.note(conn, case_id, actor, "opened", detail)
        return case_id, True

    # -- reading ---------------------------------------------------------------------------------

    def queue(
        self,
        limit: int = 50,
        offset: int = 0,
        states: list[str] | None = None,
        assignee: str | None = None,
    ) -> dict[str, Any]:
        """Open cases: crisis cases first, then riskiest first, then longest waiting."""
        wanted = states or [s.value for s in OPEN]
        bad = [s for s in wanted if s not in {c.value for c in CaseState}]
        if bad:
            raise ValidationFailed("unknown state", errors=[FieldError("state", f"unknown {bad}")])
        query = select(Case).where(Case.state.in_(wanted))
        count = select(func.count()).select_from(Case).where(Case.state.in_(wanted))
        if assignee:
            query = query.where(Case.assignee == assignee)
            count = count.where(Case.assignee == assignee)
        query = query.order_by(_crisis_first(), Case.risk.desc(), Case.opened_at)
        query = query.limit(limit).offset(offset)
        now = datetime.now(UTC)
        with self.db.connect() as conn:
            total = int(conn.execute(count).scalar_one())
            cases = [_case_dict(c, now) for c in conn.execute(query).all()]
        return {"total": total, "cases": cases}

    def for_customer(self, customer_id: str, limit: int = 200) -> list[dict[str, Any]]:
        """Every case of one customer, open or closed, newest first."""
        now = datetime.now(UTC)
        with self.db.connect() as conn:
            rows = conn.execute(
                select(Case)
                .where(Case.customer_id == customer_id)
                .order_by(Case.opened_at.desc())
                .limit(limit)
            ).all()
        return [_case_dict(c, now) for c in rows]

    def get(self, case_id: str) -> dict[str, Any]:
        now = datetime.now(UTC)
        with self.db.connect() as conn:
            case = conn.execute(select(Case).where(Case.id == case_id)).one_or_none()
            if case is None:
                raise NotFound(f"case '{case_id}' does not exist")
            out = _case_dict(case, now)
            links = conn.execute(
                select(CaseDecision)
                .where(CaseDecision.case_id == case_id)
                .order_by(CaseDecision.id)
            ).all()
            decisions = {
                r.decision_id: _decision_dict(r)
                for r in conn.execute(
                    select(DecisionRecord).where(
                        DecisionRecord.decision_id.in_([link.decision_id for link in links])
                    )
                ).all()
            }
            missing = [link.decision_id for link in links if link.decision_id not in decisions]
            if missing:
                decisions.update(_follow_ups(conn, missing))
            bodies: dict[str, dict[str, Any]] = dict(
                conn.execute(
                    select(EventRecord.event_id, EventRecord.body).where(
                        EventRecord.event_id.in_([link.event_id for link in links])
                    )
                ).all()
            )
            out["decisions"] = [
                {
                    **decisions.get(link.decision_id, {}),
                    "amount": link.amount,
                    "payee_id": bodies.get(link.event_id, {}).get("payee_id"),
                    "hold_status": link.hold_status,
                    "label": link.label,
                    "hold_deadline": link.hold_deadline,
                    "hold_ended_at": link.hold_ended_at,
                    "hold_end_reason": link.hold_end_reason,
                    "release_instructions": instructions_for(
                        link.hold_deadline,
                        decisions.get(link.decision_id, {}).get("event_type"),
                    ),
                }
                for link in links
            ]
            out["timeline"] = [
                {"at": a.at, "actor": a.actor, "kind": a.kind, "detail": a.detail}
                for a in conn.execute(
                    select(CaseActivity)
                    .where(CaseActivity.case_id == case_id)
                    .order_by(CaseActivity.id)
                ).all()
            ]
            out["outreach"] = [
                {
                    "id": t.id,
                    "kind": t.kind,
                    "script_id": t.script_id,
                    "status": t.status,
                    "outcome": t.outcome,
                    "notes": t.notes,
                    "created_at": t.created_at,
                    "done_at": t.done_at,
                    "done_by": t.done_by,
                }
                for t in conn.execute(
                    select(OutreachTask)
                    .where(OutreachTask.case_id == case_id)
                    .order_by(OutreachTask.id)
                ).all()
            ]
            out["deliveries"] = self._deliveries(conn, case_id)
            out["release_proposal"] = self._pending_release(conn, case_id)
        out["allowed_transitions"] = [
            s.value
            for s in allowed_from(CaseState(case.state))
            if case.case_type == CRISIS_CASE_TYPE or s not in CRISIS_ONLY
        ]
        script = self.scripts.get(_script_key(case), self.scripts["general"])
        out["script"] = {"title": script.title, "steps": script.steps}
        reasons = [r for d in out["decisions"] for r in d.get("reasons") or []]
        out["education"] = (
            self.education_for(reasons, case.scam_type) if self.education_for is not None else []
        )
        if case.case_type == CRISIS_CASE_TYPE:
            out["hotlines"] = self._crisis_hotlines(out["timeline"], now)
        return out

    @staticmethod
    def _deliveries(conn: Connection, case_id: str) -> list[dict[str, Any]]:
        deliveries = conn.execute(
            select(WebhookDelivery)
            .where(WebhookDelivery.case_id == case_id)
            .order_by(WebhookDelivery.created_at)
        ).all()
        attempts: dict[str, list[dict[str, Any]]] = {}
        for a in conn.execute(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_([d.id for d in deliveries]))
            .order_by(WebhookAttempt.id)
        ).all():
            attempts.setdefault(a.delivery_id, []).append(
                {
                    "attempt": a.attempt,
                    "at": a.at,
                    "status_code": a.status_code,
                    "error": a.error,
                    "duration_ms": a.duration_ms,
                }
            )
        return [
            {
                "id": d.id,
                "event_id": d.event_id,
                "instruction": d.instruction,
                "status": d.status,
                "attempts": attempts.get(d.id, []),
                "delivered_at": d.delivered_at,
                "last_error": d.last_error,
            }
            for d in deliveries
        ]

    # -- working a case -------------------------------------------------------------------------

    def next_case(self, actor: str, ip: str | None = None) -> dict[str, Any] | None:
        """Assign the next unassigned new case to ``actor`` (into triage): a crisis case first,
        else the riskiest, longest-waiting one."""
        with self._intake_lock, self.db.begin() as conn:
            found = conn.execute(
                select(Case)
                .where(Case.state == CaseState.new.value, Case.assignee.is_(None))
                .order_by(_crisis_first(), Case.risk.desc(), Case.opened_at)
                .limit(1)
            ).one_or_none()
            if found is None:
                return None
            case = SimpleNamespace(**found._mapping)
            TRAIL.change(conn, case, actor, ip, "assigned", {"assignee": actor}, assignee=actor)
            dispatch(case.state, CaseState.triage.value)
            TRAIL.change(
                conn,
                case,
                actor,
                ip,
                "transition",
                {"from": CaseState.new.value, "to": CaseState.triage.value},
                state=CaseState.triage.value,
            )
            case_id = case.id
        return self.get(case_id)

    def assign(
        self, case_id: str, assignee: str | None, actor: str, ip: str | None = None
    ) -> dict[str, Any]:
        """Assign the case to a console user (``user:NAME`` or ``NAME``; stored as the user's
        actor, ``user:NAME``, as :meth:`next_case` stores it), or unassign it with ``None``.

        The user must exist, not be disabled, and hold a role that can work cases
        (``cases:write``): a case parked with nobody who can act on it is a case nobody works.
        A temporarily locked-out user (wrong passwords) stays assignable. API keys are not
        assignable: they take cases themselves with :meth:`next_case`. Otherwise 422 naming
        ``assignee``; nothing changes."""
        with self.db.begin() as conn:
            case = self._load(conn, case_id)
            if assignee is not None:
                assignee = self._assignable(conn, assignee)
            TRAIL.change(
                conn, case, actor, ip, "assigned", {"assignee": assignee}, assignee=assignee
            )
        return self.get(case_id)

    @staticmethod
    def _assignable(conn: Connection, assignee: str) -> str:
        def refuse(message: str) -> ValidationFailed:
            return ValidationFailed(
                f"cannot assign the case to '{assignee}': {message}",
                errors=[FieldError("assignee", message)],
            )

        name = assignee.strip()
        if name.startswith("user:"):
            name = name[len("user:") :]
        elif name.startswith("key:"):
            raise refuse("cases are assigned to console users, not API keys")
        if not name:
            raise refuse("empty; send null to unassign")
        user = conn.execute(
            select(User.username, User.role, User.disabled).where(User.username == name)
        ).one_or_none()
        if user is None:
            raise refuse(f"no console user '{name}'")
        if user.disabled:
            raise refuse(f"user '{name}' is disabled")
        scopes = {str(s) for s in ROLE_SCOPES.get(Role(user.role), frozenset())}
        if not scopes & {Scope.cases_write.value, Scope.admin.value}:
            raise refuse(f"user '{name}' (role {user.role}) cannot work cases")
        return f"user:{user.username}"

    def add_note(
        self, case_id: str, text: str, actor: str, ip: str | None = None
    ) -> dict[str, Any]:
        """A note on the timeline, stored (and audited) with personal information masked."""
        if _blank(text):
            raise ValidationFailed("empty note", errors=[FieldError("text", "must not be empty")])
        with self.db.begin() as conn:
            case = self._load(conn, case_id)
            TRAIL.change(conn, case, actor, ip, "note", {"text": _masked(text)})
        return self.get(case_id)

    def record_outreach(
        self,
        case_id: str,
        task_id: int,
        outcome: str,
        notes: str,
        actor: str,
        ip: str | None = None,
    ) -> dict[str, Any]:
        """Record a call's outcome. Calling the customer moves a case to contacting_customer.
        The notes are stored (task, timeline, audit) with personal information masked."""
        if outcome not in OUTREACH_OUTCOMES:
            raise ValidationFailed(
                "unknown outcome", errors=[FieldError("outcome", f"one of {OUTREACH_OUTCOMES}")]
            )
        now = datetime.now(UTC)
        notes = _masked(notes)
        with self.db.begin() as conn:
            case = self._load(conn, case_id)
            if CaseState(case.state) in CLOSED:
                raise Conflict(
                    f"case '{case_id}' is {case.state}; reopen it to record a call",
                    errors=[FieldError("state", case.state)],
                )
            task = conn.execute(
                select(OutreachTask).where(
                    OutreachTask.id == task_id, OutreachTask.case_id == case_id
                )
            ).one_or_none()
            if task is None:
                raise NotFound(f"case '{case_id}' has no outreach task {task_id}")
            conn.execute(
                update(OutreachTask)
                .where(OutreachTask.id == task_id)
                .values(status="done", outcome=outcome, notes=notes, done_at=now, done_by=actor)
            )
            extra: dict[str, Any] = {}
            if case.state != CaseState.contacting_customer.value:
                dispatch(case.state, CaseState.contacting_customer.value)
                extra["state"] = CaseState.contacting_customer.value
            TRAIL.change(
                conn,
                case,
                actor,
                ip,
                "outreach",
                {"task_id": task_id, "kind": task.kind, "outcome": outcome, "notes": notes},
                **extra,
            )
        return self.get(case_id)

    def transition(
        self,
        case_id: str,
        target: str,
        actor: str,
        note: str = "",
        revision: int | None = None,
        ip: str | None = None,
    ) -> dict[str, Any]:
        """Move a case. A resolution labels its decisions and tells the lender to release or
        cancel the held transactions (webhook), in the same transaction as the state change.
        The note is stored with personal information masked.

        ``resolved_legit`` releases held money, so:

        * it needs a reason: a non-empty ``note`` (422 naming ``note`` otherwise);
        * when the money still held on the case is above the release policy's amount
          (:class:`ReleasePolicy`, 50,000 CNY by default), it needs a second person. The first
          such request records a proposal (``release_proposed`` on the timeline, the case's
          ``release_proposal``; the state does not change, no webhook, no label) and the case
          comes back as it is; the same request from a *different* principal approves it and
          resolves the case. The proposer asking again is refused (403 naming ``approver``).
          A proposal lapses when the case moves (any transition) or when a decision joins the
          case: the amount at stake changed, so a request then is a new proposal.

        Principals are compared by actor: a person using both a console login and an API key
        counts as two; give release approvers one identity."""
        now = datetime.now(UTC)
        note = _masked(note)
        deliveries: list[str] = []
        self._new_labels = []
        with self.db.begin() as conn:
            case = self._load(conn, case_id)
            if revision is not None and revision != case.revision:
                raise Conflict(
                    f"case '{case_id}' changed since revision {revision} (now {case.revision})",
                    errors=[FieldError("revision", f"current is {case.revision}")],
                )
            verb = dispatch(case.state, target)
            to = CaseState(target)
            if to in CRISIS_ONLY:
                _check_crisis_close(case, note)
            approval: dict[str, Any] | None = {}
            if to == CaseState.resolved_legit:
                approval = self._release_check(conn, case, actor, ip, note)
            if approval is not None:  # (None: a release proposal was recorded, nothing else)
                values: dict[str, Any] = {"state": to.value}
                if to in CLOSED:
                    values.update(outcome=to.value, resolved_at=now)
                if verb == "reopen":
                    values.update(
                        outcome=None, resolved_at=None, reopen_count=case.reopen_count + 1
                    )
                TRAIL.change(
                    conn,
                    case,
                    actor,
                    ip,
                    "transition",
                    {"from": case.state, "to": to.value, "note": note, **approval},
                    **values,
                )
                if to in CLOSED:
                    deliveries = self._settle(conn, case_id, to, actor, now)
        if self._new_labels and self.on_labels is not None:
            # Fraud labels reach the label-derived features of the next events at once.
            self.on_labels(self._new_labels)
        if deliveries and self.webhooks is not None:
            self.webhooks.wake()
        return self.get(case_id)

    def _release_check(
        self, conn: Connection, case: Any, actor: str, ip: str | None, note: str
    ) -> dict[str, Any] | None:
        """The controls on ``resolved_legit`` (see :meth:`transition`). Returns what the
        resolution records about its approval ({} when one person may release), or ``None``
        after recording a proposal; raises when the request is refused."""
        if _blank(note):
            raise ValidationFailed(
                "releasing held money as legit needs a reason",
                errors=[FieldError("note", "required: why the held transactions may go ahead")],
            )
        policy = self.release_policy
        # What the resolution lets go, and what agents already let go hold by hold on this
        # case: releasing in pieces does not get round the second person.
        held = round(self._held_amount(conn, case.id) + agent_released(conn, case.id), 2)
        if held <= policy.second_person_above:
            return {}
        pending = self._pending_release(conn, case.id)
        return second_person(
            conn, case, actor, ip, held, pending, policy, "release_proposed", {"note": note}
        )

    @staticmethod
    def _held_amount(conn: Connection, case_id: str) -> float:
        """Money still held on the case: what a release would let go."""
        total = conn.execute(
            select(func.coalesce(func.sum(CaseDecision.amount), 0.0)).where(
                CaseDecision.case_id == case_id, CaseDecision.hold_status == "held"
            )
        ).scalar_one()
        return round(float(total or 0.0), 2)

    @staticmethod
    def _pending_release(conn: Connection, case_id: str) -> dict[str, Any] | None:
        """The open release proposal of a case: its latest ``release_proposed``, unless the
        case moved or a decision joined since."""
        latest = conn.execute(
            select(CaseActivity)
            .where(
                CaseActivity.case_id == case_id,
                CaseActivity.kind.in_(("release_proposed", "transition", "joined")),
            )
            .order_by(CaseActivity.id.desc())
            .limit(1)
        ).one_or_none()
        if latest is None or latest.kind != "release_proposed":
            return None
        return {
            "proposed_by": latest.actor,
            "proposed_at": latest.at,
            "amount": latest.detail.get("amount"),
            "currency": latest.detail.get("currency"),
            "threshold": latest.detail.get("threshold"),
            "note": latest.detail.get("note", ""),
        }

    def _settle(
        self, conn: Connection, case_id: str, outcome: CaseState, actor: str, now: datetime
    ) -> list[str]:
        """Labels for every decision of the case, and a webhook for every held transaction.
        A close that says nothing about fraud (a crisis case's) settles nothing: held money
        stays held for the fraud team's own case."""
        if outcome not in LABEL_OF:
            return []
        label_name, label = LABEL_OF[outcome]
        instruction = HOLD_INSTRUCTION[outcome]
        links = conn.execute(select(CaseDecision).where(CaseDecision.case_id == case_id)).all()
        created: list[str] = []
        for link in links:
            label_id = conn.execute(
                insert(LabelRecord).returning(LabelRecord.id),
                {
                    "event_id": link.event_id,
                    "label": label,
                    "known_at": now,
                    "source": f"case:{case_id}:{label_name}",
                },
            ).scalar_one()
            self._new_labels.append(
                {"id": label_id, "label": label, "known_at": now, "event_id": link.event_id}
            )
            conn.execute(
                update(CaseDecision).where(CaseDecision.id == link.id).values(label=label_name)
            )
            if link.hold_status != "held":
                continue
            # Compare-and-set: the deadline sweep (another process) may have released it
            # since it was read; then the lender was told already and is not told again.
            ended = conn.execute(
                update(CaseDecision)
                .where(CaseDecision.id == link.id, CaseDecision.hold_status == "held")
                .values(
                    hold_status="released" if instruction == "release" else "cancelled",
                    hold_ended_at=now,
                    hold_end_reason=CASE_RESOLVED,
                )
            )
            if ended.rowcount != 1 or self.webhooks is None:
                continue
            delivery = self.webhooks.enqueue(
                conn,
                case_id=case_id,
                event_id=link.event_id,
                decision_id=link.decision_id,
                instruction=instruction,
                outcome=outcome.value,
                actor=actor,
            )
            if delivery is not None:
                created.append(delivery)
        return created

    def _load(self, conn: Connection, case_id: str) -> Any:
        """The case row as a mutable record (``TRAIL.change`` keeps it in step with the table)."""
        case = conn.execute(select(Case).where(Case.id == case_id)).one_or_none()
        if case is None:
            raise NotFound(f"case '{case_id}' does not exist")
        return SimpleNamespace(**case._mapping)

    # -- figures for the dashboard ---------------------------------------------------------------

    def outcomes(self) -> dict[str, Any]:
        """Prevented losses (cancelled holds of fraud and scam-victim cases) and honest
        customers stopped (cases resolved legit)."""
        with self.db.connect() as conn:
            prevented = conn.execute(
                select(func.count(), func.coalesce(func.sum(CaseDecision.amount), 0.0)).where(
                    CaseDecision.hold_status == "cancelled"
                )
            ).one()
            by_state = dict(
                conn.execute(select(Case.state, func.count()).group_by(Case.state)).all()
            )
            released = conn.execute(
                select(func.count()).where(CaseDecision.hold_status == "released")
            ).scalar_one()
        return {
            "prevented_count": int(prevented[0]),
            "prevented_amount": float(prevented[1] or 0.0),
            "released_count": int(released),
            "cases_by_state": {s.value: int(by_state.get(s.value, 0)) for s in CaseState},
        }


def _check_crisis_close(case: Any, note: str) -> None:
    """``resolved_supported`` closes only a crisis case, and says what support was given."""
    if case.case_type != CRISIS_CASE_TYPE:
        raise InvalidTransition(
            f"only a crisis case can be closed as supported (this is a {case.case_type} case)",
            errors=[FieldError("to", "a fraud or scam outcome for this case type")],
        )
    if _blank(note):
        raise ValidationFailed(
            "closing a crisis case needs a note",
            errors=[FieldError("note", "required: the support given or the referral made")],
        )


def _crisis_first() -> Any:
    """Sort key: 0 for a crisis case, 1 for any other."""
    return sql_case((Case.case_type == CRISIS_CASE_TYPE, 0), else_=1)


def _script_key(case: Any) -> str:
    """The call script of a case: its scam type's, the crisis script for a crisis case, else
    the general one."""
    if case.scam_type:
        return str(case.scam_type)
    return "crisis" if case.case_type == CRISIS_CASE_TYPE else "general"


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _occurred(body: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(body["occurred_at"]))
    except (KeyError, ValueError):
        return None


def _age(body: dict[str, Any], now: datetime) -> int:
    born = (body.get("customer") or {}).get("birth_date")
    if not born:
        return 0
    try:
        year, month, day = (int(p) for p in str(born)[:10].split("-"))
    except ValueError:
        return 0
    return now.year - year - ((now.month, now.day) < (month, day))


def _decision_dict(row: Any) -> dict[str, Any]:
    return {c.name: getattr(row, c.name) for c in DecisionRecord.__table__.columns}


def _follow_ups(conn: Connection, decision_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Decisions filed under a case that are a challenge's follow-up (issue #19: the customer's
    answers told of a scam). They live on the challenge's row, not in the decision log: shown as
    the first decision (event, time, versions) with the follow-up's id, action, reasons,
    measures and messages, decided when the answers came."""
    answered = conn.execute(
        select(*ChallengeResponse.__table__.columns).where(
            ChallengeResponse.follow_up_decision_id.in_(decision_ids)
        )
    ).all()
    firsts = {
        r.decision_id: _decision_dict(r)
        for r in conn.execute(
            select(DecisionRecord).where(
                DecisionRecord.decision_id.in_([a.decision_id for a in answered])
            )
        ).all()
    }
    found: dict[str, dict[str, Any]] = {}
    for row in answered:
        first = firsts.get(row.decision_id)
        if first is None:
            continue
        found[row.follow_up_decision_id] = {
            **first,
            "decision_id": row.follow_up_decision_id,
            "action": row.follow_up_action,
            "score": row.follow_up_score,
            "reasons": row.follow_up_reasons,
            "measures": row.follow_up_measures,
            "messages": row.follow_up_messages,
            "model_reasons": None,
            "decided_at": row.answered_at,
        }
    return found


def _case_dict(case: Any, now: datetime) -> dict[str, Any]:
    return {
        "id": case.id,
        "customer_id": case.customer_id,
        "case_type": case.case_type,
        "state": case.state,
        "risk": case.risk,
        "scam_type": case.scam_type,
        "is_elderly": case.is_elderly,
        "held_amount": case.held_amount,
        "assignee": case.assignee,
        "outcome": case.outcome,
        "opened_at": case.opened_at,
        "updated_at": case.updated_at,
        "sla_due_at": case.sla_due_at,
        "overdue": case.state not in {s.value for s in CLOSED} and case.sla_due_at < now,
        "waiting_minutes": round((now - case.opened_at).total_seconds() / 60.0, 1),
        "resolved_at": case.resolved_at,
        "reopen_count": case.reopen_count,
        "revision": case.revision,
    }
