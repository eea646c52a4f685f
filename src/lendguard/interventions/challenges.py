"""Answering a challenge: check the answers against the questions the decision carried, compute
the follow-up decision (:func:`lendguard.decisions.challenges.follow_up`, the same code the
backtest measures), store both, and let the case flow act on it.

One answer per decision: the row's unique ``decision_id`` is the compare-and-set, so two posts
racing each other store one follow-up; the same answers posted again get the stored follow-up
back (a retry), different ones a 409.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from lendguard.cases.service import CaseService
from lendguard.decisions.challenges import (
    ChallengeAnswerError,
    check_answers,
    follow_up,
)
from lendguard.decisions.repository import follow_up_view
from lendguard.decisions.service import DecisionService
from lendguard.errors import Conflict, FieldError, NotFound, ValidationFailed
from lendguard.events.schemas import Event, EventType
from lendguard.interventions.challenge_schemas import ChallengeAnswers
from lendguard.kit.ids import new_id
from lendguard.models import ChallengeResponse
from lendguard.privacy import intake

ESCALATING = frozenset({"intercept", "block"})
# Who releases a hold the customer's answers cleared (the case timeline and the lender see it).
CHALLENGE_ACTOR = "system:challenge"


class ChallengeService:
    def __init__(self, decisions: DecisionService, cases: CaseService) -> None:
        self.decisions = decisions
        self.cases = cases

    def answer(self, decision_id: str, body: ChallengeAnswers, actor: str) -> dict[str, Any]:
        """The follow-up decision for ``body``'s answers to the decision's challenge."""
        decision = self.decisions.get_decision(decision_id)
        challenge = decision.get("challenge")
        if challenge is None:
            raise Conflict(f"decision '{decision_id}' carries no challenge")
        stored = decision.get("follow_up")
        if stored is not None:
            answered = self._retry(decision_id, body, stored)
            # Settling the hold is idempotent: a retry finishes what a failure left undone.
            self._settle(decision, answered)
            return answered
        face = None if body.verification is None else body.verification.model_dump()
        try:
            check_answers(challenge, body.answers, face)
        except ChallengeAnswerError as exc:
            raise ValidationFailed(
                "the answers do not fit the challenge",
                errors=[FieldError(exc.field, exc.message)],
            ) from None
        config = self.decisions.configuration.active
        params = dict(config.ruleset.params) if config.ruleset is not None else {}
        result = follow_up(decision, challenge, body.answers, face, params)
        now = datetime.now(UTC)
        release_at = (
            None
            if result.release_after_s is None
            else now + timedelta(seconds=result.release_after_s)
        )
        kept_answers: dict[str, Any] = dict(body.answers)
        if face is not None:
            # Pass or fail and the vendor's reference: never the scores or anything biometric.
            kept_answers["face_check"] = (
                "passed"
                if not any(r["code"] == "IDENTITY_NOT_VERIFIED" for r in result.reasons)
                else "failed"
            )
            if body.verification is not None and body.verification.vendor_reference:
                # An opaque id, but typed by someone: a phone or ID number in it is masked.
                kept_answers["face_check_reference"] = intake.mask_text_in(
                    body.verification.vendor_reference
                )
        row = ChallengeResponse(
            decision_id=decision_id,
            customer_id=decision["customer_id"],
            challenge_id=challenge["challenge_id"],
            policy_version=challenge["policy_version"],
            locale=body.locale,
            channel=body.channel,
            questions=[
                {
                    "id": q["id"],
                    "kind": q["kind"],
                    "text": q["text"][body.locale],
                    "options": [
                        {"value": o["value"], "text": o["text"][body.locale]}
                        for o in q.get("options") or ()
                    ],
                }
                for q in challenge["questions"]
            ],
            answers=kept_answers,
            outcome=result.outcome,
            follow_up_decision_id=new_id("dec"),
            follow_up_action=result.action,
            follow_up_score=result.score,
            follow_up_reasons=result.reasons,
            follow_up_measures=result.measures,
            follow_up_messages=result.messages,
            release_at=release_at,
            shown_at=body.shown_at,
            answered_at=now,
            actor=actor,
        )
        try:
            with self.decisions.db.begin() as conn:
                conn.execute(
                    insert(ChallengeResponse).values(
                        {
                            column.name: getattr(row, column.name)
                            for column in ChallengeResponse.__table__.columns
                            if column.name != "id"
                        }
                    )
                )
        except IntegrityError:
            # Another post for the same decision won the race: answer as a retry of it.
            with self.decisions.db.connect() as conn:
                won = conn.execute(
                    select(*ChallengeResponse.__table__.columns).where(
                        ChallengeResponse.decision_id == decision_id
                    )
                ).one()
            return self._retry(decision_id, body, follow_up_view(won))
        view = follow_up_view(row)
        self._settle(decision, view)
        return view

    def _settle(self, decision: dict[str, Any], view: dict[str, Any]) -> None:
        """What the follow-up means for held money and cases. Idempotent (a hold moves or ends
        by compare-and-set, the case intake skips a decision already filed), so a retry of the
        same answers completes it if a failure interrupted it."""
        decision_id = decision["decision_id"]
        if view["outcome"] == "passed" and decision["action"] in ESCALATING:
            self._settle_hold(decision_id, view["release_at"])
        if view["outcome"] == "escalated":
            self._record_scam_told(decision, view)
        if view["action"] in ESCALATING and view["outcome"] == "escalated":
            # The customer told us it is a scam: the money is held and a case opened at once.
            self.cases.take_in(
                [
                    {
                        **decision,
                        "decision_id": view["decision_id"],
                        "action": view["action"],
                        "score": view["score"],
                        "reasons": view["reasons"],
                        "measures": view["measures"],
                        "messages": view["messages"],
                        "decided_at": view["answered_at"],
                    }
                ]
            )

    def _record_scam_told(self, decision: dict[str, Any], view: dict[str, Any]) -> None:
        """The answers re-enter the engine for what comes next: a scam told in a challenge is a
        scam-victim cue in the event log (a ``contact`` event, as the agent assistant records
        one), so for the next ``scam_cue_hours`` every payment to a new payee is intercepted by
        the rule that reads ``hours_since_scam_cue`` — in every process, and in a replay.
        Idempotent: the event id and time are the stored answer's."""
        event = Event(
            event_id=f"challenge-{decision['decision_id']}",
            type=EventType.contact,
            occurred_at=view["answered_at"],
            customer_id=decision["customer_id"],
            channel="challenge",
            attributes={
                "source": "challenge",
                "conversation_cues": ["scam_victim"],
                "challenge_decision_id": decision["decision_id"],
            },
        )
        self.decisions.decide(event)

    def _settle_hold(self, decision_id: str, release_at: datetime | None) -> None:
        """The answers cleared what held the money: after a takeover-like change the hold waits
        out the cooling-off (its deadline moves to ``release_at``, the deadline sweep releases
        it); otherwise it is released now as an agent's release would be — above the release
        policy's amount that is a proposal a second person confirms, never a bypass."""
        holds = self.cases.holds
        if release_at is not None:
            holds.hold_until(decision_id, release_at, "cooling_off_after_face_check")
            return
        try:
            holds.end(
                decision_id,
                "release",
                CHALLENGE_ACTOR,
                "the customer's answers to the questions cleared the doubt",
            )
        except (NotFound, Conflict):
            pass  # never held, or already ended by the case flow

    def _retry(
        self, decision_id: str, body: ChallengeAnswers, stored: dict[str, Any]
    ) -> dict[str, Any]:
        with self.decisions.db.connect() as conn:
            row = conn.execute(
                select(ChallengeResponse.answers).where(
                    ChallengeResponse.decision_id == decision_id
                )
            ).scalar_one()
        if {k: v for k, v in row.items() if not k.startswith("face_check")} != body.answers:
            raise Conflict(
                f"decision '{decision_id}' was already answered with different answers",
                errors=[FieldError("answers", "already answered differently")],
            )
        return stored
