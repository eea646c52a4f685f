"""Complaints: intake, one state machine, jurisdiction clocks, the handler conflict check, an
escalation early warning and root causes.

    received → acknowledged → investigating → responded → closed
    (+ extended: the deadline moved, work goes on; escalated_to_regulator: from any open state,
    and an escalated complaint is extended in place; closing needs a decision and root causes)

The allowed transitions are data (:data:`TRANSITIONS`) and the dispatcher cases use too
(:class:`~lendguard.kit.statemachine.StateMachine`) refuses any pair it does not list; a
refusal changes nothing.

Clocks (``support/policies/<jurisdiction>.yaml``, read with the shared policy loader): the day of
receipt is day 0, counted in the jurisdiction's local date; a complaint is overdue once its due
day ends without a decision (``responded``). CN (R10): day 15, extendable to day 30 with a reason
and to day 60 with senior approval and notice to the complainant, never further
(``COMPLAINT_OVERDUE``, ``EXTENSION_INVALID``). US (R25): a response by day 15
(``CFPB_RESPONSE_LATE``) or "in progress" (the extension) and a final response by day 60
(``CFPB_FINAL_LATE``). UK (R26): a final response by the end of week 8, day 56
(``DISP_8W_BREACH``). An extension is made on or before the current due day: once a deadline has
passed it cannot be moved back over it. The approval level behind an extension is the
caller's own (:func:`approver_level_of`: an admin, or a console user with the approver role, is
senior); the ``approver_level`` and ``approved_by`` a request body may still carry are accepted
for compatibility, recorded as claims, and grant nothing.

The narrative is stored with personal information masked (``privacy.pii.mask_text``) for
analytics; the original text is not stored (the PII vault holds phones, cards and addresses by
keyed hash and has no place for free text).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from types import SimpleNamespace
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import ColumnElement, Connection, Engine, func, insert, select

from lendguard.auth.service import Principal, Role, Scope
from lendguard.changes import ChangeTrail
from lendguard.errors import Conflict, FieldError, NotFound, ValidationFailed
from lendguard.kit.bounds import BoundedDatetime
from lendguard.kit.calendars import working_days_after
from lendguard.kit.ids import new_id
from lendguard.kit.statemachine import StateMachine
from lendguard.kit.validation import validated
from lendguard.models.support import Complaint, ComplaintEvent, ComplaintExtension
from lendguard.policies import NoPolicyInForce, Policy, PolicyError, load_policy
from lendguard.support.taxonomy import ComplaintClassifier, Taxonomy, load_taxonomy

POLICY_KIND = "support"
JURISDICTIONS = ("CN", "US", "UK")
CHANNELS = (
    "app",
    "web",
    "phone",
    "branch",
    "email",
    "letter",
    "social_media",
    "regulator_referral",
    "cfpb_portal",
)
REGULATOR_CHANNELS = frozenset({"regulator_referral", "cfpb_portal"})
APPROVER_LEVELS = ("staff", "supervisor", "manager", "senior", "executive")
SYSTEM = "system"
# A change to a complaint: the row (compare-and-set on revision), its timeline, the audit trail.
TRAIL = ChangeTrail(
    key=Complaint.id,
    action="complaint",
    conflict=lambda complaint_id: Conflict(
        f"complaint '{complaint_id}' was changed by someone else; reload it"
    ),
    timeline=ComplaintEvent,
    timeline_key="complaint_id",
    target_prefix="complaint:",
)


# -- the state machine -----------------------------------------------------------------------------


class ComplaintState(StrEnum):
    received = "received"
    acknowledged = "acknowledged"
    investigating = "investigating"
    extended = "extended"
    responded = "responded"
    escalated_to_regulator = "escalated_to_regulator"
    closed = "closed"


S = ComplaintState
OPEN = frozenset(S) - {S.closed}
# States in which the decision is still owed (the clock runs unless responded_at is set).
_WORKING = (S.received, S.acknowledged, S.investigating, S.extended)

# (from, to) -> the verb recorded on the timeline
TRANSITIONS: dict[tuple[ComplaintState, ComplaintState], str] = {
    (S.received, S.acknowledged): "acknowledge",
    (S.received, S.investigating): "investigate",
    (S.acknowledged, S.investigating): "investigate",
    # An escalated complaint still owes its decision and may need the time: it is extended but
    # stays escalated_to_regulator (see ``_extend``).
    **{(s, S.extended): "extend" for s in (*_WORKING, S.escalated_to_regulator)},
    **{(s, S.responded): "respond" for s in _WORKING},
    (S.escalated_to_regulator, S.responded): "respond",
    (S.responded, S.closed): "close",
    (S.escalated_to_regulator, S.closed): "close",
    **{(s, S.escalated_to_regulator): "escalate" for s in (*_WORKING, S.responded)},
}


class InvalidTransition(Conflict):
    title = "Invalid complaint transition"


class ExtensionInvalid(Conflict):
    title = "Extension invalid"


class ConflictOfInterest(Conflict):
    title = "Conflict of interest"


MACHINE = StateMachine("complaint", ComplaintState, TRANSITIONS, InvalidTransition)
# The states a complaint may move to from a state, in table order (what the console offers).
allowed_from = MACHINE.allowed_from
# The verb of ``current → target``, or InvalidTransition (nothing changes).
dispatch = MACHINE.dispatch


# -- clocks ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExtensionStep:
    to_day: int
    reason_required: bool
    min_approver_level: str | None
    complainant_notified: bool
    late_code: str
    label: str | None


@dataclass(frozen=True, slots=True)
class ClockRules:
    jurisdiction: str
    version: str
    timezone: ZoneInfo
    day_basis: str  # calendar | working
    response_days: int
    response_code: str
    extensions: tuple[ExtensionStep, ...]
    max_days: int
    due_soon_days: int
    summary_resolution_business_days: int | None
    conflict_check: bool
    root_cause_required: bool

    def due_day(self, received_day: date, days: int) -> date:
        if self.day_basis == "working":
            return working_days_after(received_day, days, self.jurisdiction)
        return received_day + timedelta(days=days)

    def late_code(self, extension_count: int) -> str:
        if extension_count == 0:
            return self.response_code
        return self.extensions[min(extension_count, len(self.extensions)) - 1].late_code

    def as_dict(self) -> dict[str, Any]:
        return {
            "jurisdiction": self.jurisdiction,
            "version": self.version,
            "timezone": self.timezone.key,
            "day_basis": self.day_basis,
            "response_days": self.response_days,
            "response_code": self.response_code,
            "extensions": [
                {
                    "to_day": e.to_day,
                    "reason_required": e.reason_required,
                    "min_approver_level": e.min_approver_level,
                    "complainant_notified": e.complainant_notified,
                    "late_code": e.late_code,
                    "label": e.label,
                }
                for e in self.extensions
            ],
            "max_days": self.max_days,
        }


_rules_cache: dict[tuple[str, str, str], ClockRules] = {}
_rules_lock = threading.Lock()


def _rules_of(policy: Policy) -> ClockRules:
    key = (policy.jurisdiction, policy.version, policy.file)
    found = _rules_cache.get(key)
    if found is not None:
        return found
    response = policy["response_days"]
    extensions = policy.get("extensions")
    steps = tuple(
        ExtensionStep(
            to_day=int(step["to_day"]),
            reason_required=bool(step.get("reason_required", True)),
            min_approver_level=step.get("min_approver_level"),
            complainant_notified=bool(step.get("complainant_notified", False)),
            late_code=str(step.get("late_code") or response.code or "COMPLAINT_OVERDUE"),
            label=step.get("label"),
        )
        for step in (extensions.value if extensions is not None else [])
    )
    for step in steps:
        if step.min_approver_level is not None and step.min_approver_level not in APPROVER_LEVELS:
            raise PolicyError(f"{policy.file}: unknown approver level {step.min_approver_level}")
    summary = policy.get("summary_resolution_business_days")
    conflict = policy.get("handler_conflict_check")
    root = policy.get("root_cause_required")
    soon = policy.get("due_soon_days")
    rules = ClockRules(
        jurisdiction=policy.jurisdiction,
        version=policy.version,
        timezone=ZoneInfo(str(policy["timezone"].value)),
        day_basis=str(policy["day_basis"].value),
        response_days=int(response.value),
        response_code=str(response.code or "COMPLAINT_OVERDUE"),
        extensions=steps,
        max_days=int(policy["max_days"].value),
        due_soon_days=int(soon.value) if soon else 3,
        summary_resolution_business_days=int(summary.value) if summary else None,
        conflict_check=bool(conflict.value) if conflict else True,
        root_cause_required=bool(root.value) if root else True,
    )
    with _rules_lock:
        _rules_cache[key] = rules
    return rules


def clock_rules(jurisdiction: str, received: datetime) -> ClockRules:
    """The clock of ``jurisdiction`` in force on the (UTC) day of receipt."""
    try:
        return _rules_of(load_policy(POLICY_KIND, jurisdiction, received.astimezone(UTC).date()))
    except NoPolicyInForce as exc:
        raise ValidationFailed(
            str(exc), errors=[FieldError("received_at", "no complaint clock in force then")]
        ) from None


def _start_of(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz).astimezone(UTC)


def deadline(rules: ClockRules, received_at: datetime, day: int) -> tuple[date, datetime]:
    """The due day (local date) of day ``day``, and the first instant after it ends (UTC)."""
    received_day = received_at.astimezone(rules.timezone).date()
    due = rules.due_day(received_day, day)
    return due, _start_of(due + timedelta(days=1), rules.timezone)


def clock(
    rules: ClockRules,
    received_at: datetime,
    responded_at: datetime | None,
    extension_count: int,
    now: datetime,
) -> dict[str, Any]:
    """Where a complaint stands against its clock at ``now``.

    ``status``: ``on_track``, ``due_soon``, ``overdue`` (no decision and the due day has ended),
    ``met`` or ``met_late`` (decided, after the due day). ``codes`` names the breach.
    """
    tz = rules.timezone
    received_day = received_at.astimezone(tz).date()
    limit = rules.extensions[extension_count - 1].to_day if extension_count else rules.response_days
    due, due_at = deadline(rules, received_at, limit)
    today = now.astimezone(tz).date()
    span = max((due - received_day).days, 1)
    codes: list[str] = []
    out: dict[str, Any] = {
        "jurisdiction": rules.jurisdiction,
        "policy_version": rules.version,
        "received_day": received_day.isoformat(),
        "day": (today - received_day).days,
        "limit_day": limit,
        "due_day": due.isoformat(),
        "due_at": due_at,
        "extensions": extension_count,
    }
    if responded_at is not None:
        decided_day = responded_at.astimezone(tz).date()
        late = decided_day > due
        out.update(
            status="met_late" if late else "met",
            overdue=False,
            decided_day=(decided_day - received_day).days,
            days_left=None,
            elapsed_share=round(min((decided_day - received_day).days / span, 1.0), 3),
        )
        if late:
            codes.append(rules.late_code(extension_count))
        if rules.summary_resolution_business_days is not None:
            # Business days on the jurisdiction's calendar (bank holidays are not business
            # days; a year not entered counts weekdays only, which is never later).
            out["summary_resolution_eligible"] = decided_day <= working_days_after(
                received_day, rules.summary_resolution_business_days, rules.jurisdiction
            )
    else:
        overdue = today > due
        days_left = (due - today).days
        status = (
            "overdue" if overdue else "due_soon" if days_left < rules.due_soon_days else "on_track"
        )
        out.update(
            status=status,
            overdue=overdue,
            days_left=days_left,
            elapsed_share=round(min(max((today - received_day).days, 0) / span, 1.0), 3),
        )
        if overdue:
            codes.append(rules.late_code(extension_count))
    out["codes"] = codes
    return out


def approver_rank(level: str | None) -> int:
    return APPROVER_LEVELS.index(level) if level in APPROVER_LEVELS else -1


# Console roles whose holders approve at senior level (the approvals ladder has no finer roles).
SENIOR_ROLES = frozenset({Role.approver.value, Role.admin.value})


def approver_level_of(principal: Principal) -> str:
    """The approval level a principal holds: ``senior`` or ``staff``.

    Senior: a principal holding the ``admin`` scope (an admin key, an admin user), or a console
    user whose role is ``approver`` (the checker role of maker–checker elsewhere) or ``admin``.
    Everyone else, every other API key included, is ``staff``: a key has scopes, not a role, and
    none of its scopes short of ``admin`` is an approval. Approvals come from who the approver
    is, so this is the only source of the level; what a request body says never raises it.
    (The approver role carries the complaint scopes for this.)
    """
    if Scope.admin.value in principal.scopes:
        return "senior"
    if principal.kind == "user" and principal.role in SENIOR_ROLES:
        return "senior"
    return "staff"


def check_extension(
    rules: ClockRules,
    received_at: datetime,
    extension_count: int,
    now: datetime,
    reason: str,
    approver_level: str | None,
    complainant_notified: bool,
    to_day: int | None = None,
    approver: str | None = None,
) -> ExtensionStep:
    """The next extension step if this request may take it, else :class:`ExtensionInvalid`
    naming every unmet condition. ``approver_level`` is the caller's own level
    (:func:`approver_level_of`), never one a request claims; ``approver`` (the caller's actor)
    is named in the refusal."""
    code = "EXTENSION_INVALID"
    if not rules.extensions:
        raise ExtensionInvalid(
            f"{code}: {rules.jurisdiction} complaints cannot be extended "
            f"(a final response is due by day {rules.response_days})",
            errors=[FieldError("to", f"no extension in {rules.jurisdiction}")],
        )
    if to_day is not None and to_day > rules.max_days:
        raise ExtensionInvalid(
            f"{code}: day {to_day} is beyond the longest allowed deadline, day {rules.max_days}",
            errors=[FieldError("to_day", f"at most {rules.max_days}")],
        )
    if extension_count >= len(rules.extensions):
        raise ExtensionInvalid(
            f"{code}: already extended to day {rules.extensions[-1].to_day}; "
            f"no further extension (day {rules.max_days} is the limit)",
            errors=[FieldError("to_day", f"no extension beyond day {rules.max_days}")],
        )
    step = rules.extensions[extension_count]
    if to_day is not None and to_day != step.to_day:
        raise ExtensionInvalid(
            f"{code}: the next extension runs to day {step.to_day}, not day {to_day}",
            errors=[FieldError("to_day", f"must be {step.to_day}")],
        )
    current = (
        rules.extensions[extension_count - 1].to_day if extension_count else rules.response_days
    )
    due, _ = deadline(rules, received_at, current)
    today = now.astimezone(rules.timezone).date()
    if today > due:
        raise ExtensionInvalid(
            f"{code}: the deadline (day {current}, {due.isoformat()}) has passed; a deadline "
            "cannot be extended after it ends",
            errors=[FieldError("to_day", f"the day-{current} deadline has passed")],
        )
    errors: list[FieldError] = []
    if step.reason_required and not reason.strip():
        errors.append(FieldError("reason", "required"))
    if step.min_approver_level is not None and approver_rank(approver_level) < approver_rank(
        step.min_approver_level
    ):
        got = approver_level or "none"
        if approver is not None:
            got = (
                f"{approver} is {got}: the level is the caller's role (admin or approver), "
                "never the request body's approver_level"
            )
        errors.append(
            FieldError(
                "approver_level",
                f"an extension to day {step.to_day} needs approval at "
                f"{step.min_approver_level} level or above (got {got})",
            )
        )
    if step.complainant_notified and not complainant_notified:
        errors.append(
            FieldError(
                "complainant_notified",
                f"the complainant must be told of an extension to day {step.to_day}",
            )
        )
    if errors:
        raise ExtensionInvalid(
            f"{code}: extension to day {step.to_day} refused: "
            + "; ".join(f"{e.field} ({e.message})" for e in errors),
            errors=errors,
        )
    return step


# -- conflict of interest --------------------------------------------------------------------------


def _person(identity: str) -> str:
    """``user:alice``, ``Alice`` and ``alice`` are one person; a key keeps its name."""
    text = identity.strip().lower()
    if text.startswith("user:"):
        text = text[5:]
    return text


def conflicted(handler: str | None, staff_involved: list[str]) -> bool:
    """Whether ``handler`` is a staff member the complaint is about (回避, R10)."""
    if not handler:
        return False
    return _person(handler) in {_person(s) for s in staff_involved if s.strip()}


# -- escalation early warning ----------------------------------------------------------------------


def _word_pattern(words: list[Any]) -> re.Pattern[str]:
    parts = []
    for word in sorted({str(w).lower() for w in words}, key=len, reverse=True):
        if re.search(r"[\u3400-\u9fff]|\d", word):
            parts.append(re.escape(word))
        else:
            parts.append(r"(?<![a-z0-9])" + re.escape(word) + r"(?![a-z0-9])")
    return re.compile("|".join(parts) or r"(?!)")


@dataclass(frozen=True)
class EscalationModel:
    """A points model on the log-odds scale: the probability is the logistic of the sum, and
    every term that adds is a reason (weights: ``taxonomy.yaml``, design, not fitted)."""

    intercept: float
    weights: dict[str, float]
    repeat_window_days: int
    repeat_cap: int
    bands: dict[str, int]
    regulator_words: re.Pattern[str]
    vulnerability_words: re.Pattern[str]

    @classmethod
    def from_taxonomy(cls, taxonomy: Taxonomy) -> EscalationModel:
        raw = taxonomy.escalation
        return cls(
            intercept=float(raw.get("intercept", -3.0)),
            weights={str(k): float(v) for k, v in (raw.get("weights") or {}).items()},
            repeat_window_days=int(raw.get("repeat_window_days", 90)),
            repeat_cap=int(raw.get("repeat_cap", 3)),
            bands={str(k): int(v) for k, v in (raw.get("bands") or {}).items()},
            regulator_words=_word_pattern(list(raw.get("regulator_words") or [])),
            vulnerability_words=_word_pattern(list(raw.get("vulnerability_words") or [])),
        )

    def score(
        self,
        *,
        text: str,
        prior_complaints: int,
        clock_status: dict[str, Any],
        product_risk: float,
        issue_risk: float,
        channel: str,
    ) -> dict[str, Any]:
        import math

        w = self.weights
        reasons: list[dict[str, Any]] = []

        def add(code: str, points: float, detail: str) -> None:
            if points > 0:
                reasons.append({"code": code, "points": round(points, 3), "detail": detail})

        lowered = text.lower()
        regulator = sorted({m.group(0) for m in self.regulator_words.finditer(lowered)})
        if regulator:
            add(
                "REGULATOR_MENTION",
                w.get("regulator_mention", 0.0),
                f"mentions {', '.join(regulator[:5])}",
            )
        if channel in REGULATOR_CHANNELS:
            add("REGULATOR_CHANNEL", w.get("regulator_channel", 0.0), f"received via {channel}")
        repeats = min(prior_complaints, self.repeat_cap)
        if repeats:
            add(
                "REPEAT_COMPLAINT",
                w.get("repeat_complaint", 0.0) * repeats,
                f"{prior_complaints} earlier complaint(s) in {self.repeat_window_days} days",
            )
        vulnerable = sorted({m.group(0) for m in self.vulnerability_words.finditer(lowered)})
        if vulnerable:
            add(
                "VULNERABILITY_WORDS",
                w.get("vulnerability", 0.0),
                f"mentions {', '.join(vulnerable[:5])}",
            )
        share = float(clock_status.get("elapsed_share") or 0.0)
        if clock_status.get("status") in {"on_track", "due_soon", "overdue"}:
            add(
                "CLOCK_ELAPSED",
                w.get("clock_share", 0.0) * share,
                f"{round(share * 100)}% of the time to day {clock_status.get('limit_day')} used",
            )
        if clock_status.get("overdue"):
            add("OVERDUE", w.get("overdue", 0.0), ", ".join(clock_status.get("codes") or []))
        if clock_status.get("extensions"):
            add(
                "EXTENDED",
                w.get("extended", 0.0),
                f"deadline extended to day {clock_status.get('limit_day')}",
            )
        add(
            "PRODUCT_RISK",
            w.get("product_risk", 0.0) * product_risk,
            f"product weight {product_risk}",
        )
        add("ISSUE_RISK", w.get("issue_risk", 0.0) * issue_risk, f"issue weight {issue_risk}")
        logit = self.intercept + sum(r["points"] for r in reasons)
        probability = 1.0 / (1.0 + math.exp(-logit))
        score = round(probability * 100)
        band = (
            "high"
            if score >= self.bands.get("high", 60)
            else "medium"
            if score >= self.bands.get("medium", 30)
            else "low"
        )
        reasons.sort(key=lambda r: -r["points"])
        return {
            "score": score,
            "probability": round(probability, 4),
            "band": band,
            "logit": round(logit, 3),
            "intercept": self.intercept,
            "reasons": reasons,
        }


# -- scam typology ---------------------------------------------------------------------------------


def scam_triage(narrative: str) -> dict[str, Any]:
    """Whether a complaint tells of a scam, and which typology, with the assistant's lexicon
    (``cues.py``, zh-CN and en): an advance fee asked before a loan was paid out, an older
    person sold a "guaranteed" investment, ... A complaint that is really a scam report needs a
    fraud check and a call to the customer, not only an answer within the clock. Read from the
    stored narrative (personal information masked), so the same text gives the same answer on
    every read; ``type`` is None when no scam is told."""
    from lendguard.support.cues import ScamDetector

    result = ScamDetector().analyze(narrative)
    return {
        "cue": result.cue,
        "type": result.type if result.cue else None,
        "score": result.score,
        "cues": [h.cue.name for h in result.hits],
        "reasons": [
            {"cue": h.cue.name, "reason": {"zh-CN": h.cue.reason_zh, "en": h.cue.reason_en}}
            for h in result.hits
        ]
        if result.cue
        else [],
    }


# -- request bodies --------------------------------------------------------------------------------


class NewComplaint(BaseModel):
    customer_id: str = Field(min_length=1, max_length=128)
    channel: Literal[
        "app",
        "web",
        "phone",
        "branch",
        "email",
        "letter",
        "social_media",
        "regulator_referral",
        "cfpb_portal",
    ]
    narrative: str = Field(min_length=1, max_length=20_000)
    product: str | None = Field(default=None, max_length=48)
    jurisdiction: Literal["CN", "US", "UK"] = "CN"
    received_at: BoundedDatetime | None = None
    staff_involved: list[str] = Field(default_factory=list, max_length=20)
    external_ref: str | None = Field(default=None, max_length=128)

    @field_validator("staff_involved")
    @classmethod
    def _staff(cls, value: list[str]) -> list[str]:
        cleaned = [s.strip() for s in value if s.strip()]
        if any(len(s) > 160 for s in cleaned):
            raise ValueError("each entry at most 160 characters")
        return cleaned


class TransitionFields(BaseModel):
    """What a transition may carry besides its target."""

    to: str = Field(min_length=1, max_length=32)
    note: str = Field(default="", max_length=4000)
    revision: int | None = None
    response_summary: str | None = Field(default=None, max_length=8000)
    root_cause_tags: list[str] | None = Field(default=None, max_length=10)
    root_cause_note: str | None = Field(default=None, max_length=4000)
    regulator_reference: str | None = Field(default=None, max_length=128)
    # extension fields (to: extended)
    reason: str = Field(default="", max_length=4000)
    # Accepted for compatibility and recorded as the body's claim; they grant nothing (the
    # level and the approver are the caller's: approver_level_of).
    approver_level: Literal["staff", "supervisor", "manager", "senior", "executive"] | None = None
    approved_by: str | None = Field(default=None, max_length=160)
    complainant_notified: bool = False
    to_day: int | None = Field(default=None, ge=1, le=3650)


# -- the service -----------------------------------------------------------------------------------


class ComplaintService:
    def __init__(
        self,
        engine: Engine,
        classifier: ComplaintClassifier | None = None,
        taxonomy: Taxonomy | None = None,
    ) -> None:
        self.db = engine
        self.taxonomy = taxonomy or load_taxonomy()
        self.classifier = classifier or ComplaintClassifier.configured(self.taxonomy)
        self.escalation = EscalationModel.from_taxonomy(self.taxonomy)

    # -- intake ----------------------------------------------------------------------------------

    def create(
        self, raw: Any, actor: str, ip: str | None = None, now: datetime | None = None
    ) -> dict[str, Any]:
        body: NewComplaint = validated(NewComplaint, raw, "invalid complaint")
        now = now or datetime.now(UTC)
        received = body.received_at or now
        if received.tzinfo is None:
            raise ValidationFailed(
                "received_at needs a time zone", errors=[FieldError("received_at", "naive")]
            )
        if received > now + timedelta(minutes=5):
            raise ValidationFailed(
                "received_at is in the future", errors=[FieldError("received_at", "in the future")]
            )
        if body.product is not None and body.product not in self.taxonomy.products:
            raise ValidationFailed(
                "unknown product",
                errors=[FieldError("product", f"one of {sorted(self.taxonomy.products)}")],
            )
        rules = clock_rules(body.jurisdiction, received)
        from lendguard.privacy import pii

        entities = pii.scan(body.narrative)
        masked = pii.mask_text(body.narrative)
        found = self.classifier.classify(body.narrative, body.product)
        _, due_at = deadline(rules, received, rules.response_days)
        complaint_id = new_id("cmp")
        window = timedelta(days=self.escalation.repeat_window_days)
        with self.db.begin() as conn:
            prior = int(
                conn.execute(
                    select(func.count())
                    .select_from(Complaint)
                    .where(
                        Complaint.customer_id == body.customer_id,
                        Complaint.received_at >= received - window,
                        Complaint.received_at <= received,
                    )
                ).scalar_one()
            )
            status = clock(rules, received, None, 0, now)
            warning = self._warning(masked, prior, status, found.product, found.issue, body.channel)
            conn.execute(
                insert(Complaint),
                {
                    "id": complaint_id,
                    "customer_id": body.customer_id,
                    "channel": body.channel,
                    "jurisdiction": body.jurisdiction,
                    "policy_version": rules.version,
                    "product": found.product,
                    "product_source": found.product_source,
                    "product_confidence": round(found.product_confidence, 4),
                    "issue": found.issue,
                    "issue_confidence": round(found.issue_confidence, 4),
                    "classifier": found.source[:64],
                    "narrative_masked": masked,
                    "pii_types": sorted({e.type for e in entities}),
                    "staff_involved": body.staff_involved,
                    "external_ref": body.external_ref,
                    "state": S.received.value,
                    "assignee": None,
                    "received_at": received,
                    "due_at": due_at,
                    "extension_count": 0,
                    "extended_to_day": None,
                    "root_cause_tags": [],
                    "prior_complaints": prior,
                    "escalation_score": warning["score"],
                    "created_by": actor,
                    "updated_at": now,
                    "revision": 1,
                },
            )
            scam = scam_triage(masked)
            detail = {
                "channel": body.channel,
                "jurisdiction": body.jurisdiction,
                "product": found.product,
                "issue": found.issue,
                "scam_type": scam["type"],
                "classifier": found.source,
                "due_day": status["due_day"],
                "pii_masked": len(entities),
            }
            TRAIL.record(conn, complaint_id, actor, ip, "received", detail, now)
        return self.get(complaint_id, now)

    # -- reading ---------------------------------------------------------------------------------

    def _warning(
        self, text: str, prior: int, status: dict[str, Any], product: str, issue: str, channel: str
    ) -> dict[str, Any]:
        products, issues = self.taxonomy.products, self.taxonomy.issues
        return self.escalation.score(
            text=text,
            prior_complaints=prior,
            clock_status=status,
            product_risk=products[product].risk if product in products else 0.0,
            issue_risk=issues[issue].risk if issue in issues else 0.0,
            channel=channel,
        )

    def _view(self, row: Any, now: datetime) -> dict[str, Any]:
        rules = clock_rules(row.jurisdiction, row.received_at)
        status = clock(rules, row.received_at, row.responded_at, row.extension_count, now)
        return {
            "id": row.id,
            "customer_id": row.customer_id,
            "channel": row.channel,
            "jurisdiction": row.jurisdiction,
            "product": row.product,
            "product_source": row.product_source,
            "product_confidence": row.product_confidence,
            "issue": row.issue,
            "issue_confidence": row.issue_confidence,
            "classifier": row.classifier,
            "narrative": row.narrative_masked,
            "pii_types": row.pii_types,
            "staff_involved": row.staff_involved,
            "external_ref": row.external_ref,
            "state": row.state,
            "assignee": row.assignee,
            "received_at": row.received_at,
            "due_at": row.due_at,
            "acknowledged_at": row.acknowledged_at,
            "responded_at": row.responded_at,
            "escalated_at": row.escalated_at,
            "closed_at": row.closed_at,
            "response_summary": row.response_summary,
            "regulator_reference": row.regulator_reference,
            "root_cause_tags": row.root_cause_tags,
            "root_cause_note": row.root_cause_note,
            "prior_complaints": row.prior_complaints,
            "extension_count": row.extension_count,
            "extended_to_day": row.extended_to_day,
            "clock": status,
            "overdue": status["overdue"],
            "escalation": self._warning(
                row.narrative_masked,
                row.prior_complaints,
                status,
                row.product,
                row.issue,
                row.channel,
            ),
            "scam": scam_triage(row.narrative_masked),
            "allowed_transitions": [t.value for t in allowed_from(S(row.state))],
            "updated_at": row.updated_at,
            "revision": row.revision,
        }

    def get(self, complaint_id: str, now: datetime | None = None) -> dict[str, Any]:
        now = now or datetime.now(UTC)
        with self.db.connect() as conn:
            row = conn.execute(select(Complaint).where(Complaint.id == complaint_id)).first()
            if row is None:
                raise NotFound(f"complaint '{complaint_id}' does not exist")
            out = self._view(row, now)
            out["timeline"] = [
                {"at": e.at, "actor": e.actor, "kind": e.kind, "detail": e.detail}
                for e in conn.execute(
                    select(ComplaintEvent)
                    .where(ComplaintEvent.complaint_id == complaint_id)
                    .order_by(ComplaintEvent.id)
                ).all()
            ]
            out["extensions"] = [
                {
                    "step": x.step,
                    "to_day": x.to_day,
                    "reason": x.reason,
                    "approver_level": x.approver_level,
                    "approved_by": x.approved_by,
                    "complainant_notified": x.complainant_notified,
                    "at": x.at,
                    "actor": x.actor,
                }
                for x in conn.execute(
                    select(ComplaintExtension)
                    .where(ComplaintExtension.complaint_id == complaint_id)
                    .order_by(ComplaintExtension.step)
                ).all()
            ]
        return out

    def queue(
        self,
        states: list[str] | None = None,
        jurisdiction: str | None = None,
        assignee: str | None = None,
        limit: int = 50,
        offset: int = 0,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Open complaints: undecided first, overdue at the top (the earliest deadline), then
        by deadline."""
        wanted = states or [s.value for s in OPEN]
        bad = [s for s in wanted if s not in {c.value for c in S}]
        if bad:
            raise ValidationFailed("unknown state", errors=[FieldError("state", f"unknown {bad}")])
        conditions: list[ColumnElement[bool]] = [Complaint.state.in_(wanted)]
        if jurisdiction:
            conditions.append(Complaint.jurisdiction == jurisdiction.upper())
        if assignee:
            conditions.append(Complaint.assignee == assignee)
        now = now or datetime.now(UTC)
        with self.db.connect() as conn:
            total = int(
                conn.execute(
                    select(func.count()).select_from(Complaint).where(*conditions)
                ).scalar_one()
            )
            overdue = int(
                conn.execute(
                    select(func.count())
                    .select_from(Complaint)
                    .where(
                        *conditions,
                        Complaint.responded_at.is_(None),
                        Complaint.due_at <= now,
                    )
                ).scalar_one()
            )
            rows = conn.execute(
                select(Complaint)
                .where(*conditions)
                .order_by(
                    Complaint.responded_at.is_not(None), Complaint.due_at, Complaint.received_at
                )
                .limit(limit)
                .offset(offset)
            ).all()
        return {
            "total": total,
            "overdue": overdue,
            "complaints": [self._view(r, now) for r in rows],
        }

    def clock_report(
        self, since: datetime | None = None, now: datetime | None = None
    ) -> dict[str, Any]:
        """Clock compliance per jurisdiction: open, overdue, decided on time or late, extensions,
        regulator escalations, closed with root causes."""
        now = now or datetime.now(UTC)
        query = select(Complaint)
        if since is not None:
            query = query.where(Complaint.received_at >= since)
        with self.db.connect() as conn:
            rows = conn.execute(query).all()
            extension_steps = dict(
                conn.execute(
                    select(ComplaintExtension.step, func.count()).group_by(ComplaintExtension.step)
                ).all()
            )
        report: dict[str, dict[str, Any]] = {}
        codes: dict[str, int] = {}
        for row in rows:
            rules = clock_rules(row.jurisdiction, row.received_at)
            status = clock(rules, row.received_at, row.responded_at, row.extension_count, now)
            figures = report.setdefault(
                row.jurisdiction,
                {
                    "received": 0,
                    "open": 0,
                    "overdue": 0,
                    "due_soon": 0,
                    "decided": 0,
                    "decided_on_time": 0,
                    "decided_late": 0,
                    "extended": 0,
                    "escalated_to_regulator": 0,
                    "closed": 0,
                    "closed_with_root_cause": 0,
                    "_days": [],
                },
            )
            figures["received"] += 1
            if row.state != S.closed.value:
                figures["open"] += 1
            if status["status"] == "overdue":
                figures["overdue"] += 1
            if status["status"] == "due_soon":
                figures["due_soon"] += 1
            if row.responded_at is not None:
                figures["decided"] += 1
                figures[
                    "decided_late" if status["status"] == "met_late" else "decided_on_time"
                ] += 1
                figures["_days"].append(status["decided_day"])
            if row.extension_count:
                figures["extended"] += 1
            if row.escalated_at is not None:
                figures["escalated_to_regulator"] += 1
            if row.state == S.closed.value:
                figures["closed"] += 1
                if row.root_cause_tags:
                    figures["closed_with_root_cause"] += 1
            for code in status["codes"]:
                codes[code] = codes.get(code, 0) + 1
        for figures in report.values():
            days = sorted(figures.pop("_days"))
            decided = figures["decided"]
            figures["on_time_rate"] = (
                round(figures["decided_on_time"] / decided, 4) if decided else None
            )
            figures["median_days_to_decision"] = days[len(days) // 2] if days else None
        return {
            "generated_at": now,
            "since": since,
            "by_jurisdiction": report,
            "codes": codes,
            "extensions_by_step": {int(k): int(v) for k, v in extension_steps.items()},
        }

    # -- work ------------------------------------------------------------------------------------

    def assign(
        self, complaint_id: str, assignee: str | None, actor: str, ip: str | None = None
    ) -> dict[str, Any]:
        with self.db.begin() as conn:
            row = self._load(conn, complaint_id)
            if row.state == S.closed.value:
                raise Conflict(
                    f"complaint '{complaint_id}' is closed",
                    errors=[FieldError("state", row.state)],
                )
            rules = clock_rules(row.jurisdiction, row.received_at)
            if rules.conflict_check and conflicted(assignee, row.staff_involved):
                raise ConflictOfInterest(
                    f"CONFLICT_OF_INTEREST: '{assignee}' is a staff member the complaint is "
                    "about and may not handle it (R10)",
                    errors=[FieldError("assignee", "named in staff_involved")],
                )
            self._change(
                conn, row, actor, ip, "assigned", {"assignee": assignee}, assignee=assignee
            )
        return self.get(complaint_id)

    def transition(
        self,
        complaint_id: str,
        raw: Any,
        actor: str,
        ip: str | None = None,
        now: datetime | None = None,
        approver_level: str = "staff",
    ) -> dict[str, Any]:
        """Move a complaint (``raw``: :class:`TransitionFields`). ``extended`` takes the
        extension's fields; ``responded`` needs ``response_summary``; ``closed`` needs root
        causes. A refusal changes nothing.

        ``approver_level``: the caller's own level, :func:`approver_level_of` of the principal
        behind ``actor`` (the endpoints pass it); staff unless told otherwise, so a caller that
        forgets it can never grant a senior extension."""
        fields: TransitionFields = validated(TransitionFields, raw, "invalid transition")
        now = now or datetime.now(UTC)
        with self.db.begin() as conn:
            row = self._load(conn, complaint_id)
            if fields.revision is not None and fields.revision != row.revision:
                raise Conflict(
                    f"complaint '{complaint_id}' changed since revision {fields.revision} "
                    f"(now {row.revision})",
                    errors=[FieldError("revision", f"current is {row.revision}")],
                )
            verb = dispatch(row.state, fields.to)
            if verb == "extend":
                self._extend(conn, row, fields, actor, ip, now, approver_level)
            else:
                self._move(conn, row, verb, fields, actor, ip, now)
        return self.get(complaint_id, now)

    def extend(
        self,
        complaint_id: str,
        raw: Any,
        actor: str,
        ip: str | None = None,
        now: datetime | None = None,
        approver_level: str = "staff",
    ) -> dict[str, Any]:
        """Extend the deadline: a transition to ``extended`` (an extended complaint extends
        again by staying there)."""
        body = dict(raw) if isinstance(raw, dict) else raw
        if isinstance(body, dict):
            body["to"] = S.extended.value
        return self.transition(complaint_id, body, actor, ip, now, approver_level)

    def _extend(
        self,
        conn: Connection,
        row: Any,
        fields: TransitionFields,
        actor: str,
        ip: str | None,
        now: datetime,
        approver_level: str,
    ) -> None:
        rules = clock_rules(row.jurisdiction, row.received_at)
        step = check_extension(
            rules,
            row.received_at,
            row.extension_count,
            now,
            fields.reason,
            approver_level,
            fields.complainant_notified,
            fields.to_day,
            approver=actor,
        )
        # A step that needs approval is approved by the caller, who holds the level; a step
        # that needs none has no approver.
        approved_by = actor if step.min_approver_level is not None else None
        claimed = {
            k: v
            for k, v in (
                ("approver_level", fields.approver_level),
                ("approved_by", fields.approved_by),
            )
            if v is not None
        }
        number = row.extension_count + 1
        state = row.state if row.state == S.escalated_to_regulator.value else S.extended.value
        _, due_at = deadline(rules, row.received_at, step.to_day)
        conn.execute(
            insert(ComplaintExtension),
            {
                "complaint_id": row.id,
                "step": number,
                "to_day": step.to_day,
                "reason": fields.reason.strip(),
                "approver_level": approver_level,
                "approved_by": approved_by,
                "complainant_notified": fields.complainant_notified,
                "at": now,
                "actor": actor,
            },
        )
        detail = {
            "from": row.state,
            "to": state,
            "step": number,
            "to_day": step.to_day,
            "label": step.label,
            "reason": fields.reason.strip()[:4000],
            "approver_level": approver_level,
            "approved_by": approved_by,
            "complainant_notified": fields.complainant_notified,
        }
        if claimed:
            detail["claimed_in_body"] = claimed  # evidence only: it granted nothing
        self._change(
            conn,
            row,
            actor,
            ip,
            "extended",
            detail,
            now,
            state=state,
            extension_count=number,
            extended_to_day=step.to_day,
            due_at=due_at,
        )

    def _move(
        self,
        conn: Connection,
        row: Any,
        verb: str,
        fields: TransitionFields,
        actor: str,
        ip: str | None,
        now: datetime,
    ) -> None:
        rules = clock_rules(row.jurisdiction, row.received_at)
        to = S(fields.to)
        values: dict[str, Any] = {"state": to.value}
        detail: dict[str, Any] = {"from": row.state, "to": to.value, "note": fields.note}
        tags = self._root_causes(fields.root_cause_tags)
        if verb in {"respond", "close"} and rules.conflict_check:
            if conflicted(actor, row.staff_involved):
                raise ConflictOfInterest(
                    f"CONFLICT_OF_INTEREST: {actor} is a staff member the complaint is about "
                    "and may not decide it (R10)",
                    errors=[FieldError("actor", "named in staff_involved")],
                )
        if verb == "acknowledge":
            values["acknowledged_at"] = now
        elif verb == "respond":
            summary = (fields.response_summary or "").strip()
            if not summary:
                raise ValidationFailed(
                    "a response needs its decision, as told to the complainant",
                    errors=[FieldError("response_summary", "required to respond")],
                )
            # The first decision stops the clock; a later one (after the regulator stepped in)
            # replaces the summary, not the time the clock stopped.
            decided = row.responded_at or now
            values.update(responded_at=decided, response_summary=summary)
            detail["response_summary"] = summary[:4000]
            status = clock(rules, row.received_at, decided, row.extension_count, now)
            detail["clock"] = {"day": status["decided_day"], "status": status["status"]}
        elif verb == "escalate":
            values["escalated_at"] = now
            if fields.regulator_reference:
                values["regulator_reference"] = fields.regulator_reference
                detail["regulator_reference"] = fields.regulator_reference
        elif verb == "close":
            if row.responded_at is None:
                raise InvalidTransition(
                    f"complaint '{row.id}' has no decision yet; respond before closing",
                    errors=[FieldError("to", "respond first")],
                )
            merged = tags if tags is not None else list(row.root_cause_tags or [])
            if rules.root_cause_required and not merged:
                raise ValidationFailed(
                    "closing needs the root cause (R10: trace and fix the root cause)",
                    errors=[FieldError("root_cause_tags", "required to close")],
                )
            values["closed_at"] = now
            tags = merged
        if tags is not None:
            values["root_cause_tags"] = tags
            detail["root_cause_tags"] = tags
        if fields.root_cause_note:
            values["root_cause_note"] = fields.root_cause_note
            detail["root_cause_note"] = fields.root_cause_note[:4000]
        self._change(conn, row, actor, ip, verb, detail, now, **values)

    def _root_causes(self, tags: list[str] | None) -> list[str] | None:
        if tags is None:
            return None
        unknown = [t for t in tags if t not in self.taxonomy.root_causes]
        if unknown:
            raise ValidationFailed(
                "unknown root cause",
                errors=[
                    FieldError(
                        "root_cause_tags",
                        f"unknown {unknown}; one of {sorted(self.taxonomy.root_causes)}",
                    )
                ],
            )
        return list(dict.fromkeys(tags))

    # -- plumbing --------------------------------------------------------------------------------

    def _load(self, conn: Connection, complaint_id: str) -> Any:
        row = conn.execute(select(Complaint).where(Complaint.id == complaint_id)).first()
        if row is None:
            raise NotFound(f"complaint '{complaint_id}' does not exist")
        return SimpleNamespace(**row._mapping)

    def _change(
        self,
        conn: Connection,
        row: Any,
        actor: str,
        ip: str | None,
        kind: str,
        detail: dict[str, Any],
        now: datetime | None = None,
        **values: Any,
    ) -> None:
        """One change (:data:`TRAIL`: the row, the timeline, the audit trail, in the caller's
        transaction), with the escalation score the changed complaint now has."""
        now = now or datetime.now(UTC)
        after = SimpleNamespace(**{**vars(row), **values})
        warning = self._view(after, now)["escalation"]
        TRAIL.change(
            conn, row, actor, ip, kind, detail, now, **values, escalation_score=warning["score"]
        )
