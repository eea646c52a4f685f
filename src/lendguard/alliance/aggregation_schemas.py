"""The typed contract of the alliance's aggregation rounds (issue #20): what starting a round
accepts and what a round answers — the totals per typology and measure, the members that took
part and those dropped, never one member's figures."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MEMBER_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class AllianceAggregationStart(BaseModel):
    """Start a round: the month to sum, and optionally which members to ask (default: every
    active member). This member always takes part."""

    model_config = ConfigDict(extra="forbid", regex_engine="python-re")

    period: str = Field(
        pattern=r"^20\d\d-(0[1-9]|1[0-2])$",
        description="the month summed, YYYY-MM (decisions made in it, UTC)",
        examples=["2026-01"],
    )
    members: list[Annotated[str, Field(pattern=MEMBER_ID)]] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        json_schema_extra={"uniqueItems": True},
        description="the other members asked, each once (default: every active member)",
    )

    @field_validator("members")
    @classmethod
    def _distinct_member_ids(cls, members: list[str] | None) -> list[str] | None:
        if members is not None and len(set(members)) != len(members):
            raise ValueError("each member is listed once")
        return members


class AllianceAggregationTotal(BaseModel):
    """One entry of the alliance-wide sum."""

    typology: str = Field(description="the scam typology (the cases' scam types)")
    measure: Literal["interventions", "confirmed_frauds", "losses_avoided_fen"] = Field(
        description="interventions: decisions at intercept or above; confirmed_frauds: of "
        "those, cases resolved as fraud or scam victim; losses_avoided_fen: held money whose "
        "payment was cancelled, in fen"
    )
    total: int = Field(description="the sum over the participants")


class AllianceAggregationRound(BaseModel):
    """A round as its aggregator keeps it."""

    round_id: str
    period: str
    step: Literal["advertise", "share", "collect", "consistency", "unmask", "done", "failed"]
    participants: list[str] = Field(description="the members whose figures are in the totals")
    dropped: list[str] = Field(description="the members asked that dropped out")
    totals: list[AllianceAggregationTotal] | None = Field(
        description="the sums, once the round is done"
    )
    started_by: str
    started_at: datetime
    finished_at: datetime | None
    failure: str | None = Field(default=None, description="why a failed round failed")


class AllianceAggregationRounds(BaseModel):
    """The rounds this member aggregated, newest first."""

    rounds: list[AllianceAggregationRound]


class AlliancePeerStepAnswer(BaseModel):
    """A contributor's signed answer to one step of a round: exactly one field, by step —
    ``advert`` (its two public keys, with ``advert_signature``: its Ed25519 signature over them
    and the round id), ``shares`` (its encrypted shares, base64 by recipient),
    ``masked`` (its masked vector: base64 of little-endian 64-bit words),
    ``consistency_signature`` (its Ed25519 signature over the round id and the sorted
    survivors list; one list per round) or ``reveal`` (the shares the unmask asks for, given
    only for the list it signed, signed by at least t of its members)."""

    advert: dict[str, Any] | None = None
    advert_signature: str | None = None
    shares: dict[str, str] | None = None
    masked: str | None = None
    consistency_signature: str | None = None
    reveal: dict[str, Any] | None = None
