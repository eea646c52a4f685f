"""The protection report (issue #21): one typed document, rendered as JSON (this model), HTML,
PDF and the console page.

Every figure names its definition (``definition`` keys into :attr:`ProtectionReport.definitions`,
written once in :mod:`lendguard.reporting.definitions`). Money is in CNY (yuan, two decimals).
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from lendguard.education.schemas import LocalText, ReachMetrics


class Definition(BaseModel):
    """What a figure counts, in words a regulator reads: the same text on the console, in the
    report and in ``make eval``."""

    key: str
    title: LocalText
    definition: LocalText
    unit: str = Field(description="count | rate | cny | hours | days")
    basis: str = Field(description="observed (from outcomes that happened) | estimated")


class ReportPeriod(BaseModel):
    from_date: date = Field(description="First calendar day, in the report's time zone")
    to_date: date = Field(description="Last calendar day (inclusive)")
    zone: str = Field(description="IANA time zone the days are counted in")
    start: datetime = Field(description="The first instant counted")
    end: datetime = Field(description="The first instant not counted")
    days: int


class DayActions(BaseModel):
    day: date
    counts: dict[str, int] = Field(description="action -> decisions (remind … block)")


class TypologyActions(BaseModel):
    typology: str
    label: LocalText
    counts: dict[str, int] = Field(description="action -> decisions (remind … block)")
    total: int


class InterventionsSection(BaseModel):
    decisions: int = Field(description="Decisions on events that occurred in the period")
    interventions: int = Field(description="Of them, at remind or more")
    by_action: dict[str, int]
    average_per_day: float
    per_day: list[DayActions]
    by_typology: list[TypologyActions]
    definition: str = "interventions"


class FraudSection(BaseModel):
    frauds_blocked: int = Field(
        description="Decisions at intercept or block on events later confirmed fraud or scam"
    )
    confirmed_frauds: int = Field(description="Events confirmed fraud or scam in the period")
    customers_protected: int = Field(
        description="Customers with a confirmed scam event that was intercepted or blocked"
    )
    definition: str = "frauds_blocked"


class LossesSection(BaseModel):
    observed_cny: float = Field(description="From real outcomes: held money not paid out")
    observed_holds_cancelled: int
    observed_scams_confirmed: int
    estimated_cny: float = Field(description="Estimated, labelled as such: dissuaded outflows")
    estimated_dissuaded: int
    estimated_success_rate: float
    definition_observed: str = "losses_avoided_observed"
    definition_estimated: str = "losses_avoided_estimated"


class InconvenienceGroup(BaseModel):
    group: str = Field(description="Band or flag name")
    label: LocalText
    customers: int = Field(description="Honest customers in the group with a decision")
    remind_or_more: int
    remind_or_more_rate: float | None
    intercept_or_more: int
    intercept_or_more_rate: float | None
    median_delay_hours: float | None = Field(description="Held money's median time to release")


class InconvenienceSection(BaseModel):
    honest_customers: int
    remind_or_more: int
    remind_or_more_rate: float | None
    intercept_or_more: int
    intercept_or_more_rate: float | None
    median_delay_hours: float | None
    by_age_band: list[InconvenienceGroup]
    by_tenure: list[InconvenienceGroup]
    by_flag: list[InconvenienceGroup] = Field(description="student, elderly, vulnerable")
    definition: str = "honest_inconvenienced"


class ReportComplaintJurisdiction(BaseModel):
    jurisdiction: str
    complaints: int = Field(description="Complaints received in the period")
    resolved: int
    resolved_on_time: int
    resolved_late: int
    open_overdue: int = Field(description="Still open past their deadline at the period's end")
    compliance_rate: float | None = Field(
        description="on time / (resolved + open overdue); null when none"
    )
    escalated: int
    escalation_rate: float | None


class ComplaintsSection(BaseModel):
    by_jurisdiction: list[ReportComplaintJurisdiction]
    complaints: int
    escalated: int
    escalation_rate: float | None
    definition: str = "complaint_clock_compliance"


class CountRow(BaseModel):
    key: str
    label: LocalText
    count: int


class RescueSection(BaseModel):
    customers: int
    steps: list[CountRow]
    outcomes: list[CountRow]
    definition: str = "rescue_ladder"


class ConsentRow(BaseModel):
    purpose: str
    channel: str
    label: LocalText
    grants: int
    withdrawals: int


class ConsentSection(BaseModel):
    rows: list[ConsentRow]
    grants: int
    withdrawals: int
    definition: str = "consent_changes"


class RequestKindRow(BaseModel):
    kind: str
    label: LocalText
    opened: int
    closed: int
    closed_on_time: int
    closed_late: int
    open_overdue: int
    timeliness_rate: float | None


class RequestsSection(BaseModel):
    by_kind: list[RequestKindRow]
    opened: int
    timeliness_rate: float | None
    definition: str = "data_subject_requests"


class ProtectionReport(BaseModel):
    """The report for one period, computed from live data."""

    title: LocalText
    lender: str = Field(description="Who the report is about (the deployment's name)")
    period: ReportPeriod
    generated_at: datetime
    interventions: InterventionsSection
    frauds: FraudSection
    losses: LossesSection
    inconvenience: InconvenienceSection
    complaints: ComplaintsSection
    rescue: RescueSection
    consent: ConsentSection
    requests: RequestsSection
    education: ReachMetrics
    definitions: dict[str, Definition] = Field(description="key -> definition")
