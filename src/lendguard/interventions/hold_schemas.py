"""The typed contract of holds (issue #19): releasing or cancelling one held payment and
listing held payments with their deadlines.

Bodies refuse unknown fields (a misspelt ``note`` would otherwise be dropped without a word).
A release needs a visible reason, here and again in the service (naming ``note``), so the rule
holds for a caller that is not HTTP too; a cancellation may say why."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from lendguard.cases.schemas import (
    MAX_TEXT,
    PYTHON_RE,
    SOMETHING_VISIBLE,
    STRICT,
    HoldEndReason,
)

HoldStatus = Literal["held", "released", "cancelled"]


class HoldReleaseBody(BaseModel):
    model_config = PYTHON_RE

    note: str = Field(
        min_length=1,
        max_length=MAX_TEXT,
        pattern=SOMETHING_VISIBLE,
        description="why the held payment may go ahead (required, as for releasing a case). "
        "Stored with personal information masked",
    )


class HoldCancelBody(BaseModel):
    model_config = STRICT

    note: str = Field(
        default="",
        max_length=MAX_TEXT,
        description="why, optionally. Stored with personal information masked",
    )


class HoldView(BaseModel):
    """A held payment: where it is filed, until when it may be held, how it ended, and what
    the customer is told to do to release it."""

    decision_id: str
    case_id: str
    customer_id: str | None
    event_id: str
    action: str = Field(description="the decision's action: intercept or block")
    amount: float | None
    decided_at: datetime | None
    hold_status: HoldStatus
    hold_deadline: datetime | None = Field(
        description="released automatically at this instant (the end of the N-th business day "
        "after the decision, local time) unless released or cancelled first"
    )
    hold_ended_at: datetime | None
    hold_end_reason: HoldEndReason | None
    release_instructions: dict[str, str] | None = Field(
        description="what the customer is told to do to release it, per locale (zh-CN, en)"
    )


class HoldPage(BaseModel):
    total: int = Field(description="holds matching the filter, over all pages")
    holds: list[HoldView] = Field(description="soonest deadline first")


class HoldReleaseProposal(BaseModel):
    """A release above the release policy's amount, waiting for a second person."""

    decision_id: str
    proposed_by: str
    proposed_at: datetime
    amount: float = Field(
        description="the money at stake: this hold and what agents already released hold by "
        "hold on its case"
    )
    currency: str
    threshold: float
    note: str


class HoldActionResult(BaseModel):
    hold: HoldView
    release_proposal: HoldReleaseProposal | None = Field(
        description="set (and the hold still held) when the release waits for a second person"
    )
