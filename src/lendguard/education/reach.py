"""Education's reach over a period ``[start, end)``: who was sent content, who opened and
completed it, by channel, age band and topic, the quizzes, and whether reached customers were
later scammed less.

Definitions (the report's Definition texts are written from these):

* **Period.** An education event counts when its ``occurred_at`` (the time the lender's app
  reports it happened) lies in ``[start, end)``; a quiz answer when its ``answered_at`` does.
  Every ``event_id`` is one event however often it was reported.
* **Reached** (education_reach): the unique customers with at least one *delivered* event in
  the period. **Opened**: of the reached customers, those with at least one *opened* event in
  the period; **completed**: of the reached customers, those with at least one *completed*
  event in the period. A customer who opened or completed in the period content delivered
  before it is not counted (they were reached in an earlier period).
* **Completion rate** (education_completion): completed customers / reached customers; null
  when nobody was reached. ``deliveries``, ``openings`` and ``completions`` count events.
* **By channel**: reached on a channel = customers with a delivery on that channel; opened
  (completed) = of them, customers who opened (completed), in the period, an item that was
  delivered to them on that channel in the period (on whatever channel the opening was
  reported). **By topic**: reached = customers delivered an item of the topic; opened
  (completed) = of them, customers who opened (completed) an item of the topic. **By age
  band**: the customer's age band at ``end`` (``decisions.segments.customer_segments``, the
  bands every report uses); opened and completed as for the whole period. A customer reached
  on two channels or topics counts in each group, so groups do not add up to the total.
* **Quiz**: answers recorded in the period, the unique customers who answered, the answers
  that reached their topic's pass mark, and passed / answers.
* **Later scams** (education_later_scams): two groups, each customer counted once.
  *Reached*: the customers who completed an item in the period (as above); their start is
  their first delivery in the period. *Comparison*: the customers with an intervention (a
  decision at remind or more, as the interventions' effectiveness counts them) whose event
  occurred in the period and who were never delivered any education (no delivered event at any
  time); their start is the occurrence of their first intervention in the period. A customer
  is **scammed** when a confirmed scam occurs after their start and no later than
  ``follow_up_days`` (30) days after it. A confirmed scam is (a) an outflow (transfer,
  withdrawal, payment) the customer made whose latest label says fraud, at the outflow's
  occurrence, or (b) a case of the customer resolved as fraud or as a scam victim, at the
  occurrence of the first decision filed under it (the case's opening when none is). The
  intervention that put a customer in the comparison group does not count as their later scam
  (it does not occur after their start). Rate = scammed / customers; null when the group is
  empty. Labels and case outcomes are read as they stand when the figures are computed, so a
  follow-up window that has not ended yet may count fewer scams than it will.

The comparison is observational: the groups differ in who is sent education and who finishes
it, so the difference between the rates is not the effect of education (see
:data:`CAVEAT`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, func, select

from lendguard.decisions.policy import epoch_seconds
from lendguard.decisions.segments import AGE_BANDS, customer_segments
from lendguard.education.schemas import (
    LaterScams,
    QuizFigures,
    ReachGroup,
    ReachMetrics,
)
from lendguard.events.schemas import OUTFLOW_TYPES
from lendguard.interventions.effectiveness import INTERVENTIONS, SCAM_OUTCOMES
from lendguard.models.cases import Case, CaseDecision
from lendguard.models.decision import DecisionRecord, EventRecord, LabelRecord
from lendguard.models.education import EducationEvent, EducationQuizAnswer

FOLLOW_UP_DAYS = 30
CHANNELS = ("app", "sms", "push", "email", "call", "in_person")
_CHUNK = 500

CAVEAT = {
    "zh-CN": (
        "这是观察数据，不是对照实验：完成学习的客户和从未收到内容的客户本身就不同。"
        "主动读完内容的人可能本来就更谨慎；而被干预却没收到内容的人，往往风险更高或联系不上。"
        "因此两组被骗比例的差异不能说明教育的效果，只能作为参考；"
        "观察期尚未结束或确认结果尚未到达时，被骗人数可能偏低。"
    ),
    "en": (
        "This is observational data, not a controlled trial: customers who completed content "
        "and customers who were never sent any differ in themselves. People who finish what "
        "they are sent may be more careful to begin with; customers with an intervention who "
        "were never sent content are often riskier or harder to reach. The difference between "
        "the two rates is therefore not the effect of education, only an indication; where the "
        "follow-up window has not ended or outcomes have not arrived yet, the counts of scams "
        "may be too low."
    ),
}


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class _Sets:
    reached: set[str] = field(default_factory=set)
    opened: set[str] = field(default_factory=set)
    completed: set[str] = field(default_factory=set)

    def group(self, key: str) -> ReachGroup:
        opened = self.opened & self.reached
        completed = self.completed & self.reached
        return ReachGroup(
            key=key,
            reached=len(self.reached),
            opened=len(opened),
            completed=len(completed),
            completion_rate=_rate(len(completed), len(self.reached)),
        )


def reach_metrics(
    engine: Engine, start: datetime, end: datetime, elderly_age: int = 60
) -> ReachMetrics:
    """Education's reach in ``[start, end)`` (see the module's definitions)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                EducationEvent.customer_id,
                EducationEvent.content_id,
                EducationEvent.topic,
                EducationEvent.kind,
                EducationEvent.channel,
                EducationEvent.occurred_at,
            ).where(EducationEvent.occurred_at >= start, EducationEvent.occurred_at < end)
        ).all()
        quiz = _quiz(conn, start, end)

    total = _Sets()
    by_channel: dict[str, _Sets] = defaultdict(_Sets)
    by_topic: dict[str, _Sets] = defaultdict(_Sets)
    counts = {"delivered": 0, "opened": 0, "completed": 0}
    first_delivery: dict[str, datetime] = {}
    # (customer, content) -> the channels it was delivered on in the period
    delivered_on: dict[tuple[str, str], set[str]] = defaultdict(set)
    acted: list[tuple[str, str, str, str]] = []  # (customer, content, topic, kind) opened/done
    for customer, content, topic, kind, channel, occurred in rows:
        counts[kind] = counts.get(kind, 0) + 1
        if kind == "delivered":
            total.reached.add(customer)
            by_channel[channel].reached.add(customer)
            by_topic[topic].reached.add(customer)
            delivered_on[(customer, content)].add(channel)
            at = _utc(occurred)
            if customer not in first_delivery or at < first_delivery[customer]:
                first_delivery[customer] = at
        else:
            acted.append((customer, content, topic, kind))
    for customer, content, topic, kind in acted:
        target = "opened" if kind == "opened" else "completed"
        getattr(total, target).add(customer)
        getattr(by_topic[topic], target).add(customer)
        for channel in delivered_on.get((customer, content), ()):
            getattr(by_channel[channel], target).add(customer)

    segments = customer_segments(engine, total.reached, at=end, elderly_age=elderly_age)
    by_band: dict[str, _Sets] = defaultdict(_Sets)
    for customer in total.reached:
        band = by_band[segments[customer].age_band]
        band.reached.add(customer)
        if customer in total.opened:
            band.opened.add(customer)
        if customer in total.completed:
            band.completed.add(customer)

    completed = total.completed & total.reached
    later = later_scams(
        engine, start, end, {c: first_delivery[c] for c in completed}, FOLLOW_UP_DAYS
    )
    whole = total.group("all")
    return ReachMetrics(
        customers_reached=whole.reached,
        customers_opened=whole.opened,
        customers_completed=whole.completed,
        completion_rate=whole.completion_rate,
        deliveries=counts["delivered"],
        openings=counts["opened"],
        completions=counts["completed"],
        by_channel=[by_channel[c].group(c) for c in _ordered(by_channel, CHANNELS)],
        by_age_band=[by_band[b].group(b) for b in _ordered(by_band, AGE_BANDS)],
        by_topic=[by_topic[t].group(t) for t in sorted(by_topic)],
        quiz=quiz,
        later_scams=later,
    )


def _ordered(groups: dict[str, _Sets], order: Iterable[str]) -> list[str]:
    known = [k for k in order if k in groups]
    return known + sorted(k for k in groups if k not in known)


def _quiz(conn: Connection, start: datetime, end: datetime) -> QuizFigures:
    rows = conn.execute(
        select(EducationQuizAnswer.customer_id, EducationQuizAnswer.passed).where(
            EducationQuizAnswer.answered_at >= start, EducationQuizAnswer.answered_at < end
        )
    ).all()
    passed = sum(1 for _, p in rows if p)
    return QuizFigures(
        answers=len(rows),
        customers=len({c for c, _ in rows}),
        passed=passed,
        pass_rate=_rate(passed, len(rows)),
    )


def later_scams(
    engine: Engine,
    start: datetime,
    end: datetime,
    reached_starts: dict[str, datetime],
    follow_up_days: int = FOLLOW_UP_DAYS,
) -> LaterScams:
    """The later-scams comparison: ``reached_starts`` maps each reached-and-completed customer
    to their first delivery in the period; the comparison group is read here."""
    window = timedelta(days=follow_up_days)
    with engine.connect() as conn:
        comparison = _comparison_starts(conn, start, end)
        every = set(reached_starts) | set(comparison)
        scams = _confirmed_scams(conn, every)

    def scammed(starts: dict[str, datetime]) -> int:
        hit = 0
        for customer, began in starts.items():
            lo, hi = epoch_seconds(began), epoch_seconds(began + window)
            if any(lo < epoch_seconds(at) <= hi for at in scams.get(customer, ())):
                hit += 1
        return hit

    reached_scammed = scammed(reached_starts)
    comparison_scammed = scammed(comparison)
    return LaterScams(
        follow_up_days=follow_up_days,
        reached_customers=len(reached_starts),
        reached_scammed=reached_scammed,
        reached_rate=_rate(reached_scammed, len(reached_starts)),
        comparison_customers=len(comparison),
        comparison_scammed=comparison_scammed,
        comparison_rate=_rate(comparison_scammed, len(comparison)),
        caveat=dict(CAVEAT),
    )


def _comparison_starts(conn: Connection, start: datetime, end: datetime) -> dict[str, datetime]:
    """Customers with an intervention whose event occurred in the period and no delivery ever:
    the occurrence of their first intervention in the period."""
    rows = conn.execute(
        select(DecisionRecord.customer_id, func.min(DecisionRecord.occurred_at))
        .where(
            DecisionRecord.action.in_(INTERVENTIONS),
            DecisionRecord.occurred_at >= start,
            DecisionRecord.occurred_at < end,
        )
        .group_by(DecisionRecord.customer_id)
    ).all()
    starts = {c: _utc(at) for c, at in rows}
    ids = sorted(starts)
    for i in range(0, len(ids), _CHUNK):
        reached = conn.execute(
            select(EducationEvent.customer_id)
            .where(
                EducationEvent.customer_id.in_(ids[i : i + _CHUNK]),
                EducationEvent.kind == "delivered",
            )
            .distinct()
        ).scalars()
        for customer in reached:
            starts.pop(customer, None)
    return starts


def _confirmed_scams(conn: Connection, customers: Iterable[str]) -> dict[str, list[datetime]]:
    """Each customer's confirmed scams (instants): outflows whose latest label is fraud, and
    cases resolved as fraud or as a scam victim."""
    wanted = sorted(set(customers))
    out: dict[str, list[datetime]] = defaultdict(list)
    outflows = sorted(t.value for t in OUTFLOW_TYPES)
    for i in range(0, len(wanted), _CHUNK):
        chunk = wanted[i : i + _CHUNK]
        latest: dict[str, tuple[int, int, str, datetime]] = {}
        rows = conn.execute(
            select(
                EventRecord.event_id,
                EventRecord.customer_id,
                EventRecord.occurred_at,
                LabelRecord.id,
                LabelRecord.label,
            )
            .join(LabelRecord, LabelRecord.event_id == EventRecord.event_id)
            .where(EventRecord.customer_id.in_(chunk), EventRecord.type.in_(outflows))
        )
        for event_id, customer, occurred, label_id, label in rows:
            if event_id not in latest or label_id > latest[event_id][0]:
                latest[event_id] = (label_id, label, customer, _utc(occurred))
        for _, label, customer, occurred in latest.values():
            if label == 1:
                out[customer].append(occurred)
        first_filed = (
            select(CaseDecision.case_id, func.min(DecisionRecord.occurred_at).label("first"))
            .join(DecisionRecord, DecisionRecord.decision_id == CaseDecision.decision_id)
            .group_by(CaseDecision.case_id)
            .subquery()
        )
        cases = conn.execute(
            select(Case.customer_id, Case.opened_at, first_filed.c.first)
            .outerjoin(first_filed, first_filed.c.case_id == Case.id)
            .where(Case.customer_id.in_(chunk), Case.state.in_(sorted(SCAM_OUTCOMES)))
        )
        for customer, opened, first in cases:
            out[customer].append(_utc(first if first is not None else opened))
    return out
