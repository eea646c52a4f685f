"""The rescue ladder (R33): when a borrower is flagged over-indebted (R30) or in financial
difficulty (R27), stop lending more, stop marketing, offer a hardship plan, pause collection
while it is agreed — and record every step, so the regulator's report can count them.

1. ``CREDIT_FREEZE`` and ``HARDSHIP_PLAN_OFFERED``: the decision itself (the default rules
   dissuade new borrowing with those measures); recorded from the decision log after commit.
2. ``MARKETING_SUPPRESSED``: a ``marketing_suppressed`` flag for the contact guard (R33 test:
   a loan offer push is refused with MARKETING_TO_DISTRESSED).
3. ``HARDSHIP_PLAN_OFFERED`` / ``INTEREST_WAIVED`` / ``DEBT_ADVICE_SIGNPOSTED``: a plan
   proposed with the calculator (``lending/hardship.py``).
4. ``COLLECTION_PAUSED``: a ``collection_paused`` flag while a proposed plan is being agreed;
   lifted when it is agreed or declined (R16–R19 limits apply as before).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, func, insert, select, update

from lendguard.auth import audit
from lendguard.conduct.rescue_flags import Flag, FlagStore
from lendguard.errors import Conflict, FieldError, NotFound, ValidationFailed
from lendguard.kit.ids import new_id
from lendguard.lending.hardship import HardshipRequest, PlanError, quote
from lendguard.models.lending import HardshipPlan, RescueStep
from lendguard.policies import NoPolicyInForce, PolicyError, load_policy

log = structlog.get_logger(__name__)

RESCUE_REASONS = frozenset({"OVER_INDEBTED", "FINANCIAL_DIFFICULTY"})
STEPS = (
    "CREDIT_FREEZE",
    "MARKETING_SUPPRESSED",
    "HARDSHIP_PLAN_OFFERED",
    "COLLECTION_PAUSED",
    "INTEREST_WAIVED",
    "DEBT_ADVICE_SIGNPOSTED",
)


class RescueService:
    def __init__(self, engine: Engine, flags: FlagStore) -> None:
        self.db = engine
        self.flags = flags

    # -- from decisions --------------------------------------------------------------------------

    def take_in(self, decisions: list[dict[str, Any]]) -> int:
        """Record the ladder's first steps for decisions that flag a borrower; returns how many
        decisions did. Called after each group commit (and safe to call twice: a decision's
        steps are keyed by its id)."""
        flagged = [
            d
            for d in decisions
            if any(r.get("code") in RESCUE_REASONS for r in d.get("reasons", ()))
        ]
        if not flagged:
            return 0
        now = datetime.now(UTC)
        with self.db.begin() as conn:
            sources = [f"decision:{d['decision_id']}" for d in flagged]
            done = set(
                conn.execute(
                    select(RescueStep.source).where(RescueStep.source.in_(sources))
                ).scalars()
            )
            for decision, source in zip(flagged, sources, strict=True):
                if source in done:
                    continue
                customer = decision["customer_id"]
                codes = sorted(
                    {r["code"] for r in decision["reasons"] if r.get("code") in RESCUE_REASONS}
                )
                detail = {"reasons": codes, "event_type": decision.get("event_type")}
                measures = set(decision.get("measures", ()))
                for step in ("CREDIT_FREEZE", "HARDSHIP_PLAN_OFFERED"):
                    if step in measures:
                        _record(conn, customer, step, source, detail, now)
                self.suppress_marketing(conn, customer, ", ".join(codes), source, detail, now)
        return len(flagged)

    def suppress_marketing(
        self,
        conn: Connection,
        customer_id: str,
        reason: str,
        source: str,
        detail: dict[str, Any],
        at: datetime,
        actor: str = "system",
    ) -> int | None:
        """R33 step 2, once: raise ``marketing_suppressed`` and record the step, unless the
        flag already holds. Returns the flag's id, or None when it was already raised."""
        return self._raise_once(
            conn,
            customer_id,
            Flag.marketing_suppressed,
            "MARKETING_SUPPRESSED",
            reason,
            source,
            detail,
            at,
            actor,
        )

    def pause_collection(
        self,
        conn: Connection,
        customer_id: str,
        reason: str,
        source: str,
        detail: dict[str, Any],
        at: datetime,
        actor: str = "system",
    ) -> int | None:
        """R33 step 4 outside a hardship plan, once: raise ``collection_paused`` (the contact
        guard then refuses collection contact) and record the step, unless the flag already
        holds. A customer in crisis (the assistant heard them speak of ending their life) must
        not get a collection call while a person looks after them; the pause stays until staff
        lift it. Returns the flag's id, or None when collection was already paused."""
        return self._raise_once(
            conn,
            customer_id,
            Flag.collection_paused,
            "COLLECTION_PAUSED",
            reason,
            source,
            detail,
            at,
            actor,
        )

    def _raise_once(
        self,
        conn: Connection,
        customer_id: str,
        flag: Flag,
        step: str,
        reason: str,
        source: str,
        detail: dict[str, Any],
        at: datetime,
        actor: str,
    ) -> int | None:
        """Raise ``flag`` and record the ladder ``step``, unless the flag already holds."""
        if self.flags.holds(customer_id, flag, at, conn=conn):
            return None
        flag_id = self.flags.set_flag(
            customer_id, flag, reason=reason, source=source, actor=actor, conn=conn
        )
        _record(conn, customer_id, step, source, detail, at)
        return flag_id

    # -- hardship plans --------------------------------------------------------------------------

    def quote(self, raw: Any) -> dict[str, Any]:
        """The calculator: a plan's instalment, schedule, totals, findings and true cost."""
        request = _request(raw)
        cap = _card_cap(request)
        try:
            plan = quote(request, cap)
        except PlanError as exc:
            raise ValidationFailed(str(exc), errors=[FieldError(exc.field, str(exc))]) from None
        plan["cost"] = _cost(plan, request)
        return plan

    def propose(self, raw: Any, actor: str, ip: str | None = None) -> dict[str, Any]:
        """Offer a plan: recorded as proposed, collection paused until it is agreed or
        declined. A plan with a blocking finding (PLAN_TERM_ABOVE_CAP) is refused. The audit
        entry (``lending.plan_proposed``) commits with the plan: an offer is never unaudited."""
        plan = self.quote(raw)
        if not plan["allowed"]:
            codes = [f["code"] for f in plan["findings"]]
            raise ValidationFailed(
                f"the plan breaks {codes}",
                errors=[FieldError("term_months", f["message"]) for f in plan["findings"]],
            )
        request = _request(raw)
        now = datetime.now(UTC)
        plan_id = new_id("plan")
        source = f"plan:{plan_id}"
        detail = {"plan_id": plan_id, "term_months": plan["term_months"]}
        with self.db.begin() as conn:
            conn.execute(
                insert(HardshipPlan),
                {
                    "id": plan_id,
                    "customer_id": request.customer_id,
                    "status": "proposed",
                    "product": request.product,
                    "jurisdiction": request.jurisdiction,
                    "balance": float(request.balance),
                    "term_months": plan["term_months"],
                    "instalment": plan["instalment"],
                    "plan_rate_percent": plan["plan_rate_percent"],
                    "quote": plan,
                    "created_at": now,
                    "created_by": actor,
                },
            )
            _record(conn, request.customer_id, "HARDSHIP_PLAN_OFFERED", source, detail, now)
            if request.waive_interest or request.waive_penalties:
                _record(
                    conn,
                    request.customer_id,
                    "INTEREST_WAIVED",
                    source,
                    {**detail, "waived": plan["waived"]},
                    now,
                )
            if request.debt_advice_signposted:
                _record(conn, request.customer_id, "DEBT_ADVICE_SIGNPOSTED", source, detail, now)
            self.flags.set_flag(
                request.customer_id,
                Flag.collection_paused,
                reason="hardship plan being agreed",
                source=source,
                actor=actor,
                conn=conn,
            )
            _record(conn, request.customer_id, "COLLECTION_PAUSED", source, detail, now)
            audit.record(
                conn,
                actor,
                "lending.plan_proposed",
                source,
                ip,
                {"customer_id": request.customer_id},
            )
        return {"id": plan_id, "status": "proposed", **plan}

    def decide(
        self, plan_id: str, agreed: bool, actor: str, ip: str | None = None
    ) -> dict[str, Any]:
        """The borrower agreed or declined: collection is no longer paused for the plan. The
        audit entry (``lending.plan_agreed`` or ``_declined``) commits with the decision."""
        now = datetime.now(UTC)
        with self.db.begin() as conn:
            row = conn.execute(select(HardshipPlan).where(HardshipPlan.id == plan_id)).first()
            if row is None:
                raise NotFound(f"hardship plan '{plan_id}' does not exist")
            if row.status != "proposed":
                raise Conflict(
                    f"plan '{plan_id}' is already {row.status}",
                    errors=[FieldError("status", row.status)],
                )
            status = "agreed" if agreed else "declined"
            conn.execute(
                update(HardshipPlan)
                .where(HardshipPlan.id == plan_id)
                .values(status=status, decided_at=now, decided_by=actor)
            )
            # Only the plan's own pause ends: a pause raised for another reason (a crisis) holds.
            self.flags.clear_flag(
                row.customer_id,
                Flag.collection_paused,
                at=now,
                conn=conn,
                source=f"plan:{plan_id}",
            )
            audit.record(conn, actor, f"lending.plan_{status}", f"plan:{plan_id}", ip)
        return {"id": plan_id, "status": status, "decided_at": now.isoformat()}

    # -- reading ---------------------------------------------------------------------------------

    def summary(self, since: datetime | None = None) -> dict[str, Any]:
        """Steps taken and distinct customers per step (the regulator's report)."""
        query = select(
            RescueStep.step, func.count(), func.count(func.distinct(RescueStep.customer_id))
        )
        if since is not None:
            query = query.where(RescueStep.at >= since)
        with self.db.connect() as conn:
            rows = conn.execute(query.group_by(RescueStep.step)).all()
            plans = Counter(
                dict(
                    conn.execute(
                        select(HardshipPlan.status, func.count()).group_by(HardshipPlan.status)
                    ).all()
                )
            )
        found = {step: (int(n), int(c)) for step, n, c in rows}
        return {
            "steps": {
                s: {"count": found.get(s, (0, 0))[0], "customers": found.get(s, (0, 0))[1]}
                for s in STEPS
            },
            "plans": {s: int(plans.get(s, 0)) for s in ("proposed", "agreed", "declined")},
        }

    def customer(self, customer_id: str) -> dict[str, Any]:
        with self.db.connect() as conn:
            steps = conn.execute(
                select(RescueStep)
                .where(RescueStep.customer_id == customer_id)
                .order_by(RescueStep.at, RescueStep.id)
            ).all()
            plans = conn.execute(
                select(HardshipPlan)
                .where(HardshipPlan.customer_id == customer_id)
                .order_by(HardshipPlan.created_at)
            ).all()
        return {
            "customer_id": customer_id,
            "steps": [
                {"step": s.step, "at": s.at, "source": s.source, "detail": s.detail} for s in steps
            ],
            "plans": [
                {
                    "id": p.id,
                    "status": p.status,
                    "term_months": p.term_months,
                    "instalment": p.instalment,
                    "created_at": p.created_at,
                    "decided_at": p.decided_at,
                }
                for p in plans
            ],
            "flags": self.flags.flags(customer_id),
        }


def _record(
    conn: Connection,
    customer_id: str,
    step: str,
    source: str,
    detail: dict[str, Any],
    at: datetime,
) -> None:
    conn.execute(
        insert(RescueStep),
        {"customer_id": customer_id, "step": step, "at": at, "source": source, "detail": detail},
    )


def _request(raw: Any) -> HardshipRequest:
    from lendguard.kit.validation import validated

    return validated(HardshipRequest, raw, "invalid hardship plan")


def _card_cap(request: HardshipRequest) -> int | None:
    """R20's cap from the lending policy in force on the plan's start (CN only)."""
    try:
        policy = load_policy("lending", request.jurisdiction, request.start_date)
    except (NoPolicyInForce, PolicyError):
        return None
    found = policy.get("credit_card_plan_max_months")
    return None if found is None else int(found.value)


def _cost(plan: dict[str, Any], request: HardshipRequest) -> dict[str, Any]:
    """The plan's true cost through the APR engine (R33: its cost is shown)."""
    from lendguard.lending.apr import compute, parse_schedule

    schedule = {
        "id": f"plan-{request.customer_id}",
        "amount_financed": plan["amount_owed"],
        "advance_date": request.start_date.isoformat(),
        "payments": plan["schedule"],
        "unit_periods_per_year": 12,
    }
    answer = compute(parse_schedule(schedule, "plan"), "plan").as_answer()
    return {k: answer[k] for k in ("apr_percent", "apr_simple", "apr_compound", "method")}
