"""The typed contract of the money lock and kill switch (issue #19): what the lock, unlock and
read endpoints accept and answer.

Bodies refuse unknown fields (a misspelt ``kill_switch`` would otherwise lock without it) and
control characters; a reference and the verifier's name are required for the methods that
verify someone in person or by video, which the service checks (naming the field) so the same
rule holds for a caller that is not HTTP."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from lendguard.cases.schemas import INVISIBLE

# Printable text: no control character (tab, line feed and carriage return aside), and
# something a reader can see (not only blanks, zero-width or other format characters: a note
# of zero-width spaces is no note, as for case notes).
_CONTROL = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f"
NOT_BLANK = f"^[^{_CONTROL}]*[^{INVISIBLE}][^{_CONTROL}]*$"
# An identifier (a branch visit, a video call): no control character at all, something visible.
_ANY_CONTROL = r"\u0000-\u001f\u007f"
IDENTIFIER = f"^[^{_ANY_CONTROL}]*[^{INVISIBLE}][^{_ANY_CONTROL}]*$"

STRICT = ConfigDict(regex_engine="python-re", extra="forbid")


def _json_number(value: object) -> object:
    """A JSON number only: ``true`` (read as 1) or ``"1"`` is a client's slip, not a revision or
    an id. An integral ``1.0`` stays accepted: JSON Schema's ``integer`` includes it."""
    if isinstance(value, bool | str | bytes):
        raise ValueError("must be a JSON integer, not a boolean or a string")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_number)]
"""An integer as JSON writes one (never a boolean or a numeric string)."""

LockChannel = Literal["app", "agent"]
UnlockMethod = Literal["in_person", "video", "cooling_off"]
LockStateName = Literal["locked", "unlock_pending", "unlocked"]


class LockBody(BaseModel):
    """Lock the customer's outflows and new credit; with ``kill_switch``, also suspend every
    session on a device new since the lock."""

    model_config = STRICT

    channel: LockChannel = Field(
        description="who asked: the customer in the lender's app, or an agent on their behalf"
    )
    kill_switch: StrictBool = Field(
        default=False, description="also suspend sign-ins and actions on new devices"
    )
    note: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        pattern=NOT_BLANK,
        description="a short note for the record (why the customer locked, who called)",
    )


class UnlockBody(BaseModel):
    """Undo a lock, with the verification the policy accepts. ``revision`` is the lock's
    current revision (compare-and-set): a stale one is refused with 409."""

    model_config = ConfigDict(
        regex_engine="python-re",
        extra="forbid",
        json_schema_extra={
            # In person and by video name the visit or call and the verifier (the service
            # checks it too, naming each missing field).
            "if": {
                "properties": {"method": {"enum": ["in_person", "video"]}},
                "required": ["method"],
            },
            "then": {
                "properties": {
                    "reference": {"type": "string"},
                    "verified_by": {"type": "string"},
                },
                "required": ["reference", "verified_by"],
            },
        },
    )

    method: UnlockMethod = Field(
        description="in_person (a branch visit) or video (a video call) unlock now; cooling_off "
        "unlocks once the policy's cooling-off hours have passed"
    )
    reference: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=IDENTIFIER,
        description="the branch visit or video call id; required for in_person and video",
    )
    verified_by: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=IDENTIFIER,
        description="the member of staff who verified the customer; required for in_person "
        "and video",
    )
    revision: JsonInt = Field(ge=1, le=2**31 - 1, description="the lock's current revision")


class LockStep(BaseModel):
    """One step of a lock's life, as recorded."""

    kind: str = Field(
        description="locked, kill_switch_on, relocked, unlock_requested (a cooling-off) or unlocked"
    )
    at: datetime
    actor: str = Field(description="the API key or console user that made the step")
    detail: dict[str, Any] = Field(
        description="channel, kill switch and note; or the unlock's method, reference, verifier "
        "and when it takes effect"
    )


class LockView(BaseModel):
    """A customer's money lock as it stands now, with its history (oldest first)."""

    customer_id: str = Field(description="the customer, as the request named them")
    state: LockStateName = Field(
        description="locked; unlock_pending while a cooling-off runs (still blocking); "
        "unlocked once an unlock took effect"
    )
    kill_switch: bool = Field(description="sessions on new devices are suspended too")
    locked_at: datetime
    channel: LockChannel = Field(description="who asked for the lock")
    unlock_method: UnlockMethod | None = Field(description="how the last unlock was verified")
    unlock_effective_at: datetime | None = Field(
        description="when the unlock takes (or took) effect; null while locked"
    )
    revision: int = Field(description="send it back with an unlock (compare-and-set)")
    history: list[LockStep]
