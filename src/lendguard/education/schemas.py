"""Consumer education's API bodies and the reach figures (issue #21).

:class:`ReachMetrics` is also a section of the protection report (``lendguard.reporting``):
the report renders it as it is, with the definitions in :data:`REACH_DEFINITIONS`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from lendguard.events.schemas import Identifier
from lendguard.kit.bounds import Instant

LocalText = dict[str, str]
"""A text per locale: ``{"zh-CN": …, "en": …}``."""


class ReachGroup(BaseModel):
    """Reach within one group (a channel, an age band or a topic)."""

    key: str = Field(description="The channel, age band or topic")
    reached: int = Field(description="Unique customers with at least one delivery")
    opened: int = Field(description="Of them, customers who opened at least one item")
    completed: int = Field(description="Of them, customers who completed at least one item")
    completion_rate: float | None = Field(description="completed / reached; null when none")


class QuizFigures(BaseModel):
    answers: int = Field(description="Quiz answers recorded in the period")
    customers: int = Field(description="Unique customers who answered")
    passed: int = Field(description="Answers that passed the topic's mark")
    pass_rate: float | None


class LaterScams(BaseModel):
    """Whether reached customers were later scammed less: customers who completed an item
    against customers with an intervention in the period who were never reached, each counted
    scammed when a confirmed scam (a case confirmed as a scam, or a fraud label on an outflow
    they made as a victim) follows their first delivery (or their first intervention) within
    the follow-up window. Observational: the groups differ in who gets education."""

    follow_up_days: int
    reached_customers: int
    reached_scammed: int
    reached_rate: float | None
    comparison_customers: int
    comparison_scammed: int
    comparison_rate: float | None
    caveat: LocalText = Field(description="Why the difference is not the effect of education")


class ReachMetrics(BaseModel):
    """Education's reach over a period (deliveries, openings and completions that occurred in
    it)."""

    customers_reached: int
    customers_opened: int
    customers_completed: int
    completion_rate: float | None
    deliveries: int
    openings: int
    completions: int
    by_channel: list[ReachGroup]
    by_age_band: list[ReachGroup]
    by_topic: list[ReachGroup]
    quiz: QuizFigures
    later_scams: LaterScams


# -- the content library and its links ------------------------------------------------------------


class EducationLink(BaseModel):
    """A content item attached to a decision or a case's outreach."""

    content_id: str
    kind: Literal["article", "video"]
    topic: str
    title: LocalText
    url: str = Field(description="The item's path: GET it with education:read")


class EducationLinks(BaseModel):
    """The content that answers a stored decision's or a case's reasons."""

    decision_id: str | None = None
    case_id: str | None = None
    typology: str | None = Field(default=None, description="The case's scam type, when known")
    reason_codes: list[str]
    links: list[EducationLink]


class EducationContent(BaseModel):
    """One content item in both locales (``body`` for an article; ``duration_s`` and
    ``transcript_summary`` for a video)."""

    id: str
    kind: Literal["article", "video"]
    topic: str
    version: int
    library_version: int
    locales: list[str]
    typologies: list[str]
    reason_codes: list[str]
    title: LocalText
    summary: LocalText
    body: LocalText | None = None
    duration_s: int | None = None
    transcript_summary: LocalText | None = None


class EducationContentList(BaseModel):
    library_version: int
    items: list[EducationContent]


class EducationQuizOption(BaseModel):
    id: str
    text: LocalText


class EducationQuizQuestion(BaseModel):
    """A question as the customer sees it: no correct option, no explanation."""

    id: str
    text: LocalText
    options: list[EducationQuizOption]


class EducationQuiz(BaseModel):
    topic: str
    version: int
    pass_mark: int = Field(description="Correct answers needed to pass")
    questions: list[EducationQuizQuestion]


# -- what the lender's app reports ----------------------------------------------------------------

ContentKind = Literal["delivered", "opened", "completed"]
EducationChannel = Literal["app", "sms", "push", "email", "call", "in_person"]


class EducationEventView(BaseModel):
    """A recorded delivery, opening or completion (the first one recorded for its event_id)."""

    event_id: str
    content_id: str
    topic: str = Field(description="The content's topic, copied from the library")
    kind: ContentKind
    channel: EducationChannel
    occurred_at: datetime
    received_at: datetime
    decision_id: str | None
    case_id: str | None
    replayed: bool = Field(description="true: this event_id was recorded before (same body)")


class EducationEventBatchResult(BaseModel):
    recorded: int = Field(description="Events recorded by this batch")
    replayed: int = Field(description="Events already recorded with the same body")
    events: list[EducationEventView]


class EducationQuestionResult(BaseModel):
    question_id: str
    chosen: str | None = Field(description="The option chosen; null when unanswered")
    correct_option: str
    correct: bool
    explanation: LocalText


class EducationQuizResult(BaseModel):
    event_id: str
    topic: str
    quiz_version: int
    correct: int
    questions: int
    pass_mark: int
    passed: bool
    results: list[EducationQuestionResult]
    answered_at: datetime
    replayed: bool = Field(description="true: this event_id was recorded before (same body)")


# -- request bodies -------------------------------------------------------------------------------

# Reported instants: not before 2000, not later than now by more than this (the app's clock).
EARLIEST_REPORTED = datetime(2000, 1, 1, tzinfo=UTC)
REPORT_CLOCK_SKEW = timedelta(minutes=10)
MAX_BATCH_EVENTS = 1000
MAX_QUIZ_ANSWERS = 10


def _reported_instant(value: datetime) -> datetime:
    if value < EARLIEST_REPORTED:
        raise ValueError("must not lie before 2000-01-01")
    if value > datetime.now(UTC) + REPORT_CLOCK_SKEW:
        raise ValueError("must not lie in the future")
    return value


ReportedInstant = Annotated[
    Instant,
    AfterValidator(_reported_instant),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": r"^20[0-9][0-9]-"}),
]
"""An aware instant between 2000 and now (a few minutes allowed for the app's clock)."""
ContentId = Annotated[Identifier, Field(min_length=1, max_length=64)]
RecordId = Annotated[Identifier, Field(min_length=1, max_length=64)]
_SHORT_KEY = r"^[a-z0-9][a-z0-9_-]*$"
ShortKey = Annotated[str, Field(min_length=1, max_length=64, pattern=_SHORT_KEY)]


def _answers_schema(schema: dict[str, Any]) -> None:
    """Keys and values both short keys, stated so a client knows (pydantic's own form allows
    any other key)."""
    key = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": _SHORT_KEY}
    schema.pop("patternProperties", None)
    schema["propertyNames"] = {k: v for k, v in key.items() if k != "type"}
    schema["additionalProperties"] = key


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EducationEventBody(_Body):
    """One delivery, opening or completion of a content item, reported by the lender's app."""

    event_id: Identifier = Field(min_length=1, max_length=128, description="Idempotency key")
    customer_id: Identifier = Field(min_length=1, max_length=128)
    content_id: ContentId
    kind: ContentKind
    channel: EducationChannel
    occurred_at: ReportedInstant
    decision_id: RecordId | None = None
    case_id: RecordId | None = None


class EducationEventBatch(_Body):
    events: list[EducationEventBody] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)


class EducationQuizAnswerBody(_Body):
    """One customer's answers to a topic's quiz (``answers``: question id → option id)."""

    event_id: Identifier = Field(min_length=1, max_length=128, description="Idempotency key")
    customer_id: Identifier = Field(min_length=1, max_length=128)
    quiz_version: int = Field(ge=1, le=1_000_000)
    answers: dict[ShortKey, ShortKey] = Field(
        min_length=1,
        max_length=MAX_QUIZ_ANSWERS,
        description="Question id -> the option id chosen",
        json_schema_extra=_answers_schema,
    )
    channel: EducationChannel = "app"
    answered_at: ReportedInstant
