"""The typed contract of the alliance's HTTP faces: the public API (members, the list, PSI,
lookups, the exchange history) and the peer protocol's bodies.

Bodies refuse unknown fields. Identifier values are free text here (each kind has its own
canonical form, checked by the service so the message names what is wrong); binary values of
the peer protocol travel as base64 strings (points concatenated).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

STRICT = ConfigDict(regex_engine="python-re", extra="forbid")

AllianceKind = Literal["resident_id", "mobile", "card", "device_id"]
AlliancePsiMode = Literal["intersection", "cardinality"]
MEMBER_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# A reason is a code (``confirmed_fraud``, ``mule_account``), never free text: free text on a
# list about people invites personal information.
REASON = r"^[a-z][a-z0-9_]{0,63}$"
SESSION_ID = r"^[A-Za-z0-9_-]{8,64}$"
# No control characters in a value (the guard refuses escaped ones; this covers the rest).
_VALUE = r"^[^\u0000-\u001f\u007f]+$"


# -- identity and members --------------------------------------------------------------------------


class AllianceIdentity(BaseModel):
    configured: bool
    member_id: str | None = None
    public_key: str | None = Field(
        default=None, description="base64 Ed25519 public key: give it to every other member"
    )
    lookup_epoch: str | None = None
    message: dict[str, str] | None = Field(
        default=None, description="why the alliance is off (zh-CN and en)"
    )


class AllianceMemberBody(BaseModel):
    """A peer lender, as both sides configure each other."""

    model_config = STRICT

    member_id: str = Field(pattern=MEMBER_ID, description="the member's id, as it signs")
    name: str = Field(min_length=1, max_length=200, pattern=_VALUE)
    url: str = Field(
        min_length=8,
        max_length=500,
        pattern=r"^https?://[A-Za-z0-9.:\[\]_~%-]+(/[!-~]*)?$",
        description="the member's base URL (https in production)",
    )
    public_key: str = Field(
        pattern=r"^[A-Za-z0-9+/]{43}=$", description="base64 of its 32-byte Ed25519 public key"
    )


class AllianceMemberOut(BaseModel):
    member_id: str
    name: str
    url: str
    public_key: str
    status: str
    created_at: datetime
    created_by: str
    removed_at: datetime | None


class AllianceMemberList(BaseModel):
    members: list[AllianceMemberOut]


# -- the list --------------------------------------------------------------------------------------


class AllianceListEntryBody(BaseModel):
    """Put an identifier on this lender's alliance list."""

    model_config = STRICT

    kind: AllianceKind
    value: str = Field(min_length=1, max_length=256, pattern=_VALUE)
    reason: str = Field(
        pattern=REASON, description="a code such as confirmed_fraud or mule_account"
    )


class AllianceListRemoveBody(BaseModel):
    """Take an identifier off the list: by its entry id, or by kind and value."""

    model_config = STRICT

    entry_id: int | None = Field(default=None, ge=1, le=2**62)
    kind: AllianceKind | None = None
    value: str | None = Field(default=None, min_length=1, max_length=256, pattern=_VALUE)


class AllianceListEntryOut(BaseModel):
    id: int
    kind: str
    masked: str
    reason: str
    added_by: str
    added_at: datetime
    removed_at: datetime | None
    created: bool = Field(description="false when the identifier was already on the list")


class AllianceListSummary(BaseModel):
    counts: dict[str, int] = Field(description="active entries per identifier kind")
    total: int


# -- PSI -------------------------------------------------------------------------------------------


class AlliancePsiBody(BaseModel):
    """Match this lender's list of one kind with a member's (ECDH-PSI)."""

    model_config = STRICT

    peer: str = Field(pattern=MEMBER_ID)
    list_kind: AllianceKind
    mode: AlliancePsiMode


class AllianceMatchedEntry(BaseModel):
    id: int
    masked: str


class AlliancePsiOut(BaseModel):
    exchange_id: str
    session_id: str
    peer: str
    list_kind: str
    mode: str
    items: int
    peer_items: int
    count: int
    matched: list[AllianceMatchedEntry] | None = Field(
        description="this lender's own entries also on the member's list (intersection only)"
    )
    took_ms: float


# -- lookups ---------------------------------------------------------------------------------------


class AllianceIdentifier(BaseModel):
    model_config = STRICT

    kind: AllianceKind
    value: str = Field(min_length=1, max_length=256, pattern=_VALUE)


class AllianceLookupBody(BaseModel):
    """Ask every active member whether one applicant's identifiers are on its list."""

    model_config = STRICT

    customer_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=_VALUE)
    identifiers: list[AllianceIdentifier] = Field(min_length=1, max_length=4)


class AllianceHit(BaseModel):
    member: str
    kind: str


class AllianceSignal(BaseModel):
    alliance_hit: list[str]


class AllianceLookupOut(BaseModel):
    query_id: str
    hits: list[AllianceHit]
    members_asked: list[str]
    unavailable: list[str]
    signal: AllianceSignal
    took_ms: float


# -- history ---------------------------------------------------------------------------------------


class AllianceExchangeOut(BaseModel):
    id: str
    kind: str
    role: str
    peer: str
    session_id: str
    list_kind: str | None
    mode: str
    items: int
    peer_items: int | None
    matched: int | None
    status: str
    legal_basis: str
    purpose: str
    actor: str
    started_at: datetime
    finished_at: datetime | None
    took_ms: float | None
    detail: dict[str, object]


class AllianceExchangePage(BaseModel):
    exchanges: list[AllianceExchangeOut]
    next_offset: int | None


# -- peer protocol ---------------------------------------------------------------------------------


class AlliancePeerPsiBody(BaseModel):
    model_config = STRICT

    session_id: str = Field(pattern=SESSION_ID)
    list_kind: AllianceKind
    mode: AlliancePsiMode
    blinded: str = Field(description="base64 of the requester's points, concatenated")


class AlliancePeerLookupQuery(BaseModel):
    """One of the applicant's identifiers, blinded: ``H(x)^r`` and x's public bucket."""

    model_config = STRICT

    kind: AllianceKind
    blinded: str = Field(min_length=44, max_length=44, description="base64 of one point")
    bucket: int = Field(ge=0, le=65535, strict=True)


class AlliancePeerLookupBody(BaseModel):
    """Every identifier of one applicant in one signed request (one round trip per member)."""

    model_config = STRICT

    query_id: str = Field(pattern=SESSION_ID)
    queries: list[AlliancePeerLookupQuery] = Field(min_length=1, max_length=4)


class AlliancePeerPsiOut(BaseModel):
    session_id: str
    double_blinded: str = Field(description="base64: the requester's points raised to our key")
    own_blinded: str = Field(description="base64: our list hashed and raised to it, sorted")
    items: int


class AlliancePeerLookupAnswer(BaseModel):
    evaluated: str = Field(description="base64 of the point raised to our lookup key")
    tags: str = Field(description="base64 of the bucket's 16-byte tags, concatenated")


class AlliancePeerLookupOut(BaseModel):
    query_id: str
    answers: list[AlliancePeerLookupAnswer] = Field(
        description="one answer per query, in the request's order"
    )
