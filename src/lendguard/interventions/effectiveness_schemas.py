"""The typed contract of the interventions' effectiveness report
(:mod:`lendguard.interventions.effectiveness`). Field names are the public API: add, never
rename."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from lendguard.decisions.rules.loader import Action


class Figures(BaseModel):
    shown: int = Field(description="interventions shown (a challenge's follow-up not again)")
    abandoned: int = Field(
        description="the payment did not go ahead: the hold was cancelled, or the answers led "
        "to an intercept or a block not released afterwards"
    )
    confirmed_scam: int = Field(
        description="the case was resolved as fraud or scam victim, or a fraud label came later"
    )
    honest_delayed: int = Field(
        description="the hold was released or the case resolved as legitimate"
    )
    abandoned_rate: float | None = Field(description="abandoned / shown; null when none shown")
    confirmed_scam_rate: float | None = Field(description="confirmed_scam / shown")
    median_honest_delay_minutes: float | None = Field(
        description="from the decision to the end of the hold, honest customers only; null "
        "when no hold end is recorded"
    )


class InterventionFigures(Figures):
    intervention: Action
    with_questions: bool = Field(description="the customer answered a challenge")


class TypologyFigures(InterventionFigures):
    typology: str = Field(description="the case's scam type, else the code of the strongest reason")


class Effectiveness(BaseModel):
    """Interventions decided in [from, to): shown, abandoned, confirmed scam, honest delayed."""

    from_: datetime = Field(alias="from", serialization_alias="from")
    to: datetime
    groups: list[TypologyFigures] = Field(description="per intervention and typology")
    by_intervention: list[InterventionFigures]
    total: Figures
