"""The typed contract of ``POST /v1/assistant/analyze``: the message an agent sends, and the
analysis and effects that come back. Each warning kind has its own model (``kind`` tells them
apart), so a generated client reads a crisis warning's hotlines or a scam warning's score
without guessing."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from lendguard.decisions.rules.loader import Action
from lendguard.kit.bounds import Instant

MAX_TEXT = 4_000

# An identifier never holds a control character, tab and line feed included (as in events:
# the customer and conversation ids go into the contact event the engine decides).
IDENTIFIER_PATTERN = "^[^\\u0000-\\u001f\\u007f]*$"

Locale = Literal["zh-CN", "en"]

# -- the request -----------------------------------------------------------------------------------


class AnalyzeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(min_length=1, max_length=128, pattern=IDENTIFIER_PATTERN)
    text: str = Field(min_length=1, max_length=MAX_TEXT, description="never logged nor stored")
    locale: Locale | None = Field(
        default=None, description="zh-CN or en; detected from the text when absent"
    )
    conversation_id: str | None = Field(
        default=None, min_length=1, max_length=128, pattern=IDENTIFIER_PATTERN
    )
    jurisdiction: Literal["CN", "UK", "US"] | None = Field(
        default=None,
        description="where the customer is, for the crisis hotlines; by the locale when absent",
    )
    occurred_at: Instant | None = Field(
        default=None, description="when the customer said it (default: now)"
    )


# -- the analysis ----------------------------------------------------------------------------------


class IntentAlternative(BaseModel):
    name: str
    confidence: float


class IntentPrediction(BaseModel):
    name: str
    confidence: float
    margin: float
    abstained: bool = Field(description="too unsure: a human answers")
    abstain_reason: str | None
    alternatives: list[IntentAlternative]


class SuggestedAnswer(BaseModel):
    """A passage of the knowledge base suggested to the agent."""

    article_id: str
    locale: Locale
    title: str
    passage: str
    score: float
    why: str = Field(description="the warning it answers, or how it was found")


class CueReason(BaseModel):
    kind: str
    cue: str
    reason: str = Field(description="in the analysis' locale")
    evidence: str | None = Field(description="the words that matched, when a pattern did")


class AgentHotline(BaseModel):
    jurisdiction: str
    kind: Literal["hotline", "emergency"]
    name: str
    number: str
    hours: str | None = Field(default=None, description="absent when it always answers")


class AgentScript(BaseModel):
    locale: Locale
    title: str
    steps: list[str]


class CrisisWarning(BaseModel):
    """The customer spoke of ending their life: an urgent hand-off, first on the screen."""

    kind: Literal["crisis"]
    urgent: bool
    cues: list[str]
    reasons: list[CueReason]
    action: str
    script: AgentScript
    hotlines: list[AgentHotline]


class ScamWarning(BaseModel):
    kind: Literal["scam_victim"]
    score: float
    scam_type: str
    reasons: list[CueReason]
    action: str


class VulnerabilityWarning(BaseModel):
    kind: Literal["vulnerability"]
    cues: list[str]
    reasons: list[CueReason]
    action: str


class ComplaintWarning(BaseModel):
    kind: Literal["complaint"]
    reasons: list[CueReason]
    action: str


AssistantWarning = Annotated[
    CrisisWarning | ScamWarning | VulnerabilityWarning | ComplaintWarning,
    Field(discriminator="kind"),
]


class ScamAssessment(BaseModel):
    cue: bool = Field(description="a scam-victim warning was raised")
    score: float = Field(description="the higher of the rules' and the model's")
    rule_score: float
    model_score: float | None = Field(description="null without a trained text model")
    type: str
    cues: list[str]


# -- the effects -----------------------------------------------------------------------------------


class FlagChange(BaseModel):
    set: bool = Field(description="raised by this request")
    already: bool = Field(description="was raised before")


class CrisisEffect(BaseModel):
    case_id: str
    case_opened: bool = Field(description="false: the cue joined the customer's open one")
    marketing_suppressed: FlagChange
    collection_paused: FlagChange


class ScamCueDecision(BaseModel):
    """The contact event decided for a scam-victim warning (cue names only, never the text)."""

    event_id: str
    decision_id: str
    action: Action
    occurred_at: datetime
    replayed: bool = Field(description="the same message again: the first decision stands")


class RescueEffect(BaseModel):
    flag: Literal["marketing_suppressed"]
    set: bool
    already: bool
    flag_id: int | None = Field(default=None, description="present when raised now")


class AnalysisEffects(BaseModel):
    crisis: CrisisEffect | None
    decision: ScamCueDecision | None
    rescue: RescueEffect | None


class AnalyzeResponse(BaseModel):
    customer_id: str
    conversation_id: str | None
    locale: Locale
    intent: IntentPrediction
    handoff: bool = Field(description="a human takes over")
    urgent: bool = Field(description="now (a crisis cue), not when the queue gets to it")
    answers: list[SuggestedAnswer]
    warnings: list[AssistantWarning] = Field(description="most urgent first")
    scam: ScamAssessment
    vulnerability: list[str]
    crisis: list[str]
    complaint: bool
    models: dict[str, str] = Field(description="which intent, scam and answer models ran")
    effects: AnalysisEffects
