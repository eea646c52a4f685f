"""HTTP endpoints of consumer education (issue #21): the content library and quizzes the
lender's app shows (``education:read``), what it reports back (``education:write``: deliveries,
openings, completions and quiz answers, idempotent by ``event_id``), the content attached to a
stored decision or a case, and the reach figures (``reports:read``).

Routes are plain ``def``: FastAPI runs them on a worker thread, off the event loop."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request

from lendguard.auth.dependencies import require
from lendguard.auth.service import Principal, Scope
from lendguard.config import known_time_zone
from lendguard.education.reach import reach_metrics
from lendguard.education.schemas import (
    EducationContent,
    EducationContentList,
    EducationEventBatch,
    EducationEventBatchResult,
    EducationEventBody,
    EducationEventView,
    EducationLinks,
    EducationQuiz,
    EducationQuizAnswerBody,
    EducationQuizResult,
    ReachMetrics,
)
from lendguard.education.service import EducationService
from lendguard.errors import FieldError, ValidationFailed
from lendguard.kit.bounds import PlausibleDate
from lendguard.web.body import json_body
from lendguard.web.openapi import problems

router = APIRouter(prefix="/v1/education")

TAG = "education"
# The longest period one reach query covers (a leap year), as the report.
MAX_DAYS = 366

Reader = Annotated[Principal, Depends(require(Scope.education_read))]
Writer = Annotated[Principal, Depends(require(Scope.education_write))]
ReportReader = Annotated[Principal, Depends(require(Scope.reports_read))]

_KEY = r"^[a-z0-9][a-z0-9_-]*$"
Topic = Annotated[str, Path(min_length=1, max_length=64, pattern=_KEY, description="a topic")]
ContentId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=_KEY, description="a content item's id")
]
RecordId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$", description="an id")
]


def education_service(request: Request) -> EducationService:
    decisions = request.app.state.services.decisions
    return EducationService(decisions.db, decisions.pii_key)


Education = Annotated[EducationService, Depends(education_service)]


@router.get(
    "/content",
    tags=[TAG],
    summary="The content library: articles and short videos per topic, in zh-CN and en",
    response_model=EducationContentList,
)
def list_content(
    _: Reader,
    education: Education,
    topic: Annotated[str | None, Query(min_length=1, max_length=64, pattern=_KEY)] = None,
    kind: Annotated[Literal["article", "video"] | None, Query()] = None,
    locale: Annotated[Literal["zh-CN", "en"] | None, Query()] = None,
) -> object:
    return education.contents(topic, kind, locale)


@router.get(
    "/content/{content_id}",
    tags=[TAG],
    summary="One content item in both locales",
    response_model=EducationContent,
    responses=problems(404),
)
def get_content(content_id: ContentId, _: Reader, education: Education) -> object:
    return education.content(content_id)


@router.get(
    "/quizzes/{topic}",
    tags=[TAG],
    summary="A topic's quiz as the customer sees it (without the answers)",
    response_model=EducationQuiz,
    responses=problems(404),
)
def get_quiz(topic: Topic, _: Reader, education: Education) -> object:
    return education.quiz(topic)


@router.get(
    "/for-decision/{decision_id}",
    tags=[TAG],
    summary="The content that answers a stored decision's reasons",
    response_model=EducationLinks,
    responses=problems(404),
)
def for_decision(decision_id: RecordId, _: Reader, education: Education) -> object:
    return education.for_decision(decision_id)


@router.get(
    "/for-case/{case_id}",
    tags=[TAG],
    summary="The content for a case's outreach: its scam type first, then its decisions' reasons",
    response_model=EducationLinks,
    responses=problems(404),
)
def for_case(case_id: RecordId, _: Reader, education: Education) -> object:
    return education.for_case(case_id)


@router.post(
    "/events",
    tags=[TAG],
    summary="Report a delivery, opening or completion of a content item (idempotent by event_id)",
    response_model=EducationEventView,
    responses=problems(409),
)
def record_event(
    principal: Writer,
    education: Education,
    body: Annotated[EducationEventBody, json_body(EducationEventBody, "invalid education event")],
) -> object:
    return education.record_event(body, principal.actor)


@router.post(
    "/events/batch",
    tags=[TAG],
    summary="Report up to 1000 events at once: all are validated first, none is recorded "
    "when one is bad",
    response_model=EducationEventBatchResult,
    responses=problems(409),
)
def record_events(
    principal: Writer,
    education: Education,
    body: Annotated[
        EducationEventBatch, json_body(EducationEventBatch, "invalid education events")
    ],
) -> object:
    views = education.record_events(body.events, principal.actor)
    replayed = sum(1 for v in views if v["replayed"])
    return {"recorded": len(views) - replayed, "replayed": replayed, "events": views}


@router.post(
    "/quizzes/{topic}/answers",
    tags=[TAG],
    summary="Record a customer's answers to a topic's quiz: scored, with each explanation "
    "(idempotent by event_id)",
    response_model=EducationQuizResult,
    responses=problems(404, 409),
)
def answer_quiz(
    topic: Topic,
    principal: Writer,
    education: Education,
    body: Annotated[
        EducationQuizAnswerBody, json_body(EducationQuizAnswerBody, "invalid quiz answers")
    ],
) -> object:
    return education.answer_quiz(topic, body, principal.actor)


def period(from_date: date, to_date: date, zone: str) -> tuple[datetime, datetime]:
    """Calendar days ``from`` … ``to`` (both included) in ``zone`` as ``[start, end)``; 422
    naming the field when reversed, too long or in an unknown zone."""
    if from_date > to_date:
        raise ValidationFailed(
            "the period is empty", errors=[FieldError("query.from", "must not be after to")]
        )
    if (to_date - from_date).days + 1 > MAX_DAYS:
        raise ValidationFailed(
            "the period is too long",
            errors=[FieldError("query.from", f"at most {MAX_DAYS} days up to to")],
        )
    try:
        tz = ZoneInfo(known_time_zone(zone))
    except ValueError as exc:
        raise ValidationFailed(
            "unknown time zone", errors=[FieldError("query.zone", str(exc))]
        ) from exc
    start = datetime.combine(from_date, datetime.min.time(), tz)
    end = datetime.combine(to_date + timedelta(days=1), datetime.min.time(), tz)
    return start, end


@router.get(
    "/reach",
    tags=[TAG],
    summary="Education's reach over calendar days: customers reached, opened, completed, by "
    "channel, age band and topic; quizzes; later scams (observational, with its caveat)",
    description="Calendar days `from` … `to` (both included, at most 366) counted in `zone` "
    "(an IANA name).",
    response_model=ReachMetrics,
)
def reach(
    request: Request,
    _: ReportReader,
    from_date: Annotated[PlausibleDate, Query(alias="from", description="YYYY-MM-DD")],
    to_date: Annotated[PlausibleDate, Query(alias="to", description="YYYY-MM-DD")],
    zone: Annotated[
        str, Query(min_length=1, max_length=64, description="IANA time zone")
    ] = "Asia/Shanghai",
) -> object:
    start, end = period(from_date, to_date, zone)
    services = request.app.state.services
    return reach_metrics(services.decisions.db, start, end, services.settings.elderly_age)
