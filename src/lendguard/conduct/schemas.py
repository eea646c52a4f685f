"""The conduct area's public contract: preferences, rescue flags and the answers of the contact
guard and the policy endpoint. The contact check and log bodies themselves are the guard's own
request models (:class:`lendguard.conduct.contacts.ContactRequest` and ``ContactLog``).

Field names are public API: add, never rename or remove.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, RootModel

from lendguard.conduct.contacts import Channel, InconvenientWindow
from lendguard.conduct.rescue_flags import Flag
from lendguard.kit.bounds import Instant

# -- preferences ---------------------------------------------------------------------------------


class MarketingChoice(BaseModel):
    """The customer's marketing choice for one channel, or all (``*``)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["marketing"]
    customer_id: str = Field(min_length=1, max_length=128)
    channel: Literal["call", "sms", "visit", "push", "email", "*"] = Field(
        default="*", description="a channel, or * for all"
    )
    opted_out: bool
    at: Instant | None = None
    source: str = Field(default="api", min_length=1, max_length=64)


class ThirdPartyChoice(BaseModel):
    """A third party (an emergency contact, a relative) asked not to be contacted about the
    debtor's debt again: named by the lender's id, by the contact, or both."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {
                    "required": ["third_party_id"],
                    "properties": {"third_party_id": {"type": "string"}},
                },
                {"required": ["contact"], "properties": {"contact": {"type": "string"}}},
            ]
        },
    )

    kind: Literal["third_party_opt_out"]
    debtor_id: str = Field(min_length=1, max_length=128)
    third_party_id: str | None = Field(default=None, min_length=1, max_length=128)
    contact: str | None = Field(default=None, min_length=1, max_length=512)
    channel: Channel = Field(default="call", description="how to normalise the contact")
    jurisdiction: str = Field(default="CN", min_length=2, max_length=8)
    at: Instant | None = None
    source: str = Field(default="api", min_length=1, max_length=64)


class InconvenientChoice(BaseModel):
    """The debtor's designated inconvenient times (R23); the list replaces the set."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["inconvenient_times"]
    debtor_id: str = Field(min_length=1, max_length=128)
    windows: list[InconvenientWindow] = Field(max_length=32, description="replaces the set")
    source: str = Field(default="api", min_length=1, max_length=64)


class PreferenceChoice(
    RootModel[
        Annotated[
            Union[MarketingChoice, ThirdPartyChoice, InconvenientChoice],  # noqa: UP007
            Field(discriminator="kind"),
        ]
    ]
):
    """One preference, told apart by ``kind``."""


class MarketingRecorded(BaseModel):
    id: int
    kind: Literal["marketing"]
    channel: str
    opted_out: bool


class ThirdPartyRecorded(BaseModel):
    id: int
    kind: Literal["third_party_opt_out"]
    third_party_id: str | None
    contact_hash: str | None = Field(description="the contact's keyed pseudonym")


class StoredWindow(BaseModel):
    """An inconvenient time as stored: clock times in the debtor's local time."""

    start: str = Field(description="HH:MM:SS, in the window")
    end: str = Field(description="HH:MM:SS, not in the window")
    weekdays: list[int] | None
    channels: list[str] | None
    note: str


class InconvenientRecorded(BaseModel):
    kind: Literal["inconvenient_times"]
    debtor_id: str
    windows: list[StoredWindow]


PreferenceRecorded = Annotated[
    Union[MarketingRecorded, ThirdPartyRecorded, InconvenientRecorded],  # noqa: UP007
    Field(discriminator="kind"),
]


class MarketingPreferenceView(BaseModel):
    id: int
    channel: str
    opted_out: bool
    at: datetime
    source: str
    actor: str


class ThirdPartyOptOutView(BaseModel):
    id: int
    third_party_id: str | None
    contact_hash: str | None
    at: datetime
    source: str
    actor: str


class Preferences(BaseModel):
    customer_id: str
    marketing: list[MarketingPreferenceView] = Field(description="oldest first")
    third_party_opt_outs: list[ThirdPartyOptOutView] = Field(description="oldest first")
    inconvenient_times: list[StoredWindow]


# -- rescue flags --------------------------------------------------------------------------------


class FlagBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(min_length=1, max_length=128)
    flag: Flag
    reason: str = Field(min_length=1, max_length=2000)
    source: str = Field(default="api", min_length=1, max_length=64)
    since: Instant | None = Field(default=None, description="default: now")
    until: Instant | None = Field(default=None, description="after since (or now); default: open")


class FlagSet(BaseModel):
    id: int
    customer_id: str
    flag: Flag


class FlagCleared(BaseModel):
    customer_id: str
    flag: Flag
    cleared: int = Field(description="open flags ended (history is kept)")


class FlagView(BaseModel):
    id: int
    flag: Flag
    since: datetime
    until: datetime | None
    active: bool = Field(description="whether it holds now")
    reason: str
    source: str
    actor: str


class FlagList(BaseModel):
    customer_id: str
    flags: list[FlagView] = Field(description="newest first")


# -- contacts ------------------------------------------------------------------------------------


class PolicyRef(BaseModel):
    jurisdiction: str
    version: str


class FindingPolicy(PolicyRef):
    """The policy value a finding rests on, with its source."""

    value: str = Field(description="the value's name in the policy")
    source: str
    citation: str
    confidence: str


class ContactFinding(BaseModel):
    code: str = Field(description="e.g. QUIET_HOURS, DAILY_CAP, MARKETING_OPTED_OUT")
    requirement: str
    message: str
    review: bool = Field(description="goes to manual review rather than a plain refusal")
    policy: FindingPolicy


class ContactCheck(BaseModel):
    """May the contact go out: the findings against it, each with the rule it rests on."""

    allowed: bool
    review: bool
    codes: list[ContactFinding]
    local_time: datetime = Field(description="the contact's time in the debtor's zone")
    timezone: str
    checked_at: datetime
    policy: PolicyRef


class ContactAttempt(BaseModel):
    """A logged attempt (contacts only as keyed pseudonyms)."""

    id: int
    attempt_id: str | None
    debtor_id: str
    debt_id: str | None
    purpose: Literal["collection", "marketing"]
    channel: Channel
    direction: Literal["outbound", "inbound"]
    target: Literal["debtor", "third_party"]
    third_party_id: str | None
    relation: str | None
    contact_hash: str
    at: datetime
    local_date: date
    timezone: str
    jurisdiction: str
    policy_version: str
    result: str
    consented: bool
    actor: str


class ContactLogged(ContactAttempt):
    logged: bool
    replayed: bool = Field(description="true: the attempt_id was logged before; the first record")
    recorded: list[str] | None = Field(
        default=None,
        description="preferences the result recorded (a third party's or a marketing "
        "opt-out); absent on a replay",
    )


class AttemptList(BaseModel):
    attempts: list[ContactAttempt] = Field(description="newest first")


# -- policy --------------------------------------------------------------------------------------


class PolicyValueView(BaseModel):
    value: Any = Field(description="the threshold or rule (a number, text, list or table)")
    code: str | None
    requirement: str | None
    source: str
    source_text: str
    confidence: str
    configurable: bool
    note: str | None


class ConductPolicy(BaseModel):
    kind: str
    jurisdiction: str
    version: str
    effective_from: date
    effective_to: date | None = Field(description="exclusive; null while in force")
    note: str | None
    values: dict[str, PolicyValueView]
