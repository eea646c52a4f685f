"""The contact guard: may this collection or marketing contact go out now? (R13, R16-R19,
R23-R24, R33.)

Two operations:

- :meth:`ContactGuard.check` answers before an outbound call, SMS, visit, push or email, from
  the policy in force (``conduct/policies/<jurisdiction>.yaml``) and the attempts logged so
  far. It writes nothing; it is advice, and cheap: one statement on one connection reads the
  day's and the 7 days' counts over one index range, the debtor's designated inconvenient
  times, the rescue flag and the third party's opt-out (the guard's own consent and rescue
  tables are read in that statement; a swapped-in interface costs one call each).
- :meth:`ContactGuard.log` records an attempt and its result. It runs the same check again
  inside one transaction that first bumps the debtor's ``contact_debtors`` row (the row lock
  on PostgreSQL, the write lock on SQLite), then counts, then inserts. Two concurrent attempts
  for one debtor are therefore serialised: they can never both pass a cap. An attempt that
  breaks a rule is refused (:class:`ContactRefused`, HTTP 409) and not recorded.

Why the log is the source of truth: a dialler that checks, then calls, then logs would let two
agents pass the 6th-call check together; refusing at log time (under the lock) is the only
place the cap can be exact, and a refused log tells the dialler to stop.

Time: every rule reads the debtor's local time (``timezone``, IANA), and counts are kept per
debtor-local calendar date (stored with each attempt), as R16, R17 and R24 speak of local
hours and days. The policy version is chosen by that local date as well.

Which rule applies to what (each also needs its value in the policy in force):

- collection only: quiet hours (R16/R23), designated inconvenient times (R23), the daily cap
  of unanswered attempts per number (R17, any target), third-party rules (R18), the paused
  flag (R33); the 7-in-7 count and the post-conversation wait (R24) count calls to the
  debtor about one debt. A window of the debtor's consent lifts the time rules; consent given
  directly within the policy's days also takes calls out of the 7-in-7 count.
- marketing only: the customer's opt-out (R13; the consent store wins over the caller) and
  the marketing-suppressed flag (R33). Marketing goes to the customer, never a third party.
- any template: impersonation of an administrative or judicial organ (R19) goes to manual
  review (``review: true``, not allowed).

Contact numbers and addresses are normalised (``+86 138-0013-8000`` and ``13800138000`` are
the same number) and stored only as keyed pseudonyms (``lendguard.kit.crypto.pseudonymise``).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from time import sleep as _pause
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationInfo,
    field_validator,
)
from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    Engine,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal,
    null,
    select,
    type_coerce,
    update,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql import Select

from lendguard.auth import audit
from lendguard.conduct.preferences import (
    ConsentState,
    PreferenceStore,
    latest_marketing_choice,
    third_party_opt_out_since,
)
from lendguard.conduct.rescue_flags import Flag, FlagStore, RescueState, flag_held
from lendguard.config import DEFAULT_PII_KEY
from lendguard.errors import Conflict, FieldError, ValidationFailed
from lendguard.kit.bounds import Instant
from lendguard.kit.crypto import pseudonymise
from lendguard.models.base import UTCDateTime
from lendguard.models.conduct import ContactAttempt, ContactDebtor
from lendguard.policies import (
    NoPolicyInForce,
    Policy,
    PolicyError,
    PolicyValue,
    load_policy,
)

POLICY_KIND = "conduct"
CHANNELS = ("call", "sms", "visit", "push", "email")
# Channels whose content is a written template: the content rules need its text.
WRITTEN_CHANNELS = frozenset({"sms", "push", "email"})
RESULTS = (
    "answered",  # picked up, no conversation about the debt (wrong person, hung up)
    "conversation",  # a conversation with the person contacted about the debt
    "unanswered",  # rang out, voicemail, no reply
    "failed",  # did not connect: busy, not in service, undeliverable
    "delivered",  # a written message was delivered
    "refused_by_third_party",  # the third party asked not to be contacted again
    "opted_out",  # the person asked to stop (a marketing opt-out, or a third party's)
)
# Results that show the debtor was reached (contradicts an "unreachable" claim).
REACHED = ("answered", "conversation")

Purpose = Literal["collection", "marketing"]
Channel = Literal["call", "sms", "visit", "push", "email"]
Result = Literal[
    "answered",
    "conversation",
    "unanswered",
    "failed",
    "delivered",
    "refused_by_third_party",
    "opted_out",
]


# -- the request ---------------------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{name}' is not an IANA time zone (e.g. Asia/Shanghai)") from None


class ThirdParty(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=128, description="the lender's id of the person")
    relation: Literal["debt_related", "unrelated"] = Field(
        description="debt_related (e.g. a spouse where the debt funded the household) or "
        "unrelated (e.g. an emergency contact)"
    )


class Debt(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=128)
    amount: Decimal | None = Field(default=None, ge=0)
    overdue_days: int | None = Field(default=None, ge=0)


class DebtorConsent(BaseModel):
    """The debtor's own consent to be contacted in a window (R16 "without the debtor's
    consent"; R23 "absent consent"). ``given_at``, when sent and within the policy's days,
    also excludes calls in the window from the US 7-in-7 count (R24)."""

    model_config = ConfigDict(extra="forbid")

    window_start: Instant
    window_end: Instant
    given_at: Instant | None = None


# The documented form of the rules across fields that the guard checks (``_prepare``), so a
# client generator knows them; each is enforced there with a 422 naming the field. What no
# schema can say (a consent window's end after its start; a policy version in force on the
# contact's date) is only enforced there.
_WRITTEN_CHANNELS_SCHEMA: list[JsonValue] = [*sorted(WRITTEN_CHANNELS)]
# Spaces, tabs and line breaks (other control characters are refused at the edge).
_BLANKS = "[ \\t\\r\\n]*"
_NOT_BLANK = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*\\S"
_US = f"^{_BLANKS}[Uu][Ss]{_BLANKS}$"
CONTACT_RULES: list[JsonValue] = [
    {  # a contact of a third party names the person; a contact of the debtor names none
        "if": {"properties": {"target": {"const": "third_party"}}, "required": ["target"]},
        "then": {"required": ["third_party"], "properties": {"third_party": {"type": "object"}}},
        "else": {"properties": {"third_party": {"type": "null"}}},
    },
    {  # marketing goes to the customer only
        "if": {"properties": {"purpose": {"const": "marketing"}}, "required": ["purpose"]},
        "then": {"properties": {"target": {"const": "debtor"}}},
    },
    {  # a collection contact names its debt
        "if": {"properties": {"purpose": {"const": "collection"}}, "required": ["purpose"]},
        "then": {"required": ["debt"], "properties": {"debt": {"type": "object"}}},
    },
    {  # a written channel carries the text sent
        "if": {
            "properties": {"channel": {"enum": _WRITTEN_CHANNELS_SCHEMA}},
            "required": ["channel"],
        },
        "then": {
            "required": ["template_text"],
            "properties": {"template_text": {"type": "string", "pattern": _NOT_BLANK}},
        },
    },
    {  # the US has no single time zone: the debtor's is named
        "if": {"properties": {"jurisdiction": {"pattern": _US}}, "required": ["jurisdiction"]},
        "then": {"required": ["timezone"], "properties": {"timezone": {"type": "string"}}},
    },
]
# The jurisdictions with a conduct policy (any case, surrounding blanks ignored).
JURISDICTION_PATTERN = f"^{_BLANKS}([Cc][Nn]|[Uu][Kk]|[Uu][Ss]){_BLANKS}$"
# The shape of an IANA zone name (Asia/Shanghai, America/Port-au-Prince, Etc/GMT+8, UTC). The
# zones themselves are not listed in the schema: names such as GMT0, GMT+0 and GMT-0 would make
# one identifier in a generated client. An unknown name is refused here (422 naming the field).
ZONE_PATTERN = "^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$"


class ContactRequest(BaseModel):
    """One planned contact. Field-level rules here; rules across fields in the guard."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"allOf": CONTACT_RULES})

    purpose: Purpose
    channel: Channel
    debtor_id: str = Field(min_length=1, max_length=128, description="the customer id")
    contact: str = Field(
        min_length=1, max_length=512, description="number or address; stored only hashed"
    )
    target: Literal["debtor", "third_party"] = "debtor"
    third_party: ThirdParty | None = None
    debtor_reachable: bool = True
    at: Instant | None = Field(default=None, description="default: now")
    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="the debtor's IANA zone; default: the jurisdiction's, where it has one",
        json_schema_extra={"pattern": ZONE_PATTERN},
    )
    alternate_timezones: list[str] = Field(
        default_factory=list,
        max_length=8,
        description="other plausible zones when the location is uncertain (R23 [M])",
        json_schema_extra={"items": {"type": "string", "pattern": ZONE_PATTERN}},
    )
    template_text: str | None = Field(default=None, max_length=10_000)
    debt: Debt | None = None
    debtor_consent: DebtorConsent | None = None
    marketing_opted_out: bool | None = Field(
        default=None, description="the caller's view; the consent store wins when it knows"
    )
    jurisdiction: str = Field(
        default="CN",
        min_length=2,
        max_length=8,
        description="a jurisdiction with a conduct policy (those shipped: CN, UK, US)",
        # Documented, not enforced here: a policy directory may add one; an unknown one is
        # refused by the guard (422 naming the field).
        json_schema_extra={"pattern": JURISDICTION_PATTERN},
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            _zone(value)
        return value

    @field_validator("alternate_timezones")
    @classmethod
    def _known_zones(cls, value: list[str]) -> list[str]:
        for name in value:
            _zone(name)
        return value

    @field_validator("jurisdiction")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.strip().upper()


class ContactLog(ContactRequest):
    """An attempt made (or an inbound contact), with its result."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "allOf": [
                *CONTACT_RULES,
                {  # only a third party refuses as a third party
                    "if": {
                        "properties": {"result": {"const": "refused_by_third_party"}},
                        "required": ["result"],
                    },
                    "then": {
                        "required": ["target"],
                        "properties": {"target": {"const": "third_party"}},
                    },
                },
            ]
        },
    )

    result: Result
    direction: Literal["outbound", "inbound"] = Field(
        default="outbound",
        description="inbound contacts are recorded (a conversation starts the US wait) but "
        "never checked or counted as attempts",
    )
    attempt_id: str | None = Field(
        default=None, min_length=1, max_length=128, description="idempotency key"
    )


# -- answers -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    requirement: str
    message: str
    value: PolicyValue
    review: bool = False


@dataclass(slots=True)
class CheckResult:
    allowed: bool
    review: bool
    findings: list[Finding]
    local_time: datetime
    timezone: str
    checked_at: datetime
    policy: Policy
    consented: bool = False

    def as_dict(self) -> dict[str, Any]:
        jurisdiction, version = self.policy.jurisdiction, self.policy.version
        return {
            "allowed": self.allowed,
            "review": self.review,
            "codes": [
                {
                    "code": f.code,
                    "requirement": f.requirement,
                    "message": f.message,
                    "review": f.review,
                    "policy": {
                        "jurisdiction": jurisdiction,
                        "version": version,
                        "value": f.value.name,
                        "source": f.value.source,
                        "citation": f.value.source_text,
                        "confidence": f.value.confidence,
                    },
                }
                for f in self.findings
            ],
            "local_time": self.local_time.isoformat(),
            "timezone": self.timezone,
            "checked_at": self.checked_at.isoformat(),
            "policy": {"jurisdiction": jurisdiction, "version": version},
        }


class ContactRefused(Conflict):
    """Logging an attempt that breaks a rule: nothing was recorded."""

    title = "Contact refused"

    def __init__(self, result: CheckResult) -> None:
        codes = ", ".join(f.code for f in result.findings)
        super().__init__(f"the attempt breaks the contact rules ({codes}); it was not logged")
        self.result = result


# -- the policy, compiled once per version --------------------------------------------------------


def _clock(text: str) -> time:
    return time.fromisoformat(str(text))


def _in_window(moment: time, start: time, end: time, start_inclusive: bool = True) -> bool:
    """Inside [start, end) (or (start, end)); a window with start > end wraps midnight."""
    after_start = moment > start or (start_inclusive and moment == start)
    if start < end:
        return after_start and moment < end
    return after_start or moment < end


def _keywords(words: Iterable[str]) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
    """(pattern for words with letters of a Latin script, pattern for the rest).

    Latin words match whole words (``court`` is not in ``courtesy``); Chinese words match
    anywhere in the text with spaces and punctuation removed (``法 院`` and ``法.院`` still
    say 法院).
    """
    latin: list[str] = []
    other: list[str] = []
    for word in words:
        word = unicodedata.normalize("NFKC", str(word)).casefold().strip()
        if not word:
            continue
        (latin if re.search(r"[a-z]", word) else other).append(word)
    latin_re = (
        re.compile(
            r"(?<![\w])(?:"
            + "|".join(r"\s+".join(map(re.escape, w.split())) for w in _longest_first(latin))
            + r")(?![\w])"
        )
        if latin
        else None
    )
    other_re = re.compile("|".join(re.escape(w) for w in _longest_first(other))) if other else None
    return latin_re, other_re


def _longest_first(words: list[str]) -> list[str]:
    return sorted(set(words), key=lambda w: (-len(w), w))


_SQUEEZE = re.compile(r"[\W_]+")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


@dataclass(slots=True)
class _Text:
    """A template, normalised once per check for every content rule."""

    plain: str
    squeezed: str

    @classmethod
    def of(cls, text: str) -> _Text:
        plain = unicodedata.normalize("NFKC", text).casefold()
        return cls(plain, _SQUEEZE.sub("", plain))

    def find(self, latin: re.Pattern[str] | None, other: re.Pattern[str] | None) -> str | None:
        if latin is not None:
            hit = latin.search(self.plain)
            if hit:
                return hit.group(0)
        if other is not None:
            hit = other.search(self.squeezed)
            if hit:
                return hit.group(0)
        return None


@dataclass(slots=True)
class _Rules:
    """One policy version's values in the shape the check needs (parsed once)."""

    policy: Policy
    default_timezone: str | None
    country_code: str
    quiet: PolicyValue | None = None
    quiet_start: time = time(0)
    quiet_end: time = time(0)
    quiet_inclusive: bool = True
    quiet_channels: frozenset[str] = frozenset()
    designated: PolicyValue | None = None
    designated_channels: frozenset[str] = frozenset()
    daily: PolicyValue | None = None
    daily_max: int = 0
    daily_channels: tuple[str, ...] = ()
    daily_results: tuple[str, ...] = ()
    week: PolicyValue | None = None
    week_max: int = 0
    week_days: int = 0
    week_channels: tuple[str, ...] = ()
    week_excluded: tuple[str, ...] = ()
    excluded_value: PolicyValue | None = None
    consent_exclusion_days: int = 0
    wait: PolicyValue | None = None
    wait_days: int = 0
    wait_channels: tuple[str, ...] = ()
    third_party: PolicyValue | None = None
    reached: PolicyValue | None = None
    reached_days: int = 0
    disclosure: PolicyValue | None = None
    disclosure_relations: frozenset[str] = frozenset()
    disclosure_latin: re.Pattern[str] | None = None
    disclosure_other: re.Pattern[str] | None = None
    disclosure_patterns: tuple[re.Pattern[str], ...] = ()
    disclosure_amount: bool = False
    opt_out: PolicyValue | None = None
    opt_out_results: frozenset[str] = frozenset()
    impersonation: PolicyValue | None = None
    impersonation_purposes: frozenset[str] = frozenset()
    impersonation_latin: re.Pattern[str] | None = None
    impersonation_other: re.Pattern[str] | None = None
    marketing_opt_out: PolicyValue | None = None
    marketing_unknown_allowed: bool = True
    distressed: PolicyValue | None = None
    paused: PolicyValue | None = None
    scan_days: int = 0
    # Built on first use per shape: (third party?, own rescue table?, own consent table?).
    statements: dict[tuple[str, bool, bool], Select[Any]] = field(default_factory=dict, repr=False)

    @classmethod
    def compile(cls, policy: Policy) -> _Rules:
        tz = policy.get("default_timezone")
        cc = policy.get("phone_country_code")
        rules = cls(
            policy=policy,
            default_timezone=str(tz.value) if tz else None,
            country_code=str(cc.value) if cc else "",
        )
        if quiet := _collection_rule(policy, "quiet_hours"):
            rules.quiet = quiet
            rules.quiet_start = _clock(quiet.value["start"])
            rules.quiet_end = _clock(quiet.value["end"])
            rules.quiet_inclusive = bool(quiet.value.get("start_inclusive", True))
            rules.quiet_channels = frozenset(quiet.value.get("channels", CHANNELS))
        if designated := _collection_rule(policy, "consumer_designated_inconvenient"):
            rules.designated = designated
            rules.designated_channels = frozenset(designated.value.get("channels", CHANNELS))
        if daily := _collection_rule(policy, "unanswered_daily_cap"):
            rules.daily = daily
            rules.daily_max = int(daily.value["max_attempts"])
            rules.daily_channels = tuple(daily.value.get("channels", ["call"]))
            rules.daily_results = tuple(daily.value.get("results", ["unanswered"]))
        if week := _collection_rule(policy, "calls_in_7_days"):
            rules.week = week
            rules.week_max = int(week.value["max_calls"])
            rules.week_days = int(week.value.get("days", 7))
            rules.week_channels = tuple(week.value.get("channels", ["call"]))
            rules.consent_exclusion_days = int(week.value.get("consent_exclusion_days", 0))
            excluded = policy.get("calls_excluded_results")
            if excluded is not None:
                rules.excluded_value = excluded
                rules.week_excluded = tuple(excluded.value)
        if wait := _collection_rule(policy, "post_conversation_wait"):
            rules.wait = wait
            rules.wait_days = int(wait.value["days"])
            rules.wait_channels = tuple(wait.value.get("channels", ["call"]))
        if third := policy.get("third_party_contact"):
            if third.value.get("unrelated_only_when_unreachable", True):
                rules.third_party = third
                if reached := policy.get("debtor_reached_recently"):
                    rules.reached = reached
                    rules.reached_days = int(reached.value["days"])
        if disclosure := policy.get("third_party_disclosure"):
            rules.disclosure = disclosure
            rules.disclosure_relations = frozenset(
                disclosure.value.get("relations", ["unrelated", "debt_related"])
            )
            rules.disclosure_latin, rules.disclosure_other = _keywords(
                disclosure.value.get("keywords", [])
            )
            rules.disclosure_patterns = tuple(
                re.compile(p) for p in disclosure.value.get("patterns", [])
            )
            rules.disclosure_amount = bool(disclosure.value.get("match_debt_amount", False))
        if opt_out := policy.get("third_party_opt_out"):
            rules.opt_out = opt_out
            rules.opt_out_results = frozenset(opt_out.value.get("results", []))
        if impersonation := policy.get("impersonation"):
            rules.impersonation = impersonation
            rules.impersonation_purposes = frozenset(
                impersonation.value.get("purposes", ["collection", "marketing"])
            )
            rules.impersonation_latin, rules.impersonation_other = _keywords(
                impersonation.value.get("keywords", [])
            )
        if marketing := policy.get("marketing_opt_out"):
            rules.marketing_opt_out = marketing
            unknown = str(marketing.value.get("unknown", "allow"))
            if unknown not in ("allow", "refuse"):
                raise PolicyError(f"marketing_opt_out.unknown must be allow or refuse: {unknown}")
            rules.marketing_unknown_allowed = unknown == "allow"
        rules.distressed = policy.get("marketing_to_distressed")
        rules.paused = policy.get("collection_paused")
        # How many local days back the one aggregate query must read (today included).
        rules.scan_days = max(
            rules.week_days if rules.week else 1,
            rules.wait_days if rules.wait else 1,
            rules.reached_days if rules.reached else 1,
            1,
        )
        return rules

    def statement(self, shape: str, own_rescue: bool, own_consent: bool) -> Select[Any]:
        """The one statement a check of this shape runs (``collection``, ``third_party`` or
        ``marketing``); built once, with bind parameters. The guard's own rescue and consent
        tables are read in it too, so a check is one round trip on one connection."""
        key = (shape, own_rescue, own_consent)
        found = self.statements.get(key)
        if found is None:
            if shape == "marketing":
                found = self._marketing_statement(own_rescue, own_consent)
            else:
                found = self._collection_statement(shape == "third_party", own_rescue)
            self.statements[key] = found
        return found

    def _marketing_statement(self, own_rescue: bool, own_consent: bool) -> Select[Any]:
        suppressed: Any = (
            flag_held(Flag.marketing_suppressed)
            if own_rescue and self.distressed is not None
            else literal(False)
        )
        opted_out: Any = (
            latest_marketing_choice().scalar_subquery()
            if own_consent and self.marketing_opt_out is not None
            else type_coerce(null(), Boolean())
        )
        return select(suppressed.label("suppressed"), opted_out.label("opted_out"))

    def _collection_statement(self, third_party: bool, own_rescue: bool) -> Select[Any]:
        """Every count the collection rules need, over one index range (``debtor_id,
        local_date``), with the debtor's designated inconvenient times, the collection-paused
        flag and (for a third party) their opt-out, as scalar subqueries."""
        a = ContactAttempt
        collection_out = and_(a.purpose == "collection", a.direction == "outbound")
        zero = literal(0)
        if self.daily is not None:
            day_count: Any = func.coalesce(
                func.sum(
                    case(
                        (
                            and_(
                                collection_out,
                                a.local_date == bindparam("day", type_=Date()),
                                a.contact_hash == bindparam("contact"),
                                _one_of(a.channel, self.daily_channels),
                                _one_of(a.result, self.daily_results),
                            ),
                            1,
                        ),
                        else_=0,
                    )
                ),
                0,
            )
        else:
            day_count = zero
        if self.week is not None:
            conditions = [
                collection_out,
                a.target == "debtor",
                a.debt_id == bindparam("debt"),
                _one_of(a.channel, self.week_channels),
                a.consented.is_(False),
                a.local_date >= bindparam("week_from", type_=Date()),
            ]
            if self.week_excluded:
                conditions.append(~_one_of(a.result, self.week_excluded))
            week_count: Any = func.coalesce(func.sum(case((and_(*conditions), 1), else_=0)), 0)
        else:
            week_count = zero
        if self.wait is not None:
            last_conversation: Any = type_coerce(
                func.max(
                    case(
                        (
                            and_(
                                a.purpose == "collection",
                                a.target == "debtor",
                                a.debt_id == bindparam("debt"),
                                a.result == "conversation",
                                _one_of(a.channel, self.wait_channels),
                            ),
                            a.local_date,
                        ),
                        else_=null(),
                    )
                ),
                Date(),
            )
        else:
            last_conversation = type_coerce(null(), Date())
        if self.reached is not None:
            last_reached: Any = type_coerce(
                func.max(
                    case(
                        (and_(a.target == "debtor", _one_of(a.result, REACHED)), a.local_date),
                        else_=null(),
                    )
                ),
                Date(),
            )
        else:
            last_reached = type_coerce(null(), Date())
        inconvenient = (
            select(ContactDebtor.inconvenient)
            .where(ContactDebtor.debtor_id == bindparam("debtor"))
            .scalar_subquery()
        )
        paused: Any = (
            flag_held(Flag.collection_paused)
            if own_rescue and self.paused is not None
            else literal(False)
        )
        opted_out_at: Any = (
            third_party_opt_out_since().scalar_subquery()
            if third_party and self.opt_out is not None
            else type_coerce(null(), UTCDateTime())
        )
        return select(
            day_count.label("day_count"),
            week_count.label("week_count"),
            last_conversation.label("last_conversation"),
            last_reached.label("last_reached"),
            inconvenient.label("inconvenient"),
            paused.label("paused"),
            opted_out_at.label("third_party_opted_out"),
        ).where(
            a.debtor_id == bindparam("debtor"),
            a.local_date >= bindparam("scan_from", type_=Date()),
            a.local_date <= bindparam("day", type_=Date()),
        )


def _one_of(column: Any, values: Iterable[str]) -> Any:
    """``column IN (...)`` with one plain bind per policy constant: the statement is then
    compiled once and reused as is (a list of values would be an "expanding" parameter,
    re-rendered on every execution)."""
    return column.in_([literal(v) for v in values])


def _collection_rule(policy: Policy, name: str) -> PolicyValue | None:
    found = policy.get(name)
    if found is None or "collection" not in found.value.get("purposes", ["collection"]):
        return None
    return found


# -- contact normalisation -----------------------------------------------------------------------


def normalise_contact(channel: str, value: str, country_code: str) -> str:
    """The canonical form of a number or address, so one number is counted once.

    Phones (call, SMS): digits with ``+`` and the country code (``0086``/``+86``/national all
    become ``+86...``; a national trunk ``0`` is dropped). E-mail and addresses: case-folded,
    spaces collapsed. Push tokens: as sent. A value already pseudonymised passes unchanged.
    """
    text = value.strip()
    if text.startswith("h1:"):
        return text
    if channel in ("call", "sms"):
        digits = re.sub(r"\D", "", text)
        if text.startswith("+"):
            return "+" + digits
        if digits.startswith("00"):
            return "+" + digits[2:]
        if country_code == "1" and len(digits) == 11 and digits.startswith("1"):
            return "+" + digits
        if country_code == "86" and len(digits) == 13 and digits.startswith("86"):
            return "+" + digits
        if digits.startswith("0"):
            digits = digits[1:]
        return "+" + country_code + digits
    if channel == "push":
        return text
    return " ".join(text.split()).casefold()


# -- designated inconvenient times ---------------------------------------------------------------


class InconvenientWindow(BaseModel):
    """A time the consumer said is inconvenient (R23), in their local time; ``start`` is in
    the window, ``end`` is not; a window with start after end runs past midnight and belongs
    to the weekday it starts on."""

    model_config = ConfigDict(extra="forbid")

    start: time
    end: time
    weekdays: list[int] | None = Field(
        default=None, description="ISO weekdays 1 (Monday) to 7; default every day"
    )
    channels: list[Channel] | None = Field(default=None, description="default: all channels")
    note: str = Field(default="", max_length=500)

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (not value or any(d < 1 or d > 7 for d in value)):
            raise ValueError("weekdays are ISO numbers 1 (Monday) to 7 (Sunday)")
        return value

    @field_validator("end")
    @classmethod
    def _not_empty(cls, value: time, info: ValidationInfo) -> time:
        if info.data.get("start") == value:
            raise ValueError("start and end must differ")
        return value


def _designated_hit(windows: list[dict[str, Any]], local: datetime, channel: str) -> str | None:
    moment = local.time().replace(tzinfo=None)
    for window in windows or []:
        channels = window.get("channels")
        if channels and channel not in channels:
            continue
        start, end = _clock(window["start"]), _clock(window["end"])
        if not _in_window(moment, start, end):
            continue
        weekdays = window.get("weekdays")
        if weekdays:
            # Past midnight in a wrapping window: the window started the day before.
            day = local.date() - timedelta(days=1) if start > end and moment < end else local.date()
            if day.isoweekday() not in weekdays:
                continue
        label = f"{window['start'][:5]}-{window['end'][:5]}"
        return label + (f" ({window['note']})" if window.get("note") else "")
    return None


# -- the service ---------------------------------------------------------------------------------


def read_options(engine: Engine) -> dict[str, Any]:
    """Execution options for a one-statement read. On PostgreSQL, autocommit spares the BEGIN
    and the ROLLBACK on return to the pool: two round trips, about half of a check's time
    there. SQLite never opens a transaction for a read (pysqlite), so nothing to spare; the
    option would cost a PRAGMA on every checkout."""
    return {"isolation_level": "AUTOCOMMIT"} if engine.dialect.name == "postgresql" else {}


@dataclass(slots=True)
class _Prepared:
    request: ContactRequest
    rules: _Rules
    zone: str
    at: datetime
    local: datetime
    day: date
    contact_hash: str
    consent_window: bool
    consent_excludes: bool
    # The instant at which the customer's choices (consent, opt-outs) and the protective flags
    # (marketing suppressed, collection paused) are read. For a log it is the contact's own
    # ``at``: what was recorded when it was made. For a check it is ``max(at, now)``: a contact
    # not yet made can only happen from now on, so a withdrawal, an opt-out or a flag already
    # recorded applies to it at once, whatever past ``at`` the caller planned with.
    state_at: datetime


@dataclass(slots=True)
class _Facts:
    """What the database knows, read in one statement (see :meth:`_Rules.statement`)."""

    day_count: int = 0
    week_count: int = 0
    last_conversation: date | None = None
    last_reached: date | None = None
    inconvenient: list[dict[str, Any]] = field(default_factory=list)
    third_party_opted_out: datetime | None = None
    paused: bool = False
    distressed: bool = False
    marketing_allowed: bool | None = None


@dataclass(slots=True)
class _External:
    """Answers of swapped-in interfaces; None where the guard's own tables answer."""

    paused: bool | None = None
    distressed: bool | None = None
    marketing_allowed: bool | None = None
    asked_consent: bool = False


# Tries of one contact log when SQLite refuses its write lock at once (see ContactGuard.log).
_SQLITE_BUSY_ATTEMPTS = 3


class ContactGuard:
    """Checks and logs collection and marketing contacts; see the module docstring.

    ``consent`` and ``rescue`` are interfaces so the consent ledger and the lending side's
    rescue store can replace the simple tables here; by default both are the tables
    (:class:`PreferenceStore`, :class:`FlagStore`), which the endpoints also write to.
    """

    def __init__(
        self,
        engine: Engine,
        pii_key: str | bytes | None = None,
        consent: ConsentState | None = None,
        rescue: RescueState | None = None,
        policy_dir: Path | str | None = None,
    ) -> None:
        self.db = engine
        key = pii_key if pii_key is not None else DEFAULT_PII_KEY
        self.pii_key = key.encode() if isinstance(key, str) else key
        self.preferences = PreferenceStore(engine)
        self.flags = FlagStore(engine)
        self.consent: ConsentState = consent if consent is not None else self.preferences
        self.rescue: RescueState = rescue if rescue is not None else self.flags
        # The own tables are read inside the check's one statement; others through the
        # interface (one call each).
        self._own_consent = consent is None
        self._own_rescue = rescue is None
        self.policy_dir = policy_dir
        self._read_options = read_options(engine)
        self._rules: dict[tuple[str, str], _Rules] = {}
        self._rules_lock = threading.Lock()

    # -- policy ----------------------------------------------------------------------------------

    def policy(self, jurisdiction: str, on_date: date) -> Policy:
        return load_policy(POLICY_KIND, jurisdiction, on_date, self.policy_dir)

    def _rules_for(self, jurisdiction: str, on_date: date) -> _Rules:
        policy = self.policy(jurisdiction, on_date)
        key = (policy.jurisdiction, policy.version)
        rules = self._rules.get(key)
        if rules is None:
            with self._rules_lock:
                rules = self._rules.get(key)
                if rules is None:
                    rules = self._rules[key] = _Rules.compile(policy)
        return rules

    # -- checking --------------------------------------------------------------------------------

    def check(self, request: ContactRequest) -> CheckResult:
        """May this contact go out? Reads only; see :meth:`log` for the binding decision."""
        prepared = self._prepare(request)
        facts = _Facts()
        if self._reads_tables(prepared):
            with self.db.connect().execution_options(**self._read_options) as conn:
                facts = self._facts(conn, prepared)
        return self._evaluate(prepared, facts, self._external(prepared))

    def log(self, entry: ContactLog, actor: str = "system") -> dict[str, Any]:
        """Record an attempt if it keeps every rule, atomically with the counts it was checked
        against; raise :class:`ContactRefused` (nothing written) if it breaks one.

        With ``attempt_id``, logging the same attempt again answers with the first record.
        """
        prepared = self._prepare(entry)
        outbound = entry.direction == "outbound"
        # The interfaces are read before the lock: they are other stores, and the lock is
        # held only for the counts that must not move between the check and the insert.
        external = self._external(prepared) if outbound else _External()
        for attempt in range(_SQLITE_BUSY_ATTEMPTS):
            try:
                return self._log_locked(entry, actor, prepared, outbound, external)
            except OperationalError as exc:
                # SQLite answers "database is locked" at once, without its busy wait, in a few
                # cases (a connection opened while many others open and write together); the
                # transaction was rolled back whole, so running it again is safe.
                if "database is locked" not in str(exc) or attempt + 1 == _SQLITE_BUSY_ATTEMPTS:
                    raise
                _pause(0.05 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _log_locked(
        self,
        entry: ContactLog,
        actor: str,
        prepared: _Prepared,
        outbound: bool,
        external: _External,
    ) -> dict[str, Any]:
        with self.db.begin() as conn:
            self._lock(conn, entry.debtor_id, prepared.at)
            if entry.attempt_id is not None:
                existing = conn.execute(
                    select(ContactAttempt).where(ContactAttempt.attempt_id == entry.attempt_id)
                ).one_or_none()
                if existing is not None:
                    if existing.debtor_id != entry.debtor_id:
                        raise Conflict(
                            f"attempt_id '{entry.attempt_id}' was logged for another debtor"
                        )
                    return {**_attempt_dict(existing), "logged": True, "replayed": True}
            if outbound:
                result = self._evaluate(
                    prepared, self._facts(conn, prepared), external, entry.result
                )
                if not result.allowed:
                    raise ContactRefused(result)
                consented = result.consented
            else:
                consented = False
            now = datetime.now(UTC)
            rules = prepared.rules
            third = entry.third_party
            row = {
                "attempt_id": entry.attempt_id,
                "debtor_id": entry.debtor_id,
                "debt_id": entry.debt.id if entry.debt else None,
                "purpose": entry.purpose,
                "channel": entry.channel,
                "direction": entry.direction,
                "target": entry.target,
                "third_party_id": third.id if third else None,
                "relation": third.relation if third else None,
                "contact_hash": prepared.contact_hash,
                "at": prepared.at,
                "local_date": prepared.day,
                "timezone": prepared.zone,
                "jurisdiction": rules.policy.jurisdiction,
                "policy_version": rules.policy.version,
                "result": entry.result,
                "consented": consented,
                "actor": actor,
                "logged_at": now,
            }
            inserted = conn.execute(insert(ContactAttempt), row).inserted_primary_key
            assert inserted is not None
            attempt_pk = int(inserted[0])
            recorded: list[str] = []
            if entry.target == "third_party" and entry.result in rules.opt_out_results:
                self.preferences.add_third_party_opt_out(
                    entry.debtor_id,
                    third.id if third else None,
                    prepared.contact_hash,
                    f"contact:{attempt_pk}",
                    actor,
                    prepared.at,
                    conn=conn,
                )
                recorded.append("third_party_opt_out")
            elif entry.purpose == "marketing" and entry.result == "opted_out":
                # Asked to stop marketing on a marketing contact: all channels (the stricter
                # reading of "stop"), effective from the contact itself.
                self.preferences.set_marketing(
                    entry.debtor_id,
                    "*",
                    True,
                    f"contact:{attempt_pk}",
                    actor,
                    prepared.at,
                    conn=conn,
                )
                recorded.append("marketing_opt_out")
        out = {**row, "id": attempt_pk, "logged": True, "replayed": False, "recorded": recorded}
        out["at"] = prepared.at
        out["local_date"] = prepared.day.isoformat()
        out.pop("logged_at")
        return out

    def attempts(self, debtor_id: str, limit: int = 200) -> list[dict[str, Any]]:
        """The debtor's logged attempts, newest first (contacts only as pseudonyms)."""
        a = ContactAttempt
        with self.db.connect() as conn:
            rows = conn.execute(
                select(a)
                .where(a.debtor_id == debtor_id)
                .order_by(a.at.desc(), a.id.desc())
                .limit(limit)
            ).all()
        return [_attempt_dict(r) for r in rows]

    # -- designated inconvenient times -----------------------------------------------------------

    def set_inconvenient_times(
        self, debtor_id: str, windows: list[InconvenientWindow], conn: Connection | None = None
    ) -> list[dict[str, Any]]:
        """Replace the debtor's designated inconvenient times (an empty list clears them)."""
        stored = [
            {
                "start": w.start.isoformat(),
                "end": w.end.isoformat(),
                "weekdays": sorted(set(w.weekdays)) if w.weekdays else None,
                "channels": sorted(set(w.channels)) if w.channels else None,
                "note": w.note,
            }
            for w in windows
        ]
        if conn is None:
            with self.db.begin() as own:
                self._store_inconvenient(own, debtor_id, stored)
        else:
            self._store_inconvenient(conn, debtor_id, stored)
        return stored

    def operator_set_inconvenient_times(
        self,
        debtor_id: str,
        windows: list[InconvenientWindow],
        source: str,
        actor: str,
        ip: str | None = None,
    ) -> list[dict[str, Any]]:
        """An operator records the debtor's inconvenient times: the times and their audit
        entry (``conduct.inconvenient_times``) in one transaction."""
        with self.db.begin() as conn:
            stored = self.set_inconvenient_times(debtor_id, windows, conn=conn)
            audit.record(
                conn,
                actor,
                "conduct.inconvenient_times",
                debtor_id,
                ip,
                {"windows": stored, "source": source},
            )
        return stored

    def _store_inconvenient(
        self, conn: Connection, debtor_id: str, stored: list[dict[str, Any]]
    ) -> None:
        now = datetime.now(UTC)
        self._lock(conn, debtor_id, now)
        conn.execute(
            update(ContactDebtor)
            .where(ContactDebtor.debtor_id == debtor_id)
            .values(inconvenient=stored, updated_at=now)
        )

    def inconvenient_times(self, debtor_id: str) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            found = conn.execute(
                select(ContactDebtor.inconvenient).where(ContactDebtor.debtor_id == debtor_id)
            ).scalar_one_or_none()
        return list(found or [])

    # -- internals -------------------------------------------------------------------------------

    @staticmethod
    def _lock(conn: Connection, debtor_id: str, now: datetime) -> None:
        """Bump (or create) the debtor's row as the transaction's first statement: the row
        lock on PostgreSQL, the database write lock on SQLite (taken before any read, so a
        WAL snapshot can never be stale). Held until commit or rollback."""
        dialect = conn.dialect.name
        upsert: Any
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as upsert
        else:  # pragma: no cover - the project runs on SQLite and PostgreSQL only
            raise RuntimeError(f"no per-debtor lock for dialect {dialect}")
        statement = (
            upsert(ContactDebtor)
            .values(debtor_id=debtor_id, version=1, inconvenient=[], updated_at=now)
            .on_conflict_do_update(
                index_elements=[ContactDebtor.debtor_id],
                set_={"version": ContactDebtor.version + 1, "updated_at": now},
            )
        )
        conn.execute(statement)

    def _prepare(self, request: ContactRequest) -> _Prepared:
        errors: list[FieldError] = []
        if request.target == "third_party" and request.third_party is None:
            errors.append(FieldError("third_party", "required when target is third_party"))
        if request.target == "debtor" and request.third_party is not None:
            errors.append(FieldError("third_party", "only with target third_party"))
        if request.purpose == "marketing" and request.target != "debtor":
            errors.append(FieldError("target", "marketing goes to the customer only"))
        if request.purpose == "collection" and request.debt is None:
            errors.append(FieldError("debt", "required for a collection contact"))
        if request.channel in WRITTEN_CHANNELS and not (request.template_text or "").strip():
            errors.append(
                FieldError("template_text", f"required for a written channel ({request.channel})")
            )
        consent = request.debtor_consent
        if consent is not None and consent.window_end <= consent.window_start:
            errors.append(FieldError("debtor_consent.window_end", "must be after window_start"))
        if isinstance(request, ContactLog):
            if request.result == "refused_by_third_party" and request.target != "third_party":
                errors.append(FieldError("result", "refused_by_third_party needs a third party"))
        at = (request.at or datetime.now(UTC)).astimezone(UTC)
        zone_name = request.timezone
        rules: _Rules | None = None
        if errors:
            raise ValidationFailed("the contact is invalid", errors=errors)
        # The policy is chosen by the debtor-local date; the zone may come from the policy.
        try:
            if zone_name is None:
                rules = self._rules_for(request.jurisdiction, at.date())
                zone_name = rules.default_timezone
                if zone_name is None:
                    raise ValidationFailed(
                        "the debtor's time zone is required",
                        errors=[
                            FieldError(
                                "timezone",
                                f"required for jurisdiction {request.jurisdiction} "
                                "(it has no single time zone)",
                            )
                        ],
                    )
            local = at.astimezone(ZoneInfo(zone_name))
            if rules is None or not rules.policy.covers(local.date()):
                rules = self._rules_for(request.jurisdiction, local.date())
        except NoPolicyInForce as exc:
            raise ValidationFailed(str(exc), errors=[FieldError("at", str(exc))]) from None
        except PolicyError as exc:
            raise ValidationFailed(
                str(exc), errors=[FieldError("jurisdiction", str(exc))]
            ) from None
        day = local.date()
        contact_hash = pseudonymise(
            normalise_contact(request.channel, request.contact, rules.country_code), self.pii_key
        )
        window = consent is not None and consent.window_start <= at <= consent.window_end
        excludes = (
            window
            and consent is not None
            and consent.given_at is not None
            and rules.consent_exclusion_days > 0
            and consent.given_at <= at
            and at - consent.given_at <= timedelta(days=rules.consent_exclusion_days)
        )
        return _Prepared(
            request=request,
            rules=rules,
            zone=zone_name,
            at=at,
            local=local,
            day=day,
            contact_hash=contact_hash,
            consent_window=window,
            consent_excludes=bool(excludes),
            state_at=at if isinstance(request, ContactLog) else max(at, datetime.now(UTC)),
        )

    def _external(self, prepared: _Prepared) -> _External:
        """Ask the swapped-in interfaces (none by default: the own tables are in the facts)."""
        request, rules = prepared.request, prepared.rules
        out = _External()
        if request.purpose == "collection":
            if not self._own_rescue and rules.paused is not None:
                out.paused = self.rescue.collection_paused(request.debtor_id, prepared.state_at)
        else:
            if not self._own_rescue and rules.distressed is not None:
                out.distressed = self.rescue.marketing_suppressed(
                    request.debtor_id, prepared.state_at
                )
            if not self._own_consent and rules.marketing_opt_out is not None:
                out.asked_consent = True
                out.marketing_allowed = self.consent.marketing_allowed(
                    request.debtor_id, request.channel, prepared.state_at
                )
        return out

    def _reads_tables(self, prepared: _Prepared) -> bool:
        """Whether the check needs the database: always for collection (the counts); for
        marketing only where the own rescue or consent table answers."""
        rules = prepared.rules
        return prepared.request.purpose == "collection" or (
            (self._own_rescue and rules.distressed is not None)
            or (self._own_consent and rules.marketing_opt_out is not None)
        )

    def _facts(self, conn: Connection, prepared: _Prepared) -> _Facts:
        request, rules = prepared.request, prepared.rules
        facts = _Facts()
        if request.purpose == "marketing":
            if self._reads_tables(prepared):
                row = conn.execute(
                    rules.statement("marketing", self._own_rescue, self._own_consent),
                    {
                        "debtor": request.debtor_id,
                        "channel": request.channel,
                        "at": prepared.state_at,
                    },
                ).one()
                facts.distressed = bool(row.suppressed)
                facts.marketing_allowed = None if row.opted_out is None else not row.opted_out
            return facts
        third = request.third_party
        shape = "third_party" if third is not None else "collection"
        day = prepared.day
        row = conn.execute(
            rules.statement(shape, self._own_rescue, self._own_consent),
            {
                "debtor": request.debtor_id,
                "contact": prepared.contact_hash,
                "party": third.id if third is not None else None,
                "debt": request.debt.id if request.debt else None,
                "at": prepared.state_at,
                "day": day,
                "scan_from": day - timedelta(days=rules.scan_days - 1),
                "week_from": day - timedelta(days=max(rules.week_days, 1) - 1),
            },
        ).one()
        facts.day_count = int(row.day_count or 0)
        facts.week_count = int(row.week_count or 0)
        facts.last_conversation = row.last_conversation
        facts.last_reached = row.last_reached
        facts.inconvenient = list(row.inconvenient or [])
        facts.paused = bool(row.paused)
        facts.third_party_opted_out = row.third_party_opted_out
        return facts

    def _evaluate(
        self,
        prepared: _Prepared,
        facts: _Facts,
        external: _External,
        result: str | None = None,
    ) -> CheckResult:
        """Every finding for the contact; ``result`` is the logged outcome when known (a call
        that did not connect is outside the US 7-in-7 count, so it cannot break it)."""
        request, rules = prepared.request, prepared.rules
        findings: list[Finding] = []

        def add(value: PolicyValue, message: str, review: bool = False) -> None:
            findings.append(
                Finding(
                    code=value.code or "",
                    requirement=value.requirement or "",
                    message=message,
                    value=value,
                    review=review,
                )
            )

        channel = request.channel
        local = prepared.local
        debt_id = request.debt.id if request.debt else ""
        text = _Text.of(request.template_text) if request.template_text else None
        if request.purpose == "collection":
            paused = external.paused if external.paused is not None else facts.paused
            if paused and rules.paused is not None:
                add(rules.paused, "collection is paused for this customer (hardship measures)")
            if (
                rules.quiet is not None
                and channel in rules.quiet_channels
                and not prepared.consent_window
            ):
                zones = [prepared.zone, *request.alternate_timezones]
                for zone in zones:
                    there = local if zone == prepared.zone else prepared.at.astimezone(_zone(zone))
                    moment = there.time()
                    if _in_window(
                        moment, rules.quiet_start, rules.quiet_end, rules.quiet_inclusive
                    ):
                        add(
                            rules.quiet,
                            f"{moment.strftime('%H:%M')} in {zone} is inside the quiet hours "
                            f"{rules.quiet_start.strftime('%H:%M')}-"
                            f"{rules.quiet_end.strftime('%H:%M')} and the debtor has not "
                            "consented to this time",
                        )
                        break
            if (
                rules.designated is not None
                and channel in rules.designated_channels
                and facts.inconvenient
                and not prepared.consent_window
            ):
                hit = _designated_hit(facts.inconvenient, local, channel)
                if hit:
                    add(
                        rules.designated,
                        f"{local.strftime('%H:%M')} is inside a time the debtor said is "
                        f"inconvenient: {hit}",
                    )
            if request.target == "third_party" and request.third_party is not None:
                self._third_party(prepared, facts, text, add)
            if rules.daily is not None and channel in rules.daily_channels:
                if facts.day_count >= rules.daily_max:
                    add(
                        rules.daily,
                        f"{facts.day_count} unanswered attempts to this contact on "
                        f"{prepared.day.isoformat()} (local); at most {rules.daily_max} a day",
                    )
            if (
                request.target == "debtor"
                and rules.week is not None
                and channel in rules.week_channels
                and not prepared.consent_excludes
                and result not in rules.week_excluded
                and facts.week_count >= rules.week_max
            ):
                add(
                    rules.week,
                    f"{facts.week_count} calls about debt '{debt_id}' in the {rules.week_days} "
                    f"local days to {prepared.day.isoformat()}; more than {rules.week_max} is "
                    "presumed harassment",
                )
            if (
                request.target == "debtor"
                and rules.wait is not None
                and channel in rules.wait_channels
                and not prepared.consent_excludes
                and facts.last_conversation is not None
                and (prepared.day - facts.last_conversation).days < rules.wait_days
            ):
                add(
                    rules.wait,
                    f"a telephone conversation about this debt took place on "
                    f"{facts.last_conversation.isoformat()}; no calls until "
                    f"{(facts.last_conversation + timedelta(days=rules.wait_days)).isoformat()}",
                )
        else:
            distressed = (
                external.distressed if external.distressed is not None else facts.distressed
            )
            if distressed and rules.distressed is not None:
                add(
                    rules.distressed,
                    "the customer is flagged over-indebted: loan marketing is suppressed",
                )
            if rules.marketing_opt_out is not None:
                allowed = (
                    external.marketing_allowed
                    if external.asked_consent
                    else facts.marketing_allowed
                )
                origin = "the consent store"
                if allowed is None and request.marketing_opted_out is not None:
                    allowed = not request.marketing_opted_out
                    origin = "the request"
                if allowed is None:
                    allowed = rules.marketing_unknown_allowed
                    origin = "the policy default (no recorded choice)"
                if not allowed:
                    add(
                        rules.marketing_opt_out,
                        f"the customer opted out of marketing on {channel} (per {origin})",
                    )
        if (
            text is not None
            and rules.impersonation is not None
            and request.purpose in rules.impersonation_purposes
        ):
            word = text.find(rules.impersonation_latin, rules.impersonation_other)
            if word:
                add(
                    rules.impersonation,
                    f"the template names '{word}' (an administrative or judicial organ or its "
                    "documents); it goes to manual review",
                    review=True,
                )
        review = any(f.review for f in findings)
        return CheckResult(
            allowed=not findings,
            review=review,
            findings=findings,
            local_time=local,
            timezone=prepared.zone,
            checked_at=datetime.now(UTC),
            policy=rules.policy,
            consented=prepared.consent_excludes,
        )

    @staticmethod
    def _third_party(prepared: _Prepared, facts: _Facts, text: _Text | None, add: Any) -> None:
        request, rules = prepared.request, prepared.rules
        third = request.third_party
        assert third is not None
        if rules.opt_out is not None and facts.third_party_opted_out is not None:
            add(
                rules.opt_out,
                f"this third party asked not to be contacted "
                f"({facts.third_party_opted_out.date().isoformat()})",
            )
        if rules.third_party is not None and third.relation == "unrelated":
            if request.debtor_reachable:
                add(
                    rules.third_party,
                    "an unrelated third party may be contacted only when the debtor cannot be "
                    "reached",
                )
            elif (
                rules.reached is not None
                and facts.last_reached is not None
                and (prepared.day - facts.last_reached).days < rules.reached_days
            ):
                add(
                    rules.reached,
                    "the debtor is not unreachable: they answered on "
                    f"{facts.last_reached.isoformat()} (within {rules.reached_days} local days)",
                )
        if (
            rules.disclosure is not None
            and text is not None
            and third.relation in rules.disclosure_relations
        ):
            what = text.find(rules.disclosure_latin, rules.disclosure_other)
            if what is None:
                for pattern in rules.disclosure_patterns:
                    hit = pattern.search(text.plain)
                    if hit:
                        what = hit.group(0)
                        break
            if what is None and rules.disclosure_amount and request.debt is not None:
                what = _amount_in(text.plain, request.debt.amount)
            if what is not None:
                add(
                    rules.disclosure,
                    f"a message to a third party must not disclose the debt; it mentions '{what}'",
                )


def _amount_in(text: str, amount: Decimal | None) -> str | None:
    if amount is None:
        return None
    for hit in _NUMBER.finditer(text):
        try:
            if Decimal(hit.group(0).replace(",", "")) == amount:
                return hit.group(0)
        except InvalidOperation:
            continue
    return None


def _attempt_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "attempt_id": row.attempt_id,
        "debtor_id": row.debtor_id,
        "debt_id": row.debt_id,
        "purpose": row.purpose,
        "channel": row.channel,
        "direction": row.direction,
        "target": row.target,
        "third_party_id": row.third_party_id,
        "relation": row.relation,
        "contact_hash": row.contact_hash,
        "at": row.at,
        "local_date": row.local_date.isoformat(),
        "timezone": row.timezone,
        "jurisdiction": row.jurisdiction,
        "policy_version": row.policy_version,
        "result": row.result,
        "consented": row.consented,
        "actor": row.actor,
    }
