"""Consumer education's service: what the lender's app reports (deliveries, openings,
completions, quiz answers), the library as the app reads it, and the content attached to a
stored decision or a case.

Reports are idempotent by the app's ``event_id``: the same report again is answered with the
first one (``replayed``), a different report under the same id is a 409 and changes nothing. A
batch is validated whole before anything is written: one bad or conflicting event and no row
is left. The customer id is stored as the events store it (its pseudonym when it holds personal
information), so education meets the customer's decisions, cases and profile.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from lendguard.decisions.policy import epoch_seconds
from lendguard.education.library import ContentItem, Library, Quiz, education_for, library
from lendguard.education.repository import education_repository as repo
from lendguard.education.schemas import (
    EducationContent,
    EducationContentList,
    EducationEventBody,
    EducationLinks,
    EducationQuiz,
    EducationQuizAnswerBody,
)
from lendguard.errors import Conflict, FieldError, NotFound, ValidationFailed
from lendguard.privacy import intake

# Fields of an event that must be equal for a repeated event_id to be the same report.
_SAME_EVENT = ("customer_id", "content_id", "kind", "channel", "decision_id", "case_id")
_ATTEMPTS = 3


def _utc(moment: datetime) -> datetime:
    """A stored instant with its zone (SQLite gives back what was written without it)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def content_view(item: ContentItem, lib: Library) -> EducationContent:
    return EducationContent(library_version=lib.version, **item.model_dump())


def quiz_view(quiz: Quiz) -> EducationQuiz:
    """The quiz as the customer sees it: without the correct options and explanations."""
    return EducationQuiz.model_validate(
        {
            "topic": quiz.topic,
            "version": quiz.version,
            "pass_mark": quiz.pass_mark,
            "questions": [
                {
                    "id": q.id,
                    "text": q.text,
                    "options": [{"id": o.id, "text": o.text} for o in q.options],
                }
                for q in quiz.questions
            ],
        }
    )


def event_view(row: dict[str, Any], replayed: bool) -> dict[str, Any]:
    return {
        "event_id": row["event_id"],
        "content_id": row["content_id"],
        "topic": row["topic"],
        "kind": row["kind"],
        "channel": row["channel"],
        "occurred_at": _utc(row["occurred_at"]),
        "received_at": _utc(row["received_at"]),
        "decision_id": row["decision_id"],
        "case_id": row["case_id"],
        "replayed": replayed,
    }


def _same_event(stored: dict[str, Any], new: dict[str, Any]) -> bool:
    if any(stored[k] != new[k] for k in _SAME_EVENT):
        return False
    return epoch_seconds(_utc(stored["occurred_at"])) == epoch_seconds(new["occurred_at"])


class EducationService:
    """``clock`` gives "now" (tests pin it); ``lib`` replaces the shipped library (tests)."""

    def __init__(
        self,
        engine: Engine,
        pii_key: bytes,
        clock: Callable[[], datetime] | None = None,
        lib: Library | None = None,
    ) -> None:
        self.db = engine
        self.pii_key = pii_key
        self.clock = clock or (lambda: datetime.now(UTC))
        self.lib = lib or library()

    # -- the library -------------------------------------------------------------------------

    def contents(
        self, topic: str | None = None, kind: str | None = None, locale: str | None = None
    ) -> EducationContentList:
        """The library's items, filtered; every item carries both locales, so ``locale`` keeps
        the items published in it (all of them today)."""
        items = [
            content_view(i, self.lib)
            for i in self.lib.items
            if (topic is None or i.topic == topic)
            and (kind is None or i.kind == kind)
            and (locale is None or locale in i.locales)
        ]
        return EducationContentList(library_version=self.lib.version, items=items)

    def content(self, content_id: str) -> EducationContent:
        item = self.lib.by_id.get(content_id)
        if item is None:
            raise NotFound(
                "no such content",
                errors=[FieldError("content_id", "no content item with this id")],
            )
        return content_view(item, self.lib)

    def _quiz(self, topic: str) -> Quiz:
        quiz = self.lib.quiz_by_topic.get(topic)
        if quiz is None:
            raise NotFound("no such quiz", errors=[FieldError("topic", "no quiz for this topic")])
        return quiz

    def quiz(self, topic: str) -> EducationQuiz:
        return quiz_view(self._quiz(topic))

    # -- attached to decisions and cases -----------------------------------------------------

    def for_decision(self, decision_id: str, limit: int = 2) -> EducationLinks:
        with self.db.connect() as conn:
            row = repo.decision(conn, decision_id)
        if row is None:
            raise NotFound(
                "no such decision", errors=[FieldError("decision_id", "no decision with this id")]
            )
        reasons = list(row["reasons"] or [])
        links = education_for(reasons, None, limit, self.lib)
        return EducationLinks(
            decision_id=decision_id, reason_codes=_codes(reasons), links=links, typology=None
        )

    def for_case(self, case_id: str, limit: int = 2) -> EducationLinks:
        with self.db.connect() as conn:
            case = repo.case(conn, case_id)
            if case is None:
                raise NotFound(
                    "no such case", errors=[FieldError("case_id", "no case with this id")]
                )
            filed = repo.case_reasons(conn, case_id)
        reasons = [r for decision in filed for r in decision]
        typology = case["scam_type"] or (
            case["case_type"] if case["case_type"] in self.lib.quiz_by_topic else None
        )
        links = education_for(reasons, typology, limit, self.lib)
        return EducationLinks(
            case_id=case_id, typology=typology, reason_codes=_codes(reasons), links=links
        )

    # -- what the app reports ----------------------------------------------------------------

    def record_event(self, body: EducationEventBody, actor: str) -> dict[str, Any]:
        return self.record_events([body], actor, prefix="")[0]

    def record_events(
        self, bodies: Sequence[EducationEventBody], actor: str, prefix: str = "events."
    ) -> list[dict[str, Any]]:
        """Record each event (all or nothing); the views in the order given. ``prefix`` names
        the fields of a batch's events (``events.3.content_id``); a single event has none."""
        now = self.clock()
        rows = [self._event_row(b, i, prefix, now, actor) for i, b in enumerate(bodies)]
        first: dict[str, int] = {}
        for i, row in enumerate(rows):
            j = first.setdefault(row["event_id"], i)
            if j != i and not _same_event(rows[j], row):
                raise Conflict(
                    "the batch holds two different events under one event_id",
                    errors=[FieldError(_name(prefix, i, "event_id"), "repeated with another body")],
                )
        for attempt in range(_ATTEMPTS):
            try:
                return self._write_events(rows, prefix)
            except IntegrityError:
                # another request recorded one of these event ids meanwhile: read it again
                if attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _event_row(
        self, body: EducationEventBody, index: int, prefix: str, now: datetime, actor: str
    ) -> dict[str, Any]:
        item = self.lib.by_id.get(body.content_id)
        if item is None:
            raise ValidationFailed(
                "unknown content",
                errors=[
                    FieldError(_name(prefix, index, "content_id"), "no content item with this id")
                ],
            )
        return {
            "event_id": body.event_id,
            "customer_id": intake.stored_identifier(body.customer_id, self.pii_key),
            "content_id": item.id,
            "topic": item.topic,
            "kind": body.kind,
            "channel": body.channel,
            "decision_id": body.decision_id,
            "case_id": body.case_id,
            "occurred_at": body.occurred_at.astimezone(UTC),
            "received_at": now,
            "recorded_by": actor[:128],
        }

    def _write_events(self, rows: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
        with self.db.begin() as conn:
            stored = repo.events_by_id(conn, (r["event_id"] for r in rows))
            for i, row in enumerate(rows):
                earlier = stored.get(row["event_id"])
                if earlier is not None and not _same_event(earlier, row):
                    raise Conflict(
                        "this event_id was recorded with another body",
                        errors=[
                            FieldError(_name(prefix, i, "event_id"), "recorded with another body")
                        ],
                    )
            new: list[dict[str, Any]] = []
            seen: set[str] = set(stored)
            for row in rows:
                if row["event_id"] not in seen:
                    seen.add(row["event_id"])
                    new.append(row)
            repo.insert_events(conn, new)
        added = {r["event_id"] for r in new}
        views = []
        done: set[str] = set()
        for row in rows:
            eid = row["event_id"]
            fresh = eid in added and eid not in done
            done.add(eid)
            views.append(event_view(stored.get(eid, row), replayed=not fresh))
        return views

    def answer_quiz(self, topic: str, body: EducationQuizAnswerBody, actor: str) -> dict[str, Any]:
        """Score the answers against the topic's quiz, record them, return the result with each
        question's explanation. A question left out counts as wrong."""
        quiz = self._quiz(topic)
        if body.quiz_version != quiz.version:
            raise ValidationFailed(
                "unknown quiz version",
                errors=[FieldError("quiz_version", f"the quiz of this topic is {quiz.version}")],
            )
        questions = {q.id: q for q in quiz.questions}
        for qid, option in body.answers.items():
            question = questions.get(qid)
            if question is None:
                raise ValidationFailed(
                    "unknown question", errors=[FieldError(f"answers.{qid}", "no such question")]
                )
            if option not in {o.id for o in question.options}:
                raise ValidationFailed(
                    "unknown option", errors=[FieldError(f"answers.{qid}", "no such option")]
                )
        results = [
            {
                "question_id": q.id,
                "chosen": body.answers.get(q.id),
                "correct_option": q.correct,
                "correct": body.answers.get(q.id) == q.correct,
                "explanation": q.explanation,
            }
            for q in quiz.questions
        ]
        correct = sum(1 for r in results if r["correct"])
        row: dict[str, Any] = {
            "event_id": body.event_id,
            "customer_id": intake.stored_identifier(body.customer_id, self.pii_key),
            "topic": quiz.topic,
            "quiz_version": quiz.version,
            "answers": dict(body.answers),
            "correct": correct,
            "questions": len(quiz.questions),
            "passed": correct >= quiz.pass_mark,
            "channel": body.channel,
            "answered_at": body.answered_at.astimezone(UTC),
            "received_at": self.clock(),
            "recorded_by": actor[:128],
        }
        replayed = False
        for attempt in range(_ATTEMPTS):
            try:
                with self.db.begin() as conn:
                    stored = repo.answer_by_id(conn, body.event_id)
                    if stored is None:
                        repo.insert_answer(conn, row)
                    else:
                        if not _same_answer(stored, row):
                            raise Conflict(
                                "this event_id was recorded with other answers",
                                errors=[FieldError("event_id", "recorded with another body")],
                            )
                        replayed = True
                        row = stored
                break
            except IntegrityError:
                if attempt == _ATTEMPTS - 1:
                    raise
        return {
            "event_id": row["event_id"],
            "topic": row["topic"],
            "quiz_version": row["quiz_version"],
            "correct": row["correct"],
            "questions": row["questions"],
            "pass_mark": quiz.pass_mark,
            "passed": bool(row["passed"]),
            "results": results,
            "answered_at": _utc(row["answered_at"]),
            "replayed": replayed,
        }


def _same_answer(stored: dict[str, Any], new: dict[str, Any]) -> bool:
    keys = ("customer_id", "topic", "quiz_version", "answers", "channel")
    if any(stored[k] != new[k] for k in keys):
        return False
    return epoch_seconds(_utc(stored["answered_at"])) == epoch_seconds(new["answered_at"])


def _name(prefix: str, index: int, field: str) -> str:
    return f"{prefix}{index}.{field}" if prefix else field


def _codes(reasons: list[Any]) -> list[str]:
    out: list[str] = []
    for r in reasons:
        code = r.get("code") if isinstance(r, dict) else r
        if isinstance(code, str) and code not in out:
            out.append(code)
    return out
