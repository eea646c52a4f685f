"""The typed contract of the decisions area: what a lender sends (batches, labels, rule sets,
models) and what it reads back (decisions, explanations, versions, reports).

The decision models describe exactly the dicts the service returns (``DecisionService``) and
the decision log stores; the contract test validates every real response against them, so a key
added to a decision must be added here too. Field names are the public API: add, never rename.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from lendguard.decisions.rules.loader import Action, Category, Measure
from lendguard.events.schemas import Event, EventType
from lendguard.kit.money import not_a_boolean
from lendguard.kit.text import TEXT_PATTERN
from lendguard.web.openapi import ProblemField

# The default ``max_batch_events``: the most events (or labels) one request may carry.
MAX_BATCH_ITEMS = 1_000

# A feature's value as a reason quotes it (``FeatureValue``), or the list a listed party is on.
FeatureValue = float | int | str | bool | None

# An event id as the event contract takes it: 1-128 characters, no control characters.
EventId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$"),
]


# Free-form JSON a client sends (a model's card and calibration): keys and strings must hold no
# control character (tab, line feed and carriage return aside), which the edge guard refuses
# (``lendguard.web.guard``). The keys are documented so; the values stay "any JSON" (a recursive
# schema saying it of every nested string is one client generators cannot type).
class _KeysWithoutControlCharacters:
    """Documents an object's keys as text without control characters (``propertyNames``)."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["propertyNames"] = {"pattern": TEXT_PATTERN}
        return schema


FreeObject = Annotated[dict[str, Any], _KeysWithoutControlCharacters()]


# -- events in ----------------------------------------------------------------------------------


class EventBatch(BaseModel):
    """Up to 1,000 events (the ``max_batch_events`` setting), decided in order. Each item is
    checked on its own: an invalid one is refused in its place, the others are decided."""

    model_config = ConfigDict(extra="forbid")

    events: list[Event] = Field(max_length=MAX_BATCH_ITEMS)


# -- decisions out ------------------------------------------------------------------------------


class Reason(BaseModel):
    """One rule (or list) that fired, with the feature values it read."""

    code: str = Field(description="The reason code, e.g. NEW_PAYEE or DENY_LISTED")
    category: Category
    rule_id: str | None = Field(description="The rule's id; null for a list match")
    action: Action = Field(description="The action this rule asked for")
    weight: int
    description: str = Field(description="The rule's internal description (for analysts)")
    values: dict[str, FeatureValue] = Field(
        description="The features the rule read, by name, as they were when it fired"
    )


class CustomerMessage(BaseModel):
    """What to show the customer, in one language."""

    locale: Literal["zh-CN", "en"]
    text: str


class GuardrailNote(BaseModel):
    """A policy guardrail that changed the outcome (e.g. a repayment is never blocked)."""

    code: str
    detail: str


class ModelReason(BaseModel):
    """One of the model's top contributions to its score, with a stable reason code and its
    text in zh-CN and en (a category such as the event type by its name, never a number)."""

    feature: str = Field(description="The model feature (an internal name: show code or texts)")
    code: str = Field(
        description="Stable reason code of the feature (MODEL_...): never renamed or reused",
        examples=["MODEL_AMOUNT_VS_HISTORY"],
    )
    text: str = Field(description="What the model saw, in English: texts['en']")
    texts: dict[Literal["zh-CN", "en"], str] = Field(
        description="What the model saw, per locale, for the customer or an operator"
    )
    value: float | None = Field(description="The feature's value; null when unknown")
    contribution: float

    @model_validator(mode="before")
    @classmethod
    def _current(cls, data: Any) -> Any:
        """A reason stored before the codes (no ``code``) gets its code and texts."""
        from lendguard.decisions.scoring.reason_codes import current

        return current(data) if isinstance(data, dict) else data


class ChallengeOption(BaseModel):
    value: str = Field(description="What the lender's app posts back as the answer")
    text: dict[str, str] = Field(description="What the customer reads, per locale")


class ChallengeQuestion(BaseModel):
    id: str
    kind: Literal["yes_no", "choice", "verification"] = Field(
        description="yes_no and choice are answered by value; verification by the face check's "
        "vendor scores (liveness_score, face_match_score)"
    )
    text: dict[str, str] = Field(description="The question, per locale (zh-CN, en)")
    options: list[ChallengeOption] = Field(default_factory=list)


class Challenge(BaseModel):
    """Bespoke questions the customer answers before the payment or loan goes on (issue #19):
    chosen by the decision's reasons, answered through ``POST /v1/decisions/{id}/challenge``."""

    challenge_id: str
    policy_version: str
    kind: Literal["questions", "verification", "mixed"]
    question_sets: list[str] = Field(description="The question sets asked, for the lender's logs")
    questions: list[ChallengeQuestion]


class FollowUpDecision(BaseModel):
    """The decision the customer's answers to the challenge gave, linked to the first."""

    decision_id: str = Field(description="The follow-up decision's own id")
    follow_up_of: str = Field(description="The first decision's id")
    outcome: Literal["escalated", "passed", "unchanged", "failed"] = Field(
        description="escalated: the answers describe a scam; passed: the answers cleared the "
        "doubt and the action is lower; unchanged: nothing cleared; failed: the face check did "
        "not confirm the customer"
    )
    action: Action
    score: int
    reasons: list[Reason]
    measures: list[Measure]
    messages: list[CustomerMessage]
    release_at: datetime | None = Field(
        description="A cooling-off hold: the payment goes ahead by itself at this instant"
    )
    answered_at: datetime


class HoldNotice(BaseModel):
    """Money held by the decision: until when at most, and what the customer can do."""

    deadline: datetime = Field(
        description="Released automatically at this instant unless the case flow ends it first "
        "(the end of the N-th business day on the jurisdiction's calendar)"
    )
    business_days: int
    jurisdiction: str
    instructions: dict[str, str] = Field(description="For the customer, per locale")


class DecisionEducationLink(BaseModel):
    """Consumer education answering the decision's reasons (an article or a short video)."""

    content_id: str
    kind: Literal["article", "video"]
    topic: str = Field(description="A scam typology, over_borrowing, privacy_rights …")
    title: dict[str, str] = Field(description="Per locale (zh-CN, en)")
    url: str = Field(description="The item's path: GET it with education:read")


class Decision(BaseModel):
    """The decision on one event: the action, why, the measures and the customer's message."""

    decision_id: str
    event_id: str
    customer_id: str = Field(
        description="As stored: an id holding personal information is replaced by its pseudonym"
    )
    event_type: EventType
    occurred_at: datetime
    action: Action
    score: int = Field(description="The rules' combined score (capped by the rule set)")
    model_score: float | None = Field(description="The model's calibrated score; null without one")
    reasons: list[Reason]
    measures: list[Measure]
    messages: list[CustomerMessage] = Field(description="Empty when the action is allow")
    guardrails: list[GuardrailNote]
    ruleset_version: int
    model_version: str | None
    model_reasons: list[ModelReason] | None = Field(
        description="With a model, for an action above allow: its top contributions"
    )
    latency_us: int = Field(description="Microseconds from receipt to decision")
    decided_at: datetime
    challenge: Challenge | None = Field(
        default=None,
        description="At dissuade or more on an outflow, an application, a drawdown or an account "
        "opening: the questions to put to the customer (absent otherwise)",
    )
    follow_up: FollowUpDecision | None = Field(
        default=None, description="Once the challenge is answered: the decision it gave"
    )
    hold: HoldNotice | None = Field(
        default=None,
        description="When the decision holds money (intercept, block or a DELAY measure): the "
        "release deadline and the customer's instructions",
    )
    education: list[DecisionEducationLink] = Field(
        default_factory=list,
        description="At remind or more: up to two content items that answer the reasons, for "
        "the lender's app to show; report their delivery with POST /v1/education/events",
    )


class RefusedItem(BaseModel):
    """Why one event of a batch was refused (it was not decided, nor written)."""

    index: int = Field(description="The event's position in the batch, from 0")
    status: int = Field(description="The status a single event would have got (422, 409, ...)")
    title: str
    detail: str
    errors: list[ProblemField] = Field(
        description="Each offending field, its path prefixed with events.<index>"
    )


class BatchRefusal(BaseModel):
    error: RefusedItem


class BatchDecisions(BaseModel):
    """One entry per event, in order: its decision, or why it was refused."""

    decisions: list[Decision | BatchRefusal]


class CustomerDecisions(BaseModel):
    customer_id: str
    decisions: list[Decision] = Field(description="Newest first")


class ExplainedReason(BaseModel):
    code: str
    text: str


class Explanation(BaseModel):
    """A decision explained in words the customer reads (PIPL Art. 24)."""

    decision_id: str
    locale: Literal["zh-CN", "en"]
    action: Action
    reasons: list[ExplainedReason]
    text: str
    ruleset_version: int
    model_version: str | None


# -- labels -------------------------------------------------------------------------------------


class Label(BaseModel):
    """An outcome learned after the decision: 1 fraud, 0 legitimate."""

    model_config = ConfigDict(extra="forbid")

    event_id: EventId
    label: Annotated[Literal[0, 1], BeforeValidator(not_a_boolean)] = Field(
        description="1 fraud, 0 legitimate (not a boolean)"
    )


class LabelsUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labels: list[Label] = Field(max_length=MAX_BATCH_ITEMS)


class LabelResult(BaseModel):
    """One label's outcome, in the order sent: its id, or why it was not recorded."""

    index: int
    event_id: str | None = Field(default=None, description="Present when recorded")
    label_id: int | None = Field(default=None, description="Present when recorded")
    error: str | None = Field(default=None, description="Present when not recorded")


class LabelResults(BaseModel):
    labels: list[LabelResult]


# -- rule sets ----------------------------------------------------------------------------------


class RuleSetUpload(BaseModel):
    """A rule set as JSON; the same YAML may be sent as the body itself (``application/yaml``
    or ``text/*``)."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, description="The rule set as YAML text")
    file: str = Field(
        default="upload.yaml",
        min_length=1,
        max_length=200,
        description="The file name findings are reported against",
    )


class RuleSetValidation(BaseModel):
    valid: Literal[True]
    name: str
    rule_count: int
    features: list[str] = Field(description="The features the rule set reads, sorted")


class RuleSetVersion(BaseModel):
    """A stored rule-set version (without its source)."""

    version: int
    name: str
    description: str
    sha256: str
    rule_count: int
    created_at: datetime
    created_by: str
    active: bool


class RuleSetList(BaseModel):
    active_version: int | None
    rulesets: list[RuleSetVersion] = Field(description="Oldest first")


class ShadowState(BaseModel):
    version: int
    shadow: bool = Field(description="Whether the version now runs in shadow")


class ShadowDifference(BaseModel):
    """A live event the shadow version decided differently."""

    event_id: str
    decision_id: str
    live_ruleset_version: int
    live_action: Action
    action: Action
    score: int
    reasons: list[Reason]
    decided_at: datetime


class ShadowReport(BaseModel):
    version: int
    running: bool
    events: int
    live_actions: dict[str, int] = Field(description="Events per live action")
    shadow_actions: dict[str, int] = Field(description="Events per shadow action")
    differences: int
    by_transition: dict[str, int] = Field(description="Counts keyed 'live->shadow'")
    stricter: int = Field(description="Differences where the shadow version was stricter")
    examples: list[ShadowDifference] = Field(description="Newest first")


# -- models -------------------------------------------------------------------------------------


class ModelUpload(BaseModel):
    """A trained model: LightGBM text, calibration and card (``lendguard model train`` output)."""

    model_config = ConfigDict(extra="forbid")

    booster: str = Field(min_length=1, description="The LightGBM booster as text")
    calibration: FreeObject
    card: FreeObject


class RegisteredModel(BaseModel):
    version: int
    kind: str
    sha256: str
    features: int = Field(description="How many features the model reads")
    active: bool


class ModelVersion(BaseModel):
    """A stored model version (without its booster text and calibration)."""

    version: int
    kind: str
    card: dict[str, Any]
    sha256: str
    created_at: datetime
    created_by: str
    active: bool


class ModelList(BaseModel):
    active_version: int | None
    models: list[ModelVersion] = Field(description="Oldest first")


class ModelActivation(BaseModel):
    version: int
    active: Literal[True]


class ChallengerState(BaseModel):
    version: int
    challenger: bool = Field(description="Whether the model now runs as the challenger")


class ScoreSummary(BaseModel):
    n: int
    mean: float | None = Field(default=None, description="Absent when n is 0")
    share_at_or_above: dict[str, float] | None = Field(
        default=None, description="Share of scores at or above 0.5, 0.8 and 0.95"
    )


class ScoreMetrics(BaseModel):
    roc_auc: float
    auprc: float
    recall_at_fpr: dict[str, float]
    n: int
    positives: int


class MetricsUnavailable(BaseModel):
    error: str


class ChallengerQuality(BaseModel):
    labelled_events: int
    champion: ScoreMetrics | MetricsUnavailable
    challenger: ScoreMetrics | MetricsUnavailable


class ChallengerReport(BaseModel):
    challenger_version: int
    running: bool
    events: int
    champion_versions: list[int]
    champion: ScoreSummary
    challenger: ScoreSummary
    agreement: dict[str, float] | None = Field(
        default=None, description="With paired scores: agreement at 0.5, 0.8 and 0.95"
    )
    correlation: float | None = Field(default=None, description="When both scores vary")
    quality: ChallengerQuality | None = Field(default=None, description="Once labels arrived")
