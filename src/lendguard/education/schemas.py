"""Consumer education's API bodies and the reach figures (issue #21).

:class:`ReachMetrics` is also a section of the protection report (``lendguard.reporting``):
the report renders it as it is, with the definitions in :data:`REACH_DEFINITIONS`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

LocalText = dict[str, str]
"""A text per locale: ``{"zh-CN": …, "en": …}``."""


class ReachGroup(BaseModel):
    """Reach within one group (a channel, an age band or a topic)."""

    key: str = Field(description="The channel, age band or topic")
    reached: int = Field(description="Unique customers with at least one delivery")
    opened: int = Field(description="Of them, customers who opened at least one item")
    completed: int = Field(description="Of them, customers who completed at least one item")
    completion_rate: float | None = Field(description="completed / reached; null when none")


class QuizFigures(BaseModel):
    answers: int = Field(description="Quiz answers recorded in the period")
    customers: int = Field(description="Unique customers who answered")
    passed: int = Field(description="Answers that passed the topic's mark")
    pass_rate: float | None


class LaterScams(BaseModel):
    """Whether reached customers were later scammed less: customers who completed an item
    against customers with an intervention in the period who were never reached, each counted
    scammed when a confirmed scam (a case confirmed as a scam, or a fraud label on an outflow
    they made as a victim) follows their first delivery (or their first intervention) within
    the follow-up window. Observational: the groups differ in who gets education."""

    follow_up_days: int
    reached_customers: int
    reached_scammed: int
    reached_rate: float | None
    comparison_customers: int
    comparison_scammed: int
    comparison_rate: float | None
    caveat: LocalText = Field(description="Why the difference is not the effect of education")


class ReachMetrics(BaseModel):
    """Education's reach over a period (deliveries, openings and completions that occurred in
    it)."""

    customers_reached: int
    customers_opened: int
    customers_completed: int
    completion_rate: float | None
    deliveries: int
    openings: int
    completions: int
    by_channel: list[ReachGroup]
    by_age_band: list[ReachGroup]
    by_topic: list[ReachGroup]
    quiz: QuizFigures
    later_scams: LaterScams
