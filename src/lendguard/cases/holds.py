"""Holds: a held payment's deadline, its release or cancellation outside a full case
resolution, and its automatic release at the deadline.

Every decision the cases area files is held (``case_decisions.hold_status = held``) until
someone or something ends the hold; each end is written once, by compare-and-set on
``hold_status`` (``UPDATE ... WHERE hold_status = 'held'``), so two writers (two agents, an
agent and the deadline sweep, two server processes sweeping) never end one hold twice and never
tell the lender twice. Each end records when and why (``hold_ended_at``, ``hold_end_reason``:
``case_resolved``, ``released_by_agent``, ``cancelled_by_agent``, ``deadline``), goes on the
case's timeline and the audit trail, and is told to the lender through the same outbox as a
case resolution (:class:`~lendguard.cases.webhooks.WebhookSender`), in the same transaction.

- The deadline comes from the hold policy (:func:`lendguard.decisions.holds.hold_terms`: N
  business days of the jurisdiction's calendar after the decision) when the decision is filed.
- An agent may release or cancel one hold (:meth:`HoldDesk.end`). Releasing lets money a rule
  stopped go on, so it carries the case resolution's controls: a reason every time, and a
  second person when the money at stake is above the release policy's amount. The money at
  stake is this hold's amount plus what agents already released hold by hold on the same case:
  releasing a large case in small pieces does not get round the second person.
- At the deadline the hold is released by ``system`` (:meth:`HoldDesk.release_due`), run by
  the cases area's background loop in every server process and by ``lendguard cases sweep``.
  The deadline is the regulatory ceiling of the delay: the sweep does not wait for a second
  person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import Connection, Engine, func, select, update

from lendguard.cases.trail import SYSTEM, TRAIL, blank, masked
from lendguard.cases.webhooks import WebhookSender
from lendguard.decisions.holds import (
    HoldTerms,
    hold_terms,
    load_hold_policy,
    release_instructions,
)
from lendguard.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from lendguard.models.cases import Case, CaseActivity, CaseDecision
from lendguard.models.decision import DecisionRecord

if TYPE_CHECKING:
    from lendguard.cases.service import ReleasePolicy

log = structlog.get_logger(__name__)

HOLD_STATUSES = ("held", "released", "cancelled")
# Why a hold ended (``case_decisions.hold_end_reason``).
CASE_RESOLVED = "case_resolved"
RELEASED_BY_AGENT = "released_by_agent"
CANCELLED_BY_AGENT = "cancelled_by_agent"
DEADLINE = "deadline"
# instruction -> (hold status, end reason, timeline kind) of an agent's end of a hold
_AGENT_END = {
    "release": ("released", RELEASED_BY_AGENT, "hold_released"),
    "cancel": ("cancelled", CANCELLED_BY_AGENT, "hold_cancelled"),
}
# What makes an open proposal to release one hold lapse: the case moved, a decision joined it,
# or another hold on it ended (the money at stake changed).
_LAPSING = ("hold_release_proposed", "transition", "joined", "hold_released", "hold_cancelled")


@dataclass(frozen=True)
class HoldEnd:
    """What :meth:`HoldDesk.end` did: the hold as it is now, and the proposal it recorded
    instead of releasing (a release above the policy amount waiting for a second person)."""

    hold: dict[str, Any]
    proposal: dict[str, Any] | None = None


class HoldDesk:
    """Deadlines, ends and the listing of held payments; the case service holds one."""

    def __init__(
        self, engine: Engine, webhooks: WebhookSender | None, release_policy: ReleasePolicy
    ) -> None:
        self.db = engine
        self.webhooks = webhooks
        self.release_policy = release_policy

    # -- filing ----------------------------------------------------------------------------------

    @staticmethod
    def terms(decision: dict[str, Any]) -> HoldTerms | None:
        """The hold terms of a decision being filed: the deployment's jurisdiction (the hold
        policy's default), the event type as the product, counted from the decision's time.
        None for an action the policy does not hold with a deadline (the hold then waits for
        the case flow, as every hold did before deadlines existed)."""
        policy = load_hold_policy()
        if decision.get("action") not in policy.actions:
            return None
        decided_at = decision.get("decided_at")
        if not isinstance(decided_at, datetime):
            decided_at = datetime.now(UTC)
        return hold_terms(decided_at, None, decision.get("event_type"), policy)

    # -- a customer's answers (issue #19) ---------------------------------------------------------

    def hold_until(self, decision_id: str, until: datetime, why: str) -> bool:
        """Bring a held payment's deadline forward to ``until`` (never later than it was): a
        face check passed after a takeover-like change, so the money waits out the cooling-off
        and is then released by the deadline sweep. False when it is not held (or already due
        sooner); compare-and-set on the hold status, recorded on the case timeline."""
        with self.db.begin() as conn:
            case_id = conn.execute(
                select(CaseDecision.case_id).where(CaseDecision.decision_id == decision_id)
            ).scalar_one_or_none()
            if case_id is None:
                return False
            moved = conn.execute(
                update(CaseDecision)
                .where(
                    CaseDecision.decision_id == decision_id,
                    CaseDecision.hold_status == "held",
                    (CaseDecision.hold_deadline.is_(None)) | (CaseDecision.hold_deadline > until),
                )
                .values(hold_deadline=until)
            )
            if moved.rowcount != 1:
                return False
            TRAIL.record(
                conn,
                case_id,
                SYSTEM,
                None,
                "hold_deadline_moved",
                {"decision_id": decision_id, "deadline": _iso(until), "why": why},
                datetime.now(UTC),
            )
        return True

    # -- ending one hold -------------------------------------------------------------------------

    def end(
        self,
        decision_id: str,
        instruction: str,
        actor: str,
        note: str = "",
        ip: str | None = None,
    ) -> HoldEnd:
        """Release or cancel one held payment (``instruction``: release | cancel).

        404 for a decision with no hold, 409 when it is no longer held (or ends under the
        request). Release: 422 naming ``note`` without a reason; above the release policy's
        amount (this hold plus what agents already released hold by hold on its case) the
        first request records a proposal (``hold_release_proposed`` on the timeline, nothing
        else changes) and a different principal's same request releases it; the proposer
        again gets 403 naming ``approver``."""
        if instruction not in _AGENT_END:
            raise ValidationFailed(
                "unknown instruction", errors=[FieldError("instruction", "release or cancel")]
            )
        status, reason, kind = _AGENT_END[instruction]
        if instruction == "release" and blank(note):
            raise ValidationFailed(
                "releasing a held payment needs a reason",
                errors=[FieldError("note", "required: why the held payment may go ahead")],
            )
        note = masked(note)
        now = datetime.now(UTC)
        proposal: dict[str, Any] | None = None
        delivery: str | None = None
        with self.db.begin() as conn:
            link = self._link(conn, decision_id)
            if link.hold_status != "held":
                raise _not_held(decision_id, link.hold_status)
            row = conn.execute(select(Case).where(Case.id == link.case_id)).one()
            case = _mutable(row)
            approval: dict[str, Any] = {}
            if instruction == "release":
                checked = self._release_check(conn, case, link, actor, ip, note)
                if checked is None:
                    proposal = self._pending(conn, case.id, decision_id)
                else:
                    approval = checked
            if proposal is None:
                self._set_ended(conn, link, status, reason, now, decision_id)
                TRAIL.change(
                    conn,
                    case,
                    actor,
                    ip,
                    kind,
                    {**_detail(link, reason), "note": note, **approval},
                    now=now,
                )
                delivery = self._tell(conn, link, instruction, kind, reason, actor)
        if delivery is not None and self.webhooks is not None:
            self.webhooks.wake()
        return HoldEnd(self.get(decision_id), proposal)

    def _release_check(
        self, conn: Connection, case: Any, link: Any, actor: str, ip: str | None, note: str
    ) -> dict[str, Any] | None:
        """The second person above the release policy's amount (the reason was checked
        before). Returns what the release records about its approval ({} when one person may
        release), or None after recording a proposal; raises when the request is refused."""
        policy = self.release_policy
        at_stake = round(float(link.amount or 0.0) + agent_released(conn, case.id), 2)
        if at_stake <= policy.second_person_above:
            return {}
        pending = self._pending(conn, case.id, link.decision_id)
        return second_person(
            conn,
            case,
            actor,
            ip,
            at_stake,
            pending,
            policy,
            "hold_release_proposed",
            {**_detail(link, None), "note": note},
        )

    @staticmethod
    def _pending(conn: Connection, case_id: str, decision_id: str) -> dict[str, Any] | None:
        """The open proposal to release this hold: the case's latest hold-related entry, if it
        is a proposal for this decision."""
        latest = conn.execute(
            select(CaseActivity)
            .where(CaseActivity.case_id == case_id, CaseActivity.kind.in_(_LAPSING))
            .order_by(CaseActivity.id.desc())
            .limit(1)
        ).one_or_none()
        if (
            latest is None
            or latest.kind != "hold_release_proposed"
            or latest.detail.get("decision_id") != decision_id
        ):
            return None
        return {
            "decision_id": decision_id,
            "proposed_by": latest.actor,
            "proposed_at": latest.at,
            "amount": latest.detail.get("amount"),
            "currency": latest.detail.get("currency"),
            "threshold": latest.detail.get("threshold"),
            "note": latest.detail.get("note", ""),
        }

    # -- the deadline ----------------------------------------------------------------------------

    def release_due(self, now: datetime | None = None, limit: int = 500) -> list[str]:
        """Release every held payment whose deadline has passed (by ``system``, reason
        ``deadline``): each in its own short transaction, by compare-and-set, so a second
        process sweeping at the same moment skips what this one released. Returns the
        decision ids released here."""
        now = now or datetime.now(UTC)
        with self.db.connect() as conn:
            due = list(
                conn.execute(
                    select(CaseDecision.decision_id)
                    .where(
                        CaseDecision.hold_status == "held",
                        CaseDecision.hold_deadline.is_not(None),
                        CaseDecision.hold_deadline <= now,
                    )
                    .order_by(CaseDecision.hold_deadline, CaseDecision.id)
                    .limit(limit)
                ).scalars()
            )
        released: list[str] = []
        delivered = False
        for decision_id in due:
            with self.db.begin() as conn:
                done = conn.execute(
                    update(CaseDecision)
                    .where(
                        CaseDecision.decision_id == decision_id,
                        CaseDecision.hold_status == "held",
                        CaseDecision.hold_deadline <= now,
                    )
                    .values(hold_status="released", hold_ended_at=now, hold_end_reason=DEADLINE)
                )
                if done.rowcount != 1:
                    continue  # ended meanwhile (an agent, the case, another process)
                link = self._link(conn, decision_id)
                conn.execute(
                    update(Case)
                    .where(Case.id == link.case_id)
                    .values(updated_at=now, revision=Case.revision + 1)
                )
                TRAIL.record(
                    conn,
                    link.case_id,
                    SYSTEM,
                    None,
                    "hold_released",
                    {**_detail(link, DEADLINE), "deadline": _iso(link.hold_deadline)},
                    now,
                )
                delivered |= (
                    self._tell(conn, link, "release", "hold_released", DEADLINE, SYSTEM) is not None
                )
            released.append(decision_id)
        if released:
            log.info("holds.released_at_deadline", count=len(released))
        if delivered and self.webhooks is not None:
            self.webhooks.wake()
        return released

    # -- reading ---------------------------------------------------------------------------------

    def get(self, decision_id: str) -> dict[str, Any]:
        with self.db.connect() as conn:
            rows = self._rows(conn, [CaseDecision.decision_id == decision_id], 1, 0)
        if not rows:
            raise NotFound(f"decision '{decision_id}' has no held payment")
        return rows[0]

    def listing(
        self,
        customer_id: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        """Held payments, soonest deadline first (those without one last), then newest."""
        where: list[Any] = []
        if customer_id is not None:
            where.append(Case.customer_id == customer_id)
        if status is not None:
            where.append(CaseDecision.hold_status == status)
        with self.db.connect() as conn:
            total = conn.execute(
                select(func.count())
                .select_from(CaseDecision)
                .join(Case, Case.id == CaseDecision.case_id)
                .where(*where)
            ).scalar_one()
            rows = self._rows(conn, where, limit, offset)
        return {"total": int(total), "holds": rows}

    @staticmethod
    def _rows(conn: Connection, where: list[Any], limit: int, offset: int) -> list[dict[str, Any]]:
        query = (
            select(
                CaseDecision,
                Case.customer_id,
                DecisionRecord.decided_at,
                DecisionRecord.event_type,
            )
            .join(Case, Case.id == CaseDecision.case_id)
            .outerjoin(DecisionRecord, DecisionRecord.decision_id == CaseDecision.decision_id)
            .where(*where)
            .order_by(
                CaseDecision.hold_deadline.is_(None),
                CaseDecision.hold_deadline,
                CaseDecision.id.desc(),
            )
            .limit(limit)
            .offset(offset)
        )
        return [
            hold_view(r, r.customer_id, r.decided_at, r.event_type) for r in conn.execute(query)
        ]

    # -- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _link(conn: Connection, decision_id: str) -> Any:
        link = conn.execute(
            select(CaseDecision).where(CaseDecision.decision_id == decision_id)
        ).one_or_none()
        if link is None:
            raise NotFound(f"decision '{decision_id}' has no held payment")
        return link

    @staticmethod
    def _set_ended(
        conn: Connection, link: Any, status: str, reason: str, now: datetime, decision_id: str
    ) -> None:
        done = conn.execute(
            update(CaseDecision)
            .where(CaseDecision.id == link.id, CaseDecision.hold_status == "held")
            .values(hold_status=status, hold_ended_at=now, hold_end_reason=reason)
        )
        if done.rowcount != 1:
            raise _not_held(decision_id, "ended by someone else")

    def _tell(
        self, conn: Connection, link: Any, instruction: str, kind: str, reason: str, actor: str
    ) -> str | None:
        """The lender's instruction, in the outbox, in this transaction."""
        if self.webhooks is None:
            return None
        return self.webhooks.enqueue(
            conn,
            case_id=link.case_id,
            event_id=link.event_id,
            decision_id=link.decision_id,
            instruction=instruction,
            outcome=kind,
            actor=actor,
            reason=reason,
        )


def second_person(
    conn: Connection,
    case: Any,
    actor: str,
    ip: str | None,
    at_stake: float,
    pending: dict[str, Any] | None,
    policy: ReleasePolicy,
    kind: str,
    detail: dict[str, Any],
) -> dict[str, Any] | None:
    """Maker–checker on releasing ``at_stake`` (above the release policy's amount): without
    an open proposal for that very amount, record one (timeline ``kind``) and return None; the
    proposer again is refused (403 naming ``approver``); anyone else approves, and what the
    release records about the approval is returned. Shared by a case's resolution as legit and
    an agent's release of one hold."""
    if pending is None or pending["amount"] != at_stake:
        TRAIL.change(
            conn,
            case,
            actor,
            ip,
            kind,
            {
                **detail,
                "amount": at_stake,
                "currency": policy.currency,
                "threshold": policy.second_person_above,
            },
        )
        return None
    if pending["proposed_by"] == actor:
        raise Forbidden(
            f"maker–checker: releasing {at_stake:,.2f} {policy.currency} held on case "
            f"'{case.id}' (above {policy.second_person_above:,.0f} {policy.currency}) was "
            f"proposed by {actor}; a different person must approve it",
            errors=[FieldError("approver", "the proposer cannot approve their own release")],
        )
    return {
        "amount": at_stake,
        "proposed_by": pending["proposed_by"],
        "proposed_at": pending["proposed_at"].isoformat(),
        "proposal_note": pending["note"],
    }


def agent_released(conn: Connection, case_id: str) -> float:
    """Money agents released hold by hold on a case (what a release there already let go)."""
    total = conn.execute(
        select(func.coalesce(func.sum(CaseDecision.amount), 0.0)).where(
            CaseDecision.case_id == case_id, CaseDecision.hold_end_reason == RELEASED_BY_AGENT
        )
    ).scalar_one()
    return float(total or 0.0)


def hold_view(
    link: Any, customer_id: str | None, decided_at: datetime | None, product: str | None
) -> dict[str, Any]:
    """A held payment as the API shows it, with the customer's release instructions."""
    return {
        "decision_id": link.decision_id,
        "case_id": link.case_id,
        "customer_id": customer_id,
        "event_id": link.event_id,
        "action": link.action,
        "amount": link.amount,
        "decided_at": decided_at,
        "hold_status": link.hold_status,
        "hold_deadline": link.hold_deadline,
        "hold_ended_at": link.hold_ended_at,
        "hold_end_reason": link.hold_end_reason,
        "release_instructions": instructions_for(link.hold_deadline, product),
    }


def instructions_for(deadline: datetime | None, product: str | None) -> dict[str, str] | None:
    """The release instructions of a hold with a deadline (None without one)."""
    if deadline is None:
        return None
    return release_instructions(deadline, None, product)


def _detail(link: Any, reason: str | None) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "decision_id": link.decision_id,
        "event_id": link.event_id,
        "amount": link.amount,
    }
    if reason is not None:
        detail["reason"] = reason
    return detail


def _not_held(decision_id: str, status: str) -> Conflict:
    return Conflict(
        f"the payment held by decision '{decision_id}' is no longer held ({status})",
        errors=[FieldError("hold_status", status)],
    )


def _mutable(row: Any) -> Any:
    return SimpleNamespace(**row._mapping)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
