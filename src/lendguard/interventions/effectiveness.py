"""How well interventions work (issue #19, item 7): per intervention type and scam typology,
how many were shown, how many payments were abandoned, how many turned out to be scams, and how
many honest customers were delayed and for how long.

An intervention that stops no scam is friction; one that stops scams only by delaying every
honest customer is a blunt instrument. The figures put both side by side:

* **shown**: decisions at remind or more (a challenge's follow-up decision is the outcome of the
  first, not another intervention, so it is not counted again);
* **abandoned**: the payment did not go ahead: the hold was cancelled, or the answers led to an
  intercept or a block that was not released afterwards;
* **confirmed scam**: the case was resolved as fraud or as a scam victim, or a fraud label
  arrived for the event later;
* **honest delayed**: the hold was released or the case resolved as legitimate (and no fraud
  label says otherwise), with the median delay from the decision to the end of the hold.

The typology is the case's scam type when the intervention was filed under a case, else the
code of its strongest reason. :func:`summarise` is pure (rows in, figures out);
:func:`intervention_rows` reads the rows for a time range.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, exists, func, select
from sqlalchemy.orm import aliased

from lendguard.decisions.explain import is_meta_reason
from lendguard.decisions.rules.loader import Action
from lendguard.models.cases import Case, CaseDecision
from lendguard.models.decision import DecisionRecord, LabelRecord
from lendguard.models.interventions import ChallengeResponse

INTERVENTIONS = tuple(a.value for a in Action if a.rank >= Action.remind.rank)
STOPPING = frozenset({Action.intercept.value, Action.block.value})
SCAM_OUTCOMES = frozenset({"resolved_fraud", "resolved_scam_victim"})
UNKNOWN_TYPOLOGY = "unknown"


@dataclass(frozen=True)
class InterventionRow:
    """One intervention and what became of it."""

    decision_id: str
    action: str
    decided_at: datetime
    reasons: tuple[Mapping[str, Any], ...] = ()
    scam_type: str | None = None
    case_state: str | None = None
    hold_status: str | None = None
    hold_ended_at: datetime | None = None
    # the latest label of the event: 1 fraud, 0 legitimate, None none yet
    label: int | None = None
    challenge_outcome: str | None = None
    follow_up_action: str | None = None


def typology(row: InterventionRow) -> str:
    """The case's scam type, else the code of the strongest reason (the one that asked for the
    decision's action, highest weight first; summaries of the combined score left out)."""
    if row.scam_type:
        return row.scam_type
    listed = [r for r in row.reasons if r.get("code") and not is_meta_reason(r)]
    if not listed:
        return UNKNOWN_TYPOLOGY
    strongest = max(
        listed,
        key=lambda r: (r.get("action") == row.action, _number(r.get("weight"))),
    )
    return str(strongest["code"])


def abandoned(row: InterventionRow) -> bool:
    """The payment did not go ahead: its hold was cancelled, or the answers stopped it (a
    follow-up intercept or block) and no release came after."""
    if row.hold_status == "cancelled":
        return True
    return row.follow_up_action in STOPPING and row.hold_status != "released"


def confirmed_scam(row: InterventionRow) -> bool:
    return row.case_state in SCAM_OUTCOMES or row.label == 1


def honest_delayed(row: InterventionRow) -> bool:
    released = row.hold_status == "released" or row.case_state == "resolved_legit"
    return released and not confirmed_scam(row)


def delay_minutes(row: InterventionRow) -> float | None:
    """Minutes from the decision to the end of the hold (None when the end is not recorded)."""
    if row.hold_ended_at is None:
        return None
    return max(0.0, (row.hold_ended_at - row.decided_at).total_seconds() / 60.0)


@dataclass
class _Tally:
    shown: int = 0
    abandoned: int = 0
    confirmed_scam: int = 0
    honest_delayed: int = 0

    def __post_init__(self) -> None:
        self.delays: list[float] = []

    def add(self, row: InterventionRow) -> None:
        self.shown += 1
        self.abandoned += abandoned(row)
        self.confirmed_scam += confirmed_scam(row)
        if honest_delayed(row):
            self.honest_delayed += 1
            minutes = delay_minutes(row)
            if minutes is not None:
                self.delays.append(minutes)

    def figures(self) -> dict[str, Any]:
        return {
            "shown": self.shown,
            "abandoned": self.abandoned,
            "confirmed_scam": self.confirmed_scam,
            "honest_delayed": self.honest_delayed,
            "abandoned_rate": _rate(self.abandoned, self.shown),
            "confirmed_scam_rate": _rate(self.confirmed_scam, self.shown),
            "median_honest_delay_minutes": (
                round(statistics.median(self.delays), 1) if self.delays else None
            ),
        }


def summarise(rows: Iterable[InterventionRow]) -> dict[str, Any]:
    """Figures per (intervention, with questions, typology), per (intervention, with
    questions), and in total; groups in ladder order, then typology."""
    groups: dict[tuple[str, bool, str], _Tally] = defaultdict(_Tally)
    kinds: dict[tuple[str, bool], _Tally] = defaultdict(_Tally)
    total = _Tally()
    for row in rows:
        questioned = row.challenge_outcome is not None
        groups[(row.action, questioned, typology(row))].add(row)
        kinds[(row.action, questioned)].add(row)
        total.add(row)
    return {
        "groups": [
            {"intervention": a, "with_questions": q, "typology": t, **tally.figures()}
            for (a, q, t), tally in sorted(groups.items(), key=lambda i: _order(*i[0]))
        ],
        "by_intervention": [
            {"intervention": a, "with_questions": q, **tally.figures()}
            for (a, q), tally in sorted(kinds.items(), key=lambda i: _order(*i[0]))
        ],
        "total": total.figures(),
    }


def _order(action: str, questioned: bool, typology: str = "") -> tuple[int, bool, str]:
    try:
        rank = Action(action).rank
    except ValueError:
        rank = len(Action)
    return rank, questioned, typology


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


# -- reading the rows --------------------------------------------------------------------------


def intervention_rows(conn: Connection, start: datetime, end: datetime) -> list[InterventionRow]:
    """Every intervention decided in ``[start, end)`` with its case, hold, challenge and latest
    label, follow-up decisions of challenges left out. Joins, not lists of ids: a month of
    interventions may be more ids than a statement can carry."""
    in_range = (
        DecisionRecord.decided_at >= start,
        DecisionRecord.decided_at < end,
        DecisionRecord.action.in_(INTERVENTIONS),
    )
    follow_up = aliased(ChallengeResponse)
    # The hold is the decision's own, or that of the follow-up its answers gave (a "yes" to a
    # scam question holds the money under a case by the follow-up's id): the later one counts.
    own, then = aliased(CaseDecision), aliased(CaseDecision)
    own_case, then_case = aliased(Case), aliased(Case)
    found = conn.execute(
        select(
            DecisionRecord.decision_id,
            DecisionRecord.event_id,
            DecisionRecord.action,
            DecisionRecord.decided_at,
            DecisionRecord.reasons,
            ChallengeResponse.outcome,
            ChallengeResponse.follow_up_action,
            func.coalesce(then.hold_status, own.hold_status).label("hold_status"),
            func.coalesce(then.hold_ended_at, own.hold_ended_at).label("hold_ended_at"),
            func.coalesce(then_case.scam_type, own_case.scam_type).label("scam_type"),
            func.coalesce(then_case.state, own_case.state).label("state"),
        )
        .outerjoin(ChallengeResponse, ChallengeResponse.decision_id == DecisionRecord.decision_id)
        .outerjoin(own, own.decision_id == DecisionRecord.decision_id)
        .outerjoin(own_case, own_case.id == own.case_id)
        .outerjoin(then, then.decision_id == ChallengeResponse.follow_up_decision_id)
        .outerjoin(then_case, then_case.id == then.case_id)
        .where(
            *in_range,
            ~exists().where(follow_up.follow_up_decision_id == DecisionRecord.decision_id),
        )
        .order_by(DecisionRecord.decided_at, DecisionRecord.decision_id)
    ).all()
    labels: dict[str, int] = {}
    for event_id, label in conn.execute(
        select(LabelRecord.event_id, LabelRecord.label)
        .join(DecisionRecord, DecisionRecord.event_id == LabelRecord.event_id)
        .where(*in_range)
        .order_by(LabelRecord.known_at, LabelRecord.id)
    ).all():
        labels[event_id] = int(label)  # the latest wins
    return [
        InterventionRow(
            decision_id=r.decision_id,
            action=r.action,
            decided_at=r.decided_at,
            reasons=tuple(x for x in (r.reasons or []) if isinstance(x, dict)),
            scam_type=r.scam_type,
            case_state=r.state,
            hold_status=r.hold_status,
            hold_ended_at=r.hold_ended_at,
            label=labels.get(r.event_id),
            challenge_outcome=r.outcome,
            follow_up_action=r.follow_up_action,
        )
        for r in found
    ]
