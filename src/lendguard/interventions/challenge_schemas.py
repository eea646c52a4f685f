"""The typed contract of a challenge's answers (issue #19).

Unknown fields are refused (a misspelt ``verification`` would otherwise read as a face check
never done). Answers are short option values; which values a question accepts is checked by the
service against the challenge itself, naming the question."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from lendguard.kit.bounds import Instant

STRICT = ConfigDict(regex_engine="python-re", extra="forbid")
# An option value or question id: letters, digits and _ (no control character, no markup).
_TOKEN = r"^[A-Za-z0-9_]{1,64}$"
Token = Annotated[str, Field(pattern=_TOKEN, max_length=64)]
# A vendor's 0-1 score as a JSON number (never a boolean or a string); stated with minimum and
# maximum so the contract carries the range.
Score = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, strict=True)]


def _text_instant(value: object) -> object:
    """An instant is ISO 8601 text with its offset: a bare number (seconds? milliseconds?) is a
    client's slip the lax parser would read as Unix seconds."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string with a UTC offset")
    return value


ShownAt = Annotated[Instant, BeforeValidator(_text_instant)]


class FaceCheck(BaseModel):
    """The lender's face-check vendor's result. Only pass or fail and the vendor's opaque
    reference are kept: no image, no template, not even the scores."""

    model_config = STRICT

    liveness_score: Score
    face_match_score: Score
    vendor_reference: str | None = Field(
        default=None, max_length=128, pattern=r"^[A-Za-z0-9._:-]{1,128}$"
    )


class ChallengeAnswers(BaseModel):
    """The customer's answers, as the lender's app collected them."""

    model_config = STRICT

    answers: dict[Token, Token] = Field(
        default_factory=dict,
        max_length=20,
        description="question id -> the chosen option's value (yes/no, or a purpose)",
        # Pydantic states the values' pattern but not the keys': the contract says both.
        json_schema_extra={"propertyNames": {"pattern": _TOKEN, "maxLength": 64}},
    )
    verification: FaceCheck | None = Field(
        default=None, description="Required when the challenge asks for a face check"
    )
    locale: Literal["zh-CN", "en"] = Field(
        default="zh-CN", description="The language the questions were shown in"
    )
    channel: Literal["app", "web", "agent", "phone"] = Field(
        default="app", description="Where the customer answered (agent: read out on a call)"
    )
    shown_at: ShownAt | None = Field(
        default=None, description="When the app showed the questions (for the evidence pack)"
    )
