"""The typed contract of the cases area: what the case, list, snooze and model-monitoring
endpoints accept and answer.

Response models name every key :class:`~lendguard.cases.service.CaseService` (and the services
the lists read) return, with the real optionality: the OpenAPI contract is generated from them
and the contract test checks real responses against it, so a client generated from the spec
reads exactly what the service sends. A key sent only sometimes (a crisis case's hotlines) is
optional here and left out of the JSON when absent, as before."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lendguard.cases.flow import CaseState
from lendguard.decisions.schemas import Decision
from lendguard.kit.bounds import Instant

MAX_TEXT = 4000

# The control characters the edge guard refuses in every JSON string (tab, line feed and
# carriage return aside; ``kit.text.TEXT_PATTERN`` is the whole-string form): a field with a
# pattern of its own must say so itself, as the patterns below do.
CONTROL = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f"
_ALLOWED = f"[^{CONTROL}]"

# What ``str.strip`` removes (Python's \s, with the ``python-re`` engine): a text of only
# these is refused as blank by the services that strip.
NOT_BLANK = f"^{_ALLOWED}*[^\\s{CONTROL}]{_ALLOWED}*$"

# What a reader cannot see: blanks, control and format characters of the Basic Multilingual
# Plane (Unicode 14, Python 3.11's ``unicodedata``; ``tests/cases/test_case_schemas.py`` checks
# it against the running Python). The case service refuses a note of only these (``_blank``): a
# zero-width space is no note. The few format characters beyond the BMP (musical and tag
# controls) are left to the service's own check: a pattern naming them would read differently
# in ECMAScript, the dialect a generated client uses.
INVISIBLE = (
    r"\u0000-\u0020\u007f-\u00a0\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2"
    r"\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u2064\u2066-\u206f\u3000\ufeff"
    r"\ufff9-\ufffb"
)
SOMETHING_VISIBLE = f"^{_ALLOWED}*[^{INVISIBLE}]{_ALLOWED}*$"

# A body with a field it does not define is refused (422 naming it): a misspelt ``note`` would
# otherwise be dropped without a word, and the contract says exactly what is read.
STRICT = ConfigDict(extra="forbid")
# The same, for bodies whose patterns above must be read by Python's ``re`` (as the services
# read the text: ``\s`` is ``str.isspace``), not by pydantic's default Rust engine.
PYTHON_RE = ConfigDict(regex_engine="python-re", extra="forbid")

# -- requests --------------------------------------------------------------------------------------


class TransitionBody(BaseModel):
    model_config = STRICT

    to: CaseState = Field(description="the target state (allowed_transitions lists the legal ones)")
    note: str = Field(
        default="",
        max_length=MAX_TEXT,
        description="why; required to release held money (resolved_legit) or close a crisis "
        "case (resolved_supported)",
    )
    revision: int | None = Field(
        default=None, ge=0, description="refuse (409) if the case changed since this revision"
    )


class AssignBody(BaseModel):
    model_config = STRICT

    # Required, so that ``{}`` is refused rather than read as "unassign"; null unassigns.
    assignee: str | None = Field(
        max_length=160,
        description="a console user who can work cases ('user:NAME' or 'NAME'); null unassigns",
    )


class NoteBody(BaseModel):
    model_config = PYTHON_RE

    text: str = Field(min_length=1, max_length=MAX_TEXT, pattern=SOMETHING_VISIBLE)


class OutreachBody(BaseModel):
    model_config = STRICT

    outcome: Literal["confirmed_scam", "insisted", "unreachable"]
    notes: str = Field(default="", max_length=MAX_TEXT)


class ListEntryBody(BaseModel):
    model_config = PYTHON_RE

    list_type: Literal["allow", "deny"]
    field: Literal["customer", "device", "payee", "ip", "card"]
    value: str = Field(min_length=1, max_length=128, pattern=NOT_BLANK)
    reason: str = Field(min_length=1, max_length=2000, pattern=NOT_BLANK)
    expires_at: Instant | None = Field(
        default=None, description="with a UTC offset, in the future; none: until removed"
    )


class SuppressionBody(BaseModel):
    model_config = PYTHON_RE

    customer_id: str = Field(min_length=1, max_length=128, pattern=NOT_BLANK)
    rule_id: str = Field(
        min_length=1, max_length=64, pattern=NOT_BLANK, description="a rule of the active rule set"
    )
    until: Instant = Field(description="with a UTC offset, in the future")
    reason: str = Field(min_length=1, max_length=2000, pattern=NOT_BLANK)


# -- cases -----------------------------------------------------------------------------------------

HoldEndReason = Literal["case_resolved", "released_by_agent", "cancelled_by_agent", "deadline"]
"""Why a hold ended: its case was resolved, an agent released or cancelled it, or its deadline
passed and it was released automatically."""


class CaseSummary(BaseModel):
    """A case as the queue lists it."""

    id: str
    customer_id: str = Field(description="the customer, or the subject of an alert (model:V)")
    case_type: str = Field(description="scam, fraud, crisis, model_drift, ...")
    state: CaseState
    risk: int = Field(description="the highest decision score on the case (100: crisis)")
    scam_type: str | None
    is_elderly: bool
    held_amount: float = Field(description="money held on the case's decisions when filed")
    assignee: str | None = Field(description="'user:NAME' or the key that took it")
    outcome: CaseState | None = Field(description="the closing state, once closed")
    opened_at: datetime
    updated_at: datetime
    sla_due_at: datetime
    overdue: bool
    waiting_minutes: float
    resolved_at: datetime | None
    reopen_count: int
    revision: int = Field(description="bumped by every change; send it back to detect races")


class CasePage(BaseModel):
    total: int = Field(description="cases matching the filter, over all pages")
    cases: list[CaseSummary] = Field(description="crisis first, then riskiest, longest waiting")


class CaseDecisionView(Decision):
    """A decision filed under the case, as the decision log holds it (the same fields as
    ``GET /v1/decisions/{id}``), and its held transaction."""

    amount: float | None
    payee_id: str | None
    hold_status: Literal["held", "released", "cancelled"]
    label: str | None = Field(description="legit, fraud or scam_victim once resolved")
    hold_deadline: datetime | None = Field(
        description="released automatically at this instant (the end of the N-th business "
        "day after the decision) unless released or cancelled first; null for holds filed "
        "before deadlines existed"
    )
    hold_ended_at: datetime | None = Field(description="when the hold ended; null while held")
    hold_end_reason: HoldEndReason | None = Field(description="why the hold ended")
    release_instructions: dict[str, str] | None = Field(
        description="what the customer is told to do to release it, per locale (zh-CN, en); "
        "null without a deadline"
    )


class CaseTimelineEntry(BaseModel):
    at: datetime
    actor: str
    kind: str = Field(description="opened, joined, alert, assigned, transition, note, ...")
    detail: dict[str, Any]


class OutreachTaskView(BaseModel):
    id: int
    kind: str = Field(description="dissuasion_callback or trusted_contact_call")
    script_id: str
    status: Literal["open", "done"]
    outcome: str | None
    notes: str
    created_at: datetime
    done_at: datetime | None
    done_by: str | None


class WebhookAttemptView(BaseModel):
    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float


class WebhookDeliveryView(BaseModel):
    """A release or cancel instruction to the lender, and every attempt to deliver it."""

    id: str
    event_id: str
    instruction: Literal["release", "cancel"]
    status: Literal["pending", "delivered", "failed"]
    attempts: list[WebhookAttemptView]
    delivered_at: datetime | None
    last_error: str | None


class ReleaseProposal(BaseModel):
    """A release as legit above the policy amount, waiting for a second person."""

    proposed_by: str
    proposed_at: datetime
    amount: float
    currency: str
    threshold: float
    note: str


class CallScript(BaseModel):
    title: dict[str, str] = Field(description="per locale (zh-CN, en)")
    steps: dict[str, list[str]] = Field(description="per locale (zh-CN, en)")


class CaseHotline(BaseModel):
    jurisdiction: str
    kind: Literal["hotline", "emergency"]
    name: str | dict[str, str] = Field(description="per locale (zh-CN, en)")
    number: str
    hours: str | dict[str, str] | None = Field(
        default=None, description="when it answers, per locale; absent when always"
    )


class CaseEducationLink(BaseModel):
    """A consumer-education item for the customer of a case."""

    content_id: str
    kind: Literal["article", "video"]
    topic: str
    title: dict[str, str] = Field(description="Per locale (zh-CN, en)")
    url: str = Field(description="The item's path: GET it with education:read")


class CaseDetail(CaseSummary):
    """A case with everything an analyst works from."""

    decisions: list[CaseDecisionView]
    timeline: list[CaseTimelineEntry] = Field(description="oldest first")
    outreach: list[OutreachTaskView]
    deliveries: list[WebhookDeliveryView]
    release_proposal: ReleaseProposal | None
    allowed_transitions: list[CaseState]
    script: CallScript
    hotlines: list[CaseHotline] | None = Field(
        default=None, description="a crisis case's hotlines and emergency numbers only"
    )
    education: list[CaseEducationLink] = Field(
        default_factory=list,
        description="Content to send with the outreach, chosen by the case's scam type and its "
        "decisions' reasons (report deliveries with POST /v1/education/events and the case_id)",
    )


class NextCase(BaseModel):
    case: CaseDetail | None = Field(description="null when no new case is waiting")


class SweepResult(BaseModel):
    filed: int = Field(description="interventions filed under a case now")
    released: int = Field(description="held payments released now because their deadline passed")


# -- lists and snoozes -----------------------------------------------------------------------------


class CreatedListRow(BaseModel):
    """The id of the new list entry or snooze (to remove it later)."""

    id: int


class ListEntryView(BaseModel):
    id: int
    list_type: Literal["allow", "deny"]
    field: Literal["customer", "device", "payee", "ip", "card"]
    value: str = Field(description="as stored: an id holding personal data as its pseudonym")
    reason: str
    author: str
    created_at: datetime
    expires_at: datetime | None


class SuppressionView(BaseModel):
    id: int
    customer_id: str
    rule_id: str
    until: datetime
    reason: str
    author: str
    created_at: datetime


class ListsAndSnoozes(BaseModel):
    entries: list[ListEntryView]
    suppressions: list[SuppressionView]


# -- model monitoring ------------------------------------------------------------------------------


class StabilityDay(BaseModel):
    day: str = Field(description="a UTC day, YYYY-MM-DD")
    rows: int
    psi: dict[str, float] = Field(description="per column; empty when the day has too few rows")


class StabilityAlert(BaseModel):
    day: str
    column: str
    psi: float


class StabilityReport(BaseModel):
    version: int
    window_days: int
    decisions: int
    threshold: float
    days: list[StabilityDay]
    alerts: list[StabilityAlert]


class StabilityCheck(StabilityReport):
    cases: list[str] = Field(description="the model_drift cases the alerts opened or joined")
