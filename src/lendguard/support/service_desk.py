"""Service metrics of the contact centre: first-contact resolution, time to first response and
customer satisfaction (issue #8, item 5).

A **service contact** is one conversation the customer starts (a call, a chat, an app message,
an e-mail, a branch visit), keyed by the contact centre's own ``conversation_id``:

    opened (the customer's first message) → first response (an agent's first reply)
    → closed with an outcome: resolved | escalated | follow_up | abandoned

**First-contact resolution (FCR)** is counted per issue, not per contact. A contact is
*resolved on first contact* when it was closed ``resolved`` in itself and the same customer did
not open another contact on the same ``topic`` within the repeat window after its close
(``fcr_repeat_window_days`` of the support policy in force for its jurisdiction on the day it
opened, 7 days as shipped; 24-hour days, the boundary included). A contact opened while an
earlier one on the same topic is still open, or within the earlier one's window, is a *repeat*:
it belongs to the earlier issue and is not a first contact, so it is left out of the FCR
denominator (it still counts as a contact, for time to first response and satisfaction).
Abandoned contacts (the customer left before anyone answered) start no issue and are left out
too. A resolved contact whose window has not ended yet is *pending*: the rate is over decided
contacts only, ``provisional_rate`` counts pending ones as resolved.

**Time to first response** is the elapsed (calendar) time from ``opened_at`` to
``first_response_at``. The median is the middle value (the mean of the two middle ones for an
even count); p90 is the nearest rank, the smallest time within which 90% of the contacts got
their first answer.

**Satisfaction (CSAT)** comes from the lender's survey system (``POST /v1/support/surveys``):
one score 1–5 per contact; "satisfied" is 4 or 5. The comment is stored with personal
information masked (``privacy.pii.mask_text``); the original text is neither stored nor logged.

Metrics are over the contacts opened in the period (a cohort): a survey or a repeat that comes
later is attributed to the contact it is about.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from types import SimpleNamespace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Connection, Engine, and_, insert, or_, select
from sqlalchemy.exc import IntegrityError

from lendguard.changes import ChangeTrail
from lendguard.errors import Conflict, FieldError, NotFound, ValidationFailed
from lendguard.kit.bounds import Instant
from lendguard.kit.validation import validated
from lendguard.models.support import ServiceContact, ServiceSurvey
from lendguard.policies import NoPolicyInForce, PolicyError, load_policy

POLICY_KIND = "support"
JURISDICTIONS = ("CN", "US", "UK")
CHANNELS = ("phone", "chat", "app", "email", "in_person", "social_media")
OUTCOMES = ("resolved", "escalated", "follow_up", "abandoned")
DEFAULT_FCR_WINDOW_DAYS = 7
"""The repeat window when the support policy in force names none (a deployment's own policy
file without ``fcr_repeat_window_days``, or a date before the first version)."""
SATISFIED_FROM = 4
FUTURE_SLACK = timedelta(minutes=5)
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]*$"
TOPIC_PATTERN = r"^[a-z0-9][a-z0-9_.:-]*$"
MAX_DAYS = 366

Channel = Literal["phone", "chat", "app", "email", "in_person", "social_media"]
Outcome = Literal["resolved", "escalated", "follow_up", "abandoned"]


class ContactConflict(Conflict):
    title = "Service contact conflict"


# A change to a service contact: the row (compare-and-set on revision) and the audit trail (a
# contact has no timeline of its own).
TRAIL = ChangeTrail(
    key=ServiceContact.conversation_id,
    action="service_contact",
    conflict=lambda conversation_id: ContactConflict(
        f"service contact '{conversation_id}' was changed by someone else; retry"
    ),
    target_prefix="service_contact:",
)


# -- request bodies --------------------------------------------------------------------------------


class NewContact(BaseModel):
    """A contact as the contact centre opens it."""

    model_config = ConfigDict(extra="forbid")

    conversation_id: str = Field(min_length=1, max_length=128, pattern=ID_PATTERN)
    customer_id: str = Field(min_length=1, max_length=128)
    channel: Channel
    jurisdiction: Literal["CN", "US", "UK"] = "CN"
    opened_at: Instant | None = Field(
        default=None, description="the customer's first message (default: now)"
    )
    topic: str | None = Field(
        default=None,
        max_length=64,
        description="what it is about, e.g. the assistant's intent id; may be given at close",
    )

    @field_validator("topic")
    @classmethod
    def _topic_shape(cls, value: str | None) -> str | None:
        return _check_topic(value)


class FirstResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    responded_at: Instant | None = Field(
        default=None, description="the agent's first reply (default: now)"
    )


class CloseContact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Outcome = "resolved"
    topic: str | None = Field(default=None, max_length=64)
    closed_at: Instant | None = Field(default=None, description="default: now")

    @field_validator("topic")
    @classmethod
    def _topic_shape(cls, value: str | None) -> str | None:
        return _check_topic(value)


class NewSurvey(BaseModel):
    """A satisfaction survey as the lender's survey system sends it."""

    model_config = ConfigDict(extra="forbid")

    conversation_id: str = Field(min_length=1, max_length=128, pattern=ID_PATTERN)
    score: int = Field(ge=1, le=5, strict=True, description="CSAT, 1 (very dissatisfied) to 5")
    comment: str | None = Field(default=None, max_length=4000)
    submitted_at: Instant | None = Field(default=None, description="default: now")


def _check_topic(value: str | None) -> str | None:
    """Topics compare as slugs: trimmed and lower-cased."""
    if value is None:
        return None
    value = value.strip().lower()
    if not re.fullmatch(TOPIC_PATTERN, value):
        raise ValueError("a slug: lower-case letters, digits and _ . : - (e.g. repayment_methods)")
    return value


# -- first-contact resolution (pure) ---------------------------------------------------------------


class FcrStatus(StrEnum):
    resolved_first_contact = "resolved_first_contact"
    repeated = "repeated"  # resolved, but the customer came back on the topic within the window
    not_resolved = "not_resolved"  # closed escalated or follow_up
    pending = "pending"  # resolved, the window is still running
    repeat = "repeat"  # itself a repeat of an earlier contact: not a first contact
    open = "open"
    abandoned = "abandoned"


# Statuses that decide the FCR rate (the denominator), and the one that counts as success.
DECIDED = frozenset({FcrStatus.resolved_first_contact, FcrStatus.repeated, FcrStatus.not_resolved})


@dataclass(frozen=True, slots=True)
class ContactFacts:
    conversation_id: str
    customer_id: str
    topic: str | None
    opened_at: datetime
    closed_at: datetime | None
    outcome: str | None
    window: timedelta


@dataclass(frozen=True, slots=True)
class Fcr:
    status: FcrStatus
    window_days: float
    window_ends_at: datetime | None
    repeat_of: str | None = None
    repeated_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "window_days": self.window_days,
            "window_ends_at": self.window_ends_at,
            "repeat_of": self.repeat_of,
            "repeated_by": self.repeated_by,
        }


def classify(contacts: Iterable[ContactFacts], now: datetime) -> dict[str, Fcr]:
    """The FCR status of every contact, by conversation id (see the module docstring).

    Contacts of one customer on one topic are taken in the order they opened (ties by id); a
    contact is a repeat when it opened no later than the end of an earlier one's window (an
    open contact's window has no end yet), and an earlier contact was repeated when the next
    one opened within its window.
    """
    everything = list(contacts)
    groups: dict[tuple[str, str], list[ContactFacts]] = defaultdict(list)
    for c in everything:
        if c.topic is not None and c.outcome != "abandoned":
            groups[(c.customer_id, c.topic)].append(c)
    repeat_of: dict[str, str] = {}
    repeated_by: dict[str, str] = {}
    for group in groups.values():
        group.sort(key=lambda c: (c.opened_at, c.conversation_id))
        cover_end: datetime | None = None
        cover_id = ""
        for i, c in enumerate(group):
            if i and cover_end is not None and c.opened_at <= cover_end:
                repeat_of[c.conversation_id] = cover_id
            end = (
                datetime.max.replace(tzinfo=UTC) if c.closed_at is None else c.closed_at + c.window
            )
            if cover_end is None or end >= cover_end:
                cover_end, cover_id = end, c.conversation_id
            if i + 1 < len(group) and group[i + 1].opened_at <= end:
                repeated_by[c.conversation_id] = group[i + 1].conversation_id
    out: dict[str, Fcr] = {}
    for c in everything:
        ends = c.closed_at + c.window if c.closed_at is not None else None
        cid = c.conversation_id
        if c.outcome == "abandoned":
            status = FcrStatus.abandoned
        elif cid in repeat_of:
            status = FcrStatus.repeat
        elif c.closed_at is None:
            status = FcrStatus.open
        elif c.outcome != "resolved":
            status = FcrStatus.not_resolved
        elif cid in repeated_by:
            status = FcrStatus.repeated
        elif ends is not None and now <= ends:
            status = FcrStatus.pending
        else:
            status = FcrStatus.resolved_first_contact
        out[cid] = Fcr(
            status=status,
            window_days=c.window.total_seconds() / 86400,
            window_ends_at=ends,
            repeat_of=repeat_of.get(cid),
            repeated_by=repeated_by.get(cid),
        )
    return out


# -- figures (pure) --------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def nearest_rank(values: Sequence[float], share: float) -> float | None:
    """The smallest value with at least ``share`` of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered) - 1e-9))
    return float(ordered[min(rank, len(ordered)) - 1])


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _round(value: float | None, digits: int = 1) -> float | None:
    return round(value, digits) if value is not None else None


def figures(
    rows: Sequence[Any], statuses: dict[str, Fcr], scores: dict[str, int]
) -> dict[str, Any]:
    """FCR, time to first response and CSAT of ``rows`` (contacts with ``conversation_id``,
    ``opened_at``, ``first_response_at``, ``closed_at``, ``outcome``)."""
    counts = dict.fromkeys(FcrStatus, 0)
    waits: list[float] = []
    awaiting = 0
    handled_closed = 0
    csat: list[int] = []
    for row in rows:
        counts[statuses[row.conversation_id].status] += 1
        if row.first_response_at is not None:
            waits.append((row.first_response_at - row.opened_at).total_seconds())
        elif row.closed_at is None:
            awaiting += 1
        if row.closed_at is not None and row.outcome != "abandoned":
            handled_closed += 1
        score = scores.get(row.conversation_id)
        if score is not None:
            csat.append(score)
    fcr = counts[FcrStatus.resolved_first_contact]
    decided = sum(counts[s] for s in DECIDED)
    pending = counts[FcrStatus.pending]
    satisfied = sum(1 for s in csat if s >= SATISFIED_FROM)
    return {
        "contacts": len(rows),
        "first_contact_resolution": {
            "rate": _rate(fcr, decided),
            "provisional_rate": _rate(fcr + pending, decided + pending),
            "resolved_first_contact": fcr,
            "repeated": counts[FcrStatus.repeated],
            "not_resolved": counts[FcrStatus.not_resolved],
            "pending": pending,
            "repeat_contacts": counts[FcrStatus.repeat],
            "open": counts[FcrStatus.open],
            "abandoned": counts[FcrStatus.abandoned],
            "abandonment_rate": _rate(counts[FcrStatus.abandoned], len(rows)),
        },
        "first_response": {
            "responded": len(waits),
            "awaiting": awaiting,
            "median_seconds": _round(median(waits)),
            "p90_seconds": _round(nearest_rank(waits, 0.9)),
            "mean_seconds": _round(statistics.fmean(waits) if waits else None),
        },
        "satisfaction": {
            "responses": len(csat),
            "mean": _round(statistics.fmean(csat) if csat else None, 2),
            "satisfied_share": _rate(satisfied, len(csat)),
            "distribution": {str(k): sum(1 for s in csat if s == k) for k in range(1, 6)},
            "response_rate": _rate(len(csat), handled_closed),
        },
    }


# -- the service -----------------------------------------------------------------------------------


def _state(row: Any) -> str:
    return "closed" if row.closed_at is not None else "open"


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 3) if end is not None else None


class ServiceDesk:
    """Service contacts, their surveys and the service metrics, over the app's database."""

    def __init__(self, engine: Engine) -> None:
        self.db = engine

    # -- the repeat window -----------------------------------------------------------------------

    def fcr_window_days(self, jurisdiction: str, on: date) -> int:
        """``fcr_repeat_window_days`` of the support policy in force (shared policy cache)."""
        try:
            found = load_policy(POLICY_KIND, jurisdiction, on).get("fcr_repeat_window_days")
        except (NoPolicyInForce, PolicyError):
            return DEFAULT_FCR_WINDOW_DAYS
        return DEFAULT_FCR_WINDOW_DAYS if found is None else int(found.value)

    def _facts(self, rows: Iterable[Any]) -> list[ContactFacts]:
        windows: dict[tuple[str, date], timedelta] = {}
        out = []
        for r in rows:
            key = (r.jurisdiction, r.opened_at.astimezone(UTC).date())
            window = windows.get(key)
            if window is None:
                window = windows[key] = timedelta(days=self.fcr_window_days(*key))
            out.append(
                ContactFacts(
                    r.conversation_id,
                    r.customer_id,
                    r.topic,
                    r.opened_at,
                    r.closed_at,
                    r.outcome,
                    window,
                )
            )
        return out

    # -- recording -------------------------------------------------------------------------------

    def open(
        self, raw: Any, actor: str, ip: str | None = None, now: datetime | None = None
    ) -> dict[str, Any]:
        """Record a contact; the same ``conversation_id`` again answers with the first record
        (``replayed``) if nothing it names differs, else 409 naming what differs."""
        body: NewContact = validated(NewContact, raw, "invalid service contact")
        now = now or datetime.now(UTC)
        opened = body.opened_at or now
        if opened > now + FUTURE_SLACK:
            raise ValidationFailed(
                "opened_at is in the future", errors=[FieldError("opened_at", "in the future")]
            )
        try:
            with self.db.begin() as conn:
                existing = self._find(conn, body.conversation_id)
                if existing is not None:
                    return self._replay_open(existing, body)
                row = {
                    "conversation_id": body.conversation_id,
                    "customer_id": body.customer_id,
                    "channel": body.channel,
                    "jurisdiction": body.jurisdiction,
                    "topic": body.topic,
                    "opened_at": opened,
                    "first_response_at": None,
                    "first_responder": None,
                    "closed_at": None,
                    "outcome": None,
                    "closed_by": None,
                    "created_by": actor,
                    "updated_at": now,
                    "revision": 1,
                }
                conn.execute(insert(ServiceContact), row)
                TRAIL.record(
                    conn,
                    body.conversation_id,
                    actor,
                    ip,
                    "opened",
                    {
                        "channel": body.channel,
                        "jurisdiction": body.jurisdiction,
                        "topic": body.topic,
                        "opened_at": opened,
                    },
                )
        except IntegrityError:
            # Opened at the same moment by another request: answer as a replay of that one.
            with self.db.connect() as conn:
                existing = self._find(conn, body.conversation_id)
            if existing is None:  # pragma: no cover - the constraint says it exists
                raise
            return self._replay_open(existing, body)
        return {**self._view(SimpleNamespace(**row)), "replayed": False}

    def _replay_open(self, existing: Any, body: NewContact) -> dict[str, Any]:
        # What the replay names must match; the topic may have been refined at close.
        differs = [
            name
            for name in ("customer_id", "channel", "jurisdiction", "opened_at")
            if name in body.model_fields_set and getattr(body, name) != getattr(existing, name)
        ]
        if differs:
            raise ContactConflict(
                f"conversation '{body.conversation_id}' was recorded with other values",
                errors=[FieldError(name, "differs from the recorded contact") for name in differs],
            )
        return {**self._view(existing), "replayed": True}

    def first_response(
        self,
        conversation_id: str,
        raw: Any,
        actor: str,
        ip: str | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Record the agent's first reply; sending it again answers with the record, another
        time is a 409."""
        body: FirstResponse = validated(FirstResponse, raw, "invalid first response")
        now = now or datetime.now(UTC)
        with self.db.begin() as conn:
            row = self._load(conn, conversation_id)
            at = body.responded_at or (row.first_response_at if row.first_response_at else now)
            if row.first_response_at is not None:
                if at != row.first_response_at:
                    raise ContactConflict(
                        f"conversation '{conversation_id}' already has its first response at "
                        f"{row.first_response_at.isoformat()}",
                        errors=[FieldError("responded_at", "already recorded")],
                    )
                return {**self._view(row), "replayed": True}
            if row.outcome == "abandoned":
                raise ContactConflict(
                    f"conversation '{conversation_id}' was closed as abandoned (no reply)",
                    errors=[FieldError("responded_at", "the contact was abandoned")],
                )
            # (A contact closed otherwise than abandoned already has its first response.)
            errors = self._time_errors("responded_at", at, row, now)
            if errors:
                raise ValidationFailed("invalid first response", errors=errors)
            detail = {"responded_at": at, "seconds": _seconds(row.opened_at, at)}
            self._change(
                conn,
                row,
                actor,
                ip,
                "first_response",
                detail,
                now,
                first_response_at=at,
                first_responder=actor,
            )
        return {**self._view(row), "replayed": False}

    def close(
        self,
        conversation_id: str,
        raw: Any,
        actor: str,
        ip: str | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """End a contact with its outcome and topic. A closed contact is not reopened: the
        customer coming back is a new contact (and, on the same topic, a repeat)."""
        body: CloseContact = validated(CloseContact, raw, "invalid close")
        now = now or datetime.now(UTC)
        with self.db.begin() as conn:
            row = self._load(conn, conversation_id)
            topic = body.topic or row.topic
            if row.closed_at is not None:
                same = (
                    body.outcome == row.outcome
                    and topic == row.topic
                    and (body.closed_at is None or body.closed_at == row.closed_at)
                )
                if not same:
                    raise ContactConflict(
                        f"conversation '{conversation_id}' was closed at "
                        f"{row.closed_at.isoformat()} ({row.outcome}); a later contact is a new "
                        "conversation",
                        errors=[FieldError("outcome", "already closed")],
                    )
                return {**self._view(row), "replayed": True}
            at = body.closed_at or now
            errors = self._time_errors("closed_at", at, row, now)
            if row.first_response_at is not None and at < row.first_response_at:
                errors.append(
                    FieldError(
                        "closed_at",
                        f"before first_response_at ({row.first_response_at.isoformat()})",
                    )
                )
            if body.outcome != "abandoned" and topic is None:
                errors.append(FieldError("topic", f"required to close as {body.outcome}"))
            if errors:
                raise ValidationFailed("invalid close", errors=errors)
            if body.outcome == "abandoned" and row.first_response_at is not None:
                raise ContactConflict(
                    "an answered contact is not abandoned",
                    errors=[FieldError("outcome", "the contact has a first response")],
                )
            if body.outcome != "abandoned" and row.first_response_at is None:
                raise ContactConflict(
                    f"conversation '{conversation_id}' has no first response; record it first "
                    "(or close it as abandoned)",
                    errors=[FieldError("first_response_at", "record the first response first")],
                )
            detail = {"outcome": body.outcome, "topic": topic, "closed_at": at}
            self._change(
                conn,
                row,
                actor,
                ip,
                "closed",
                detail,
                now,
                closed_at=at,
                outcome=body.outcome,
                topic=topic,
                closed_by=actor,
            )
        return {**self._view(row), "replayed": False}

    def survey(
        self, raw: Any, actor: str, ip: str | None = None, now: datetime | None = None
    ) -> dict[str, Any]:
        """Record the customer's survey of a contact: one per contact. The same survey sent
        again answers with the record (``replayed``); another one is a 409."""
        body: NewSurvey = validated(NewSurvey, raw, "invalid survey")
        now = now or datetime.now(UTC)
        from lendguard.privacy import pii

        comment = body.comment.strip() if body.comment else None
        entities = pii.scan(comment) if comment else []
        masked = pii.mask_text(comment) if comment else None
        try:
            with self.db.begin() as conn:
                contact = self._load(conn, body.conversation_id, "conversation_id")
                existing = self._survey(conn, body.conversation_id)
                if existing is not None:
                    return self._replay_survey(existing, body, masked)
                at = body.submitted_at or now
                errors = self._time_errors("submitted_at", at, contact, now)
                if errors:
                    raise ValidationFailed("invalid survey", errors=errors)
                row = {
                    "conversation_id": body.conversation_id,
                    "customer_id": contact.customer_id,
                    "score": body.score,
                    "comment_masked": masked,
                    "pii_types": sorted({e.type for e in entities}),
                    "submitted_at": at,
                    "recorded_at": now,
                    "source": actor,
                }
                conn.execute(insert(ServiceSurvey), row)
                TRAIL.record(
                    conn,
                    body.conversation_id,
                    actor,
                    ip,
                    "survey",
                    {
                        "score": body.score,
                        "comment": masked is not None,
                        "pii_masked": len(entities),
                    },
                )
        except IntegrityError:
            with self.db.connect() as conn:
                existing = self._survey(conn, body.conversation_id)
            if existing is None:  # pragma: no cover - the constraint says it exists
                raise
            return self._replay_survey(existing, body, masked)
        return {**self._survey_view(SimpleNamespace(**row)), "replayed": False}

    def _replay_survey(self, existing: Any, body: NewSurvey, masked: str | None) -> dict[str, Any]:
        if existing.score != body.score or existing.comment_masked != masked:
            raise ContactConflict(
                f"conversation '{body.conversation_id}' already has its survey (one per contact)",
                errors=[FieldError("conversation_id", "already surveyed")],
            )
        return {**self._survey_view(existing), "replayed": True}

    # -- reading ---------------------------------------------------------------------------------

    def get(self, conversation_id: str, now: datetime | None = None) -> dict[str, Any]:
        """One contact with its survey and its FCR status."""
        now = now or datetime.now(UTC)
        with self.db.connect() as conn:
            row = self._load(conn, conversation_id)
            survey = self._survey(conn, conversation_id)
            same_topic = (
                conn.execute(
                    select(ServiceContact).where(
                        ServiceContact.customer_id == row.customer_id,
                        ServiceContact.topic == row.topic,
                    )
                ).all()
                if row.topic is not None
                else [row]
            )
        status = classify(self._facts(same_topic), now)[conversation_id]
        return {
            **self._view(row),
            "first_contact_resolution": status.as_dict(),
            "survey": self._survey_view(survey) if survey is not None else None,
        }

    def metrics(
        self, days: int = 30, jurisdiction: str | None = None, now: datetime | None = None
    ) -> dict[str, Any]:
        """FCR, time to first response and CSAT of the contacts opened in the last ``days``
        days, overall and by channel."""
        if not 1 <= days <= MAX_DAYS:
            raise ValidationFailed(
                "days out of range", errors=[FieldError("days", f"1 to {MAX_DAYS}")]
            )
        if jurisdiction is not None and jurisdiction.upper() not in JURISDICTIONS:
            raise ValidationFailed(
                "unknown jurisdiction",
                errors=[FieldError("jurisdiction", f"one of {list(JURISDICTIONS)}")],
            )
        now = now or datetime.now(UTC)
        since = now - timedelta(days=days)
        wanted = jurisdiction.upper() if jurisdiction else None
        # Earlier contacts whose window reaches into the period make its repeats.
        longest = max(
            self.fcr_window_days(j, d) for j in JURISDICTIONS for d in (since.date(), now.date())
        )
        lookback = since - timedelta(days=longest)
        c = ServiceContact
        with self.db.connect() as conn:
            rows = conn.execute(
                select(c).where(
                    or_(
                        c.opened_at >= since,
                        c.closed_at >= lookback,
                        and_(c.closed_at.is_(None), c.opened_at < since),
                    )
                )
            ).all()
            scores = dict(
                conn.execute(
                    select(ServiceSurvey.conversation_id, ServiceSurvey.score)
                    .join(c, c.conversation_id == ServiceSurvey.conversation_id)
                    .where(c.opened_at >= since, c.opened_at <= now)
                ).all()
            )
        statuses = classify(self._facts(rows), now)
        cohort = [
            r
            for r in rows
            if since <= r.opened_at <= now and (wanted is None or r.jurisdiction == wanted)
        ]
        by_channel: dict[str, list[Any]] = defaultdict(list)
        for r in cohort:
            by_channel[r.channel].append(r)
        return {
            "generated_at": now,
            "since": since,
            "days": days,
            "jurisdiction": wanted,
            "fcr_window_days": {
                j: self.fcr_window_days(j, now.date())
                for j in ([wanted] if wanted else JURISDICTIONS)
            },
            **figures(cohort, statuses, scores),
            "by_channel": {
                channel: figures(by_channel[channel], statuses, scores)
                for channel in CHANNELS
                if channel in by_channel
            },
        }

    # -- plumbing --------------------------------------------------------------------------------

    @staticmethod
    def _time_errors(field: str, at: datetime, row: Any, now: datetime) -> list[FieldError]:
        errors = []
        if at < row.opened_at:
            errors.append(FieldError(field, f"before opened_at ({row.opened_at.isoformat()})"))
        if at > now + FUTURE_SLACK:
            errors.append(FieldError(field, "in the future"))
        return errors

    @staticmethod
    def _find(conn: Connection, conversation_id: str) -> Any:
        row = conn.execute(
            select(ServiceContact).where(ServiceContact.conversation_id == conversation_id)
        ).first()
        return SimpleNamespace(**row._mapping) if row is not None else None

    def _load(self, conn: Connection, conversation_id: str, field: str | None = None) -> Any:
        row = self._find(conn, conversation_id)
        if row is None:
            raise NotFound(
                f"service contact '{conversation_id}' does not exist",
                errors=[FieldError(field, "unknown contact")] if field else None,
            )
        return row

    @staticmethod
    def _survey(conn: Connection, conversation_id: str) -> Any:
        return conn.execute(
            select(ServiceSurvey).where(ServiceSurvey.conversation_id == conversation_id)
        ).first()

    @staticmethod
    def _view(row: Any) -> dict[str, Any]:
        return {
            "conversation_id": row.conversation_id,
            "customer_id": row.customer_id,
            "channel": row.channel,
            "jurisdiction": row.jurisdiction,
            "topic": row.topic,
            "state": _state(row),
            "opened_at": row.opened_at,
            "first_response_at": row.first_response_at,
            "first_response_seconds": _seconds(row.opened_at, row.first_response_at),
            "first_responder": row.first_responder,
            "closed_at": row.closed_at,
            "outcome": row.outcome,
            "closed_by": row.closed_by,
            "updated_at": row.updated_at,
            "revision": row.revision,
        }

    @staticmethod
    def _survey_view(row: Any) -> dict[str, Any]:
        return {
            "conversation_id": row.conversation_id,
            "score": row.score,
            "satisfied": row.score >= SATISFIED_FROM,
            "comment": row.comment_masked,
            "pii_types": row.pii_types,
            "submitted_at": row.submitted_at,
            "recorded_at": row.recorded_at,
        }

    def _change(
        self,
        conn: Connection,
        row: Any,
        actor: str,
        ip: str | None,
        kind: str,
        detail: dict[str, Any],
        now: datetime,
        **values: Any,
    ) -> None:
        """One change (:data:`TRAIL`): the row (compare-and-set on revision) and the audit
        trail, in the caller's transaction."""
        TRAIL.change(conn, row, actor, ip, kind, detail, now, **values)
