"""The typed contract of the link graph's API: one customer's linked group as JSON. Entity
values are masked (a type and six characters) before they reach these models."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from lendguard.cases.flow import CaseState


class RingThresholds(BaseModel):
    min_size: int
    new_share: float
    labelled_share: float


class GroupFigures(BaseModel):
    """The whole group's figures and the batch ring rules' verdict on it."""

    size: int
    new_share: float = Field(description="share of accounts opened within 30 days")
    labelled_share: float = Field(description="share carrying a confirmed fraud label")
    link_types: list[str] = Field(description="strong identifier kinds the members share")
    reasons: list[str] = Field(description="why the group looks organised (codes)")
    flagged: bool
    thresholds: RingThresholds


class GroupMember(BaseModel):
    customer_id: str
    opened_at: datetime | None
    fraud_label: bool
    mule_peak: float
    suspected_mule: bool
    first_seen: datetime | None
    last_seen: datetime | None


class SharedIdentifier(BaseModel):
    type: str = Field(description="device, phone, card, address, ...")
    entity: str = Field(description="masked: its type and six characters")
    strong: bool
    customers: list[str] = Field(description="the members who use it")
    in_group: int
    total_users: int = Field(description="every customer who uses it, in the group or not")


class OpenCase(BaseModel):
    id: str
    customer_id: str
    state: CaseState
    case_type: str
    risk: int
    opened_at: datetime
    overdue: bool


class LinkedGroup(BaseModel):
    customer_id: str = Field(description="as stored: an id holding personal data as its pseudonym")
    known: bool = Field(description="false: the graph has never seen the customer")
    figures: GroupFigures
    ring_id: str | None = Field(description="the ring the last batch detection put them in")
    members: list[GroupMember] = Field(description="oldest account first, at most 500")
    members_shown: int
    shared: list[SharedIdentifier] = Field(description="most shared first, at most 100")
    shared_total: int
    open_cases: list[OpenCase] | None = Field(
        default=None,
        description="the members' open cases, newest first; only for a caller with cases:read",
    )
