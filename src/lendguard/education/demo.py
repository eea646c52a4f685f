"""Education in the demo: after the simulated events are decided, customers who had an
intervention are sent the content that answers its reasons, and some open it, complete it and
answer the topic's quiz, as a lender's app would report it (through
:class:`~lendguard.education.service.EducationService`, with its validation and idempotency), so
the report has reach figures. Deterministic for a given ``rng`` seed and database."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from lendguard.education.library import education_for
from lendguard.education.schemas import EducationEventBody, EducationQuizAnswerBody
from lendguard.education.service import EducationService
from lendguard.interventions.effectiveness import INTERVENTIONS
from lendguard.models.decision import DecisionRecord

DEMO_ACTOR = "demo:education"
# Channels the content goes out on, with their weights.
CHANNELS: Sequence[tuple[str, float]] = (("app", 0.5), ("sms", 0.25), ("push", 0.15), ("call", 0.1))
MAX_CUSTOMERS = 2000
_BATCH = 1000


def _pick_channel(rng: random.Random) -> str:
    names = [c for c, _ in CHANNELS]
    return rng.choices(names, weights=[w for _, w in CHANNELS])[0]


def seed_education(
    engine: Engine,
    now: datetime,
    rng: random.Random,
    pii_key: bytes = b"",
    *,
    delivered_share: float = 0.7,
    opened_share: float = 0.6,
    completed_share: float = 0.6,
    quiz_share: float = 0.7,
    max_customers: int = MAX_CUSTOMERS,
) -> dict[str, int]:
    """Record deliveries, openings, completions and quiz answers for customers with an
    intervention (their first one, in decision order), each a few minutes to hours after it and
    never after ``now``. Returns the counts recorded."""
    service = EducationService(engine, pii_key, clock=lambda: now)
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                DecisionRecord.decision_id,
                DecisionRecord.customer_id,
                DecisionRecord.reasons,
                DecisionRecord.occurred_at,
            )
            .where(DecisionRecord.action.in_(INTERVENTIONS))
            .order_by(DecisionRecord.occurred_at, DecisionRecord.decision_id)
        ).all()
    first: dict[str, Any] = {}
    for row in rows:
        first.setdefault(row.customer_id, row)
    chosen = list(first.values())[:max_customers]

    events: list[EducationEventBody] = []
    answers: list[tuple[str, EducationQuizAnswerBody]] = []

    def at(base: datetime, minutes: float) -> datetime:
        moment = base if base.tzinfo is not None else base.replace(tzinfo=now.tzinfo)
        return min(moment + timedelta(minutes=minutes), now)

    for row in chosen:
        links = education_for(row.reasons or [], limit=1)
        if not links or rng.random() >= delivered_share:
            continue
        link = links[0]
        channel = _pick_channel(rng)
        sent = at(row.occurred_at, rng.uniform(5, 120))
        common = {
            "customer_id": row.customer_id,
            "content_id": link.content_id,
            "decision_id": row.decision_id,
        }
        key = f"demo-{row.decision_id}"
        events.append(
            EducationEventBody(
                event_id=f"{key}-delivered",
                kind="delivered",
                channel=channel,
                occurred_at=sent,
                **common,
            )
        )
        if rng.random() >= opened_share:
            continue
        opened = at(sent, rng.uniform(1, 600))
        events.append(
            EducationEventBody(
                event_id=f"{key}-opened", kind="opened", channel="app", occurred_at=opened, **common
            )
        )
        if rng.random() >= completed_share:
            continue
        done = at(opened, rng.uniform(1, 10))
        events.append(
            EducationEventBody(
                event_id=f"{key}-completed",
                kind="completed",
                channel="app",
                occurred_at=done,
                **common,
            )
        )
        if rng.random() >= quiz_share:
            continue
        quiz = service.lib.quiz_by_topic[link.topic]
        chosen_options = {
            q.id: q.correct
            if rng.random() < 0.75
            else rng.choice([o.id for o in q.options if o.id != q.correct])
            for q in quiz.questions
        }
        answers.append(
            (
                link.topic,
                EducationQuizAnswerBody(
                    event_id=f"{key}-quiz",
                    customer_id=row.customer_id,
                    quiz_version=quiz.version,
                    answers=chosen_options,
                    channel="app",
                    answered_at=at(done, rng.uniform(1, 5)),
                ),
            )
        )

    for i in range(0, len(events), _BATCH):
        service.record_events(events[i : i + _BATCH], DEMO_ACTOR)
    for topic, body in answers:
        service.answer_quiz(topic, body, DEMO_ACTOR)
    kinds = [e.kind for e in events]
    return {
        "customers": sum(1 for k in kinds if k == "delivered"),
        "delivered": kinds.count("delivered"),
        "opened": kinds.count("opened"),
        "completed": kinds.count("completed"),
        "quiz_answers": len(answers),
    }
