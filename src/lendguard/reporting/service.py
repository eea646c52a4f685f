"""The protection report for a period, computed from live data (issue #21).

:func:`build_report` reads the period's rows (:mod:`lendguard.reporting.repository`) and counts
them by the definitions of :mod:`lendguard.reporting.definitions`; the figures of each section
are plain functions of those rows. Days are calendar days in the report's IANA zone: the period
runs from the start of ``from_date`` to the start of the day after ``to_date`` there.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from lendguard.config import Settings
from lendguard.decisions.explain import REASON_TEXT
from lendguard.decisions.segments import AGE_BANDS, TENURE_BANDS, UNKNOWN, customer_segments
from lendguard.education.schemas import LocalText, ReachMetrics
from lendguard.interventions.effectiveness import InterventionRow, typology
from lendguard.lending.rescue_ladder import STEPS
from lendguard.privacy.requests import KINDS
from lendguard.reporting import repository as repo
from lendguard.reporting.definitions import (
    ACTIONS,
    DEFINITIONS,
    INTERVENTION_ACTIONS,
    confirmed_scam,
    dissuaded,
    estimated_avoided,
    fraud_intervention,
    honest,
    intercept_or_more,
    remind_or_more,
)
from lendguard.reporting.repository import DecisionRow
from lendguard.reporting.schemas import (
    ComplaintsSection,
    ConsentRow,
    ConsentSection,
    CountRow,
    DayActions,
    FraudSection,
    InconvenienceGroup,
    InconvenienceSection,
    InterventionsSection,
    LossesSection,
    ProtectionReport,
    ReportComplaintJurisdiction,
    ReportPeriod,
    RequestKindRow,
    RequestsSection,
    RescueSection,
    TypologyActions,
)

PLAN_STATUSES = ("agreed", "declined", "proposed")
CLOSED_REQUEST = frozenset({"complete", "refused"})


def period_bounds(from_date: date, to_date: date, zone: str) -> tuple[datetime, datetime]:
    """The first instant counted (start of ``from_date`` in ``zone``) and the first not counted
    (start of the day after ``to_date``), in UTC."""
    local = ZoneInfo(zone)
    start = datetime.combine(from_date, time(), tzinfo=local).astimezone(UTC)
    end = datetime.combine(to_date + timedelta(days=1), time(), tzinfo=local).astimezone(UTC)
    return start, end


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _text(zh: str, en: str) -> LocalText:
    return {"zh-CN": zh, "en": en}


# -- labels ------------------------------------------------------------------------------------

_TYPOLOGY = {
    "fake_customer_service": ("冒充客服", "Fake customer service"),
    "advance_fee_loan": ("贷款预付费诈骗", "Advance-fee loan"),
    "credit_repair": ("征信修复诈骗", "Credit repair"),
    "account_takeover": ("账户盗用", "Account takeover"),
    "rebate_task": ("刷单返利", "Rebate tasks"),
    "elderly_investment": ("针对老年人的投资诈骗", "Investment scams on the elderly"),
    "safe_account": ("安全账户诈骗", "Safe-account scam"),
    "mule": ("资金转移账户", "Money mule"),
    "ring": ("欺诈团伙", "Fraud ring"),
    "romance": ("婚恋交友诈骗", "Romance scam"),
    "investment": ("投资理财诈骗", "Investment scam"),
    "impersonation": ("冒充公检法", "Impersonation"),
    "other": ("其他", "Other"),
    "unknown": ("未分类", "Not classified"),
    # the case scam types (the console's catalogue names them the same way)
    "remote_control": ("远程控制 / 屏幕共享诈骗", "Remote-control / screen-sharing scam"),
    "advance_fee": ("贷款前收费诈骗", "Advance-fee loan scam"),
    "task_rebate": ("刷单返利诈骗", "Task / rebate scam"),
    "general": ("高风险交易", "High-risk transaction"),
    "crisis": ("危机干预", "Crisis support"),
    "scam": ("诈骗", "Scam"),
    "fraud": ("欺诈", "Fraud"),
}
_ACTION = {
    "allow": ("放行", "Allowed"),
    "remind": ("提醒", "Reminder"),
    "dissuade": ("劝阻", "Dissuasion"),
    "intercept": ("拦截", "Intercept"),
    "block": ("阻止", "Block"),
}
_AGE = {
    "<22": ("22岁以下", "Under 22"),
    "22-34": ("22–34岁", "22–34"),
    "35-59": ("35–59岁", "35–59"),
    "60+": ("60岁及以上", "60 and over"),
    UNKNOWN: ("未知", "Unknown"),
}
_TENURE = {
    "<30d": ("开户不足30天", "Under 30 days"),
    "30-365d": ("开户30–365天", "30–365 days"),
    ">365d": ("开户超过365天", "Over 365 days"),
    UNKNOWN: ("未知", "Unknown"),
}
_FLAG = {
    "student": ("学生", "Students"),
    "elderly": ("老年客户", "Elderly customers"),
    "vulnerable": ("脆弱客户", "Vulnerable customers"),
}
_STEP = {
    "CREDIT_FREEZE": ("暂停授信", "Credit frozen"),
    "MARKETING_SUPPRESSED": ("停止营销", "Marketing stopped"),
    "HARDSHIP_PLAN_OFFERED": ("提供困难还款方案", "Hardship plan offered"),
    "COLLECTION_PAUSED": ("暂停催收", "Collection paused"),
    "INTEREST_WAIVED": ("减免利息", "Interest waived"),
    "DEBT_ADVICE_SIGNPOSTED": ("转介债务咨询", "Debt advice signposted"),
}
_PLAN = {
    "agreed": ("还款方案已同意", "Hardship plan agreed"),
    "declined": ("还款方案被拒绝", "Hardship plan declined"),
    "proposed": ("还款方案待定", "Hardship plan pending"),
}
_PURPOSE = {
    "marketing": ("营销", "Marketing"),
    "credit_assessment": ("信用评估", "Credit assessment"),
    "loan_service": ("贷款服务", "Loan service"),
    "anti_fraud": ("反欺诈", "Fraud prevention"),
    "sensitive": ("敏感个人信息", "Sensitive personal information"),
    "third_party_sharing": ("向第三方提供", "Sharing with third parties"),
    "automated_decision": ("自动化决策", "Automated decisions"),
}
_CHANNEL = {
    "app": ("App", "app"),
    "web": ("网页", "web"),
    "phone": ("电话", "phone"),
    "branch": ("网点", "branch"),
}
_KIND = {
    "access": ("查阅", "Access"),
    "correct": ("更正", "Correction"),
    "delete": ("删除", "Deletion"),
    "withdraw": ("撤回同意", "Withdrawal of consent"),
    "explain": ("解释说明", "Explanation"),
}


def _humanised(code: str) -> tuple[str, str]:
    words = code.replace("_", " ").strip().lower()
    words = words[:1].upper() + words[1:] if words else code
    return words, words


def _label(table: dict[str, tuple[str, str]], key: str) -> LocalText:
    zh, en = table.get(key) or _humanised(key)
    return _text(zh, en)


def _first_clause(sentence: str) -> str:
    return re.split(r"[;；。]|\.\s", sentence, maxsplit=1)[0].strip().rstrip(",，.。")


def typology_label(code: str) -> LocalText:
    """A typology in words in both languages: a scam type from :data:`_TYPOLOGY`; a reason
    code by the first clause of the sentence customers are told for it
    (``decisions.explain.REASON_TEXT``, as the console's effectiveness page names it); a code
    nothing explains is "another reason", never the code itself."""
    if code in _TYPOLOGY:
        return _label(_TYPOLOGY, code)
    told = REASON_TEXT.get(code)
    if told and told.get("zh-CN") and told.get("en"):
        return _text(_first_clause(told["zh-CN"]), _first_clause(told["en"]))
    return _text("其他原因", "Another reason")


# -- sections ----------------------------------------------------------------------------------


def _local_day(at: datetime, zone: ZoneInfo) -> date:
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return aware.astimezone(zone).date()


def interventions_section(
    rows: Iterable[DecisionRow], from_date: date, to_date: date, zone: str
) -> InterventionsSection:
    local = ZoneInfo(zone)
    days = (to_date - from_date).days + 1
    by_action: Counter[str] = Counter()
    per_day: dict[date, Counter[str]] = {
        from_date + timedelta(days=i): Counter() for i in range(days)
    }
    by_typology: dict[str, Counter[str]] = defaultdict(Counter)
    decisions = 0
    for row in rows:
        decisions += 1
        by_action[row.action] += 1
        if not remind_or_more(row.action):
            continue
        day = _local_day(row.occurred_at, local)
        if day in per_day:
            per_day[day][row.action] += 1
        kind = typology(
            InterventionRow(
                decision_id=row.decision_id,
                action=row.action,
                decided_at=row.decided_at,
                reasons=row.reasons,
                scam_type=row.scam_type,
            )
        )
        by_typology[kind][row.action] += 1
    interventions = sum(by_action[a] for a in INTERVENTION_ACTIONS)
    typologies = sorted(by_typology.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    return InterventionsSection(
        decisions=decisions,
        interventions=interventions,
        by_action={a: by_action.get(a, 0) for a in ACTIONS},
        average_per_day=round(interventions / days, 2) if days else 0.0,
        per_day=[
            DayActions(day=day, counts={a: counts.get(a, 0) for a in INTERVENTION_ACTIONS})
            for day, counts in sorted(per_day.items())
        ],
        by_typology=[
            TypologyActions(
                typology=kind,
                label=typology_label(kind),
                counts={a: counts.get(a, 0) for a in INTERVENTION_ACTIONS},
                total=sum(counts.values()),
            )
            for kind, counts in typologies
        ],
    )


def _confirmed(row: DecisionRow) -> bool:
    return confirmed_scam(row.label, row.case_state)


def fraud_section(rows: Iterable[DecisionRow]) -> FraudSection:
    confirmed = blocked = 0
    protected: set[str] = set()
    for row in rows:
        if not _confirmed(row):
            continue
        confirmed += 1
        if intercept_or_more(row.action):
            blocked += 1
            protected.add(row.customer_id)
    return FraudSection(
        frauds_blocked=blocked, confirmed_frauds=confirmed, customers_protected=len(protected)
    )


def not_paid_out(row: DecisionRow) -> bool:
    """An intercepted or blocked payment that in the end was not paid out: its hold was
    cancelled, or it was confirmed a scam and never released."""
    if not intercept_or_more(row.action):
        return False
    if row.hold_status == "cancelled":
        return True
    return _confirmed(row) and row.hold_status != "released"


def losses_section(rows: Iterable[DecisionRow], success_rate: float) -> LossesSection:
    observed = 0.0
    cancelled = scams = dissuaded_count = 0
    estimated = 0.0
    for row in rows:
        amount = row.held_amount if row.held_amount is not None else row.amount
        if not_paid_out(row):
            observed += amount or 0.0
            cancelled += row.hold_status == "cancelled"
            scams += _confirmed(row)
        elif dissuaded(row.action) and row.label != 0 and row.amount:
            dissuaded_count += 1
            estimated += estimated_avoided(row.amount, success_rate)
    return LossesSection(
        observed_cny=round(observed, 2),
        observed_holds_cancelled=cancelled,
        observed_scams_confirmed=scams,
        estimated_cny=round(estimated, 2),
        estimated_dissuaded=dissuaded_count,
        estimated_success_rate=success_rate,
    )


class _Group:
    def __init__(self) -> None:
        self.customers: set[str] = set()
        self.remind: set[str] = set()
        self.intercept: set[str] = set()
        self.delays: list[float] = []

    def figures(self, group: str, label: LocalText) -> InconvenienceGroup:
        n = len(self.customers)
        return InconvenienceGroup(
            group=group,
            label=label,
            customers=n,
            remind_or_more=len(self.remind),
            remind_or_more_rate=_rate(len(self.remind), n),
            intercept_or_more=len(self.intercept),
            intercept_or_more_rate=_rate(len(self.intercept), n),
            median_delay_hours=_median(self.delays),
        )


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def inconvenience_section(
    engine: Engine, rows: list[DecisionRow], at: datetime, elderly_age: int
) -> InconvenienceSection:
    flags: dict[str, list[bool]] = defaultdict(list)
    for row in rows:
        flags[row.customer_id].append(_confirmed(row))
    honest_ids = {c for c, confirmed in flags.items() if honest(confirmed)}
    per_customer: dict[str, _Group] = defaultdict(_Group)
    for row in rows:
        if row.customer_id not in honest_ids:
            continue
        mine = per_customer[row.customer_id]
        mine.customers.add(row.customer_id)
        if fraud_intervention(row.action, row.reasons):
            mine.remind.add(row.customer_id)
            if intercept_or_more(row.action):
                mine.intercept.add(row.customer_id)
        if row.hold_status == "released" and row.hold_ended_at is not None:
            hours = (row.hold_ended_at - row.decided_at).total_seconds() / 3600.0
            mine.delays.append(max(0.0, hours))
    segments = customer_segments(engine, honest_ids, at, elderly_age) if honest_ids else {}
    total = _Group()
    ages = {band: _Group() for band in AGE_BANDS}
    tenures = {band: _Group() for band in TENURE_BANDS}
    flagged = {flag: _Group() for flag in _FLAG}
    for customer, mine in per_customer.items():
        segment = segments[customer]
        targets = [total, ages[segment.age_band], tenures[segment.tenure]]
        targets += [flagged[f] for f in _FLAG if getattr(segment, f)]
        for group in targets:
            group.customers |= mine.customers
            group.remind |= mine.remind
            group.intercept |= mine.intercept
            group.delays += mine.delays
    overall = total.figures("all", _text("全部", "All"))
    return InconvenienceSection(
        honest_customers=overall.customers,
        remind_or_more=overall.remind_or_more,
        remind_or_more_rate=overall.remind_or_more_rate,
        intercept_or_more=overall.intercept_or_more,
        intercept_or_more_rate=overall.intercept_or_more_rate,
        median_delay_hours=overall.median_delay_hours,
        by_age_band=[g.figures(k, _label(_AGE, k)) for k, g in ages.items()],
        by_tenure=[g.figures(k, _label(_TENURE, k)) for k, g in tenures.items()],
        by_flag=[g.figures(k, _label(_FLAG, k)) for k, g in flagged.items()],
    )


def complaints_section(rows: Iterable[Any], end: datetime) -> ComplaintsSection:
    by: dict[str, dict[str, int]] = {}
    for r in rows:
        f = by.setdefault(
            r.jurisdiction,
            dict.fromkeys(("complaints", "resolved", "on_time", "late", "overdue", "esc"), 0),
        )
        f["complaints"] += 1
        if r.responded_at is not None and r.responded_at < end:
            f["resolved"] += 1
            f["on_time" if r.responded_at < r.due_at else "late"] += 1
        elif r.due_at <= end:
            f["overdue"] += 1
        if r.escalated_at is not None and r.escalated_at < end:
            f["esc"] += 1
    rows_out = [
        ReportComplaintJurisdiction(
            jurisdiction=j,
            complaints=f["complaints"],
            resolved=f["resolved"],
            resolved_on_time=f["on_time"],
            resolved_late=f["late"],
            open_overdue=f["overdue"],
            compliance_rate=_rate(f["on_time"], f["resolved"] + f["overdue"]),
            escalated=f["esc"],
            escalation_rate=_rate(f["esc"], f["complaints"]),
        )
        for j, f in sorted(by.items())
    ]
    complaints = sum(r.complaints for r in rows_out)
    escalated = sum(r.escalated for r in rows_out)
    return ComplaintsSection(
        by_jurisdiction=rows_out,
        complaints=complaints,
        escalated=escalated,
        escalation_rate=_rate(escalated, complaints),
    )


def rescue_section(steps: Iterable[Any], plans: Iterable[Any]) -> RescueSection:
    counted: Counter[str] = Counter()
    customers: set[str] = set()
    for customer_id, step in steps:
        counted[step] += 1
        customers.add(customer_id)
    outcomes: Counter[str] = Counter(status for _, status in plans)
    known = list(STEPS) + sorted(set(counted) - set(STEPS))
    return RescueSection(
        customers=len(customers),
        steps=[CountRow(key=s, label=_label(_STEP, s), count=counted.get(s, 0)) for s in known],
        outcomes=[
            CountRow(key=s, label=_label(_PLAN, s), count=outcomes.get(s, 0))
            for s in list(PLAN_STATUSES) + sorted(set(outcomes) - set(PLAN_STATUSES))
        ],
    )


def consent_section(rows: Iterable[Any]) -> ConsentSection:
    counted: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for purpose, channel, granted in rows:
        counted[(purpose, channel)][0 if granted else 1] += 1
    out = []
    for (purpose, channel), (grants, withdrawals) in sorted(counted.items()):
        p, c = _label(_PURPOSE, purpose), _label(_CHANNEL, channel)
        out.append(
            ConsentRow(
                purpose=purpose,
                channel=channel,
                label=_text(f"{p['zh-CN']}（{c['zh-CN']}）", f"{p['en']} ({c['en']})"),
                grants=grants,
                withdrawals=withdrawals,
            )
        )
    return ConsentSection(
        rows=out,
        grants=sum(r.grants for r in out),
        withdrawals=sum(r.withdrawals for r in out),
    )


def requests_section(rows: Iterable[Any], end: datetime) -> RequestsSection:
    by: dict[str, dict[str, int]] = {
        k: dict.fromkeys(("opened", "closed", "on_time", "late", "overdue"), 0) for k in KINDS
    }
    for r in rows:
        f = by.setdefault(
            r.kind, dict.fromkeys(("opened", "closed", "on_time", "late", "overdue"), 0)
        )
        f["opened"] += 1
        if r.status in CLOSED_REQUEST and r.decided_at is not None and r.decided_at < end:
            f["closed"] += 1
            f["on_time" if r.decided_at <= r.due_at else "late"] += 1
        elif r.due_at < end:
            f["overdue"] += 1
    out = [
        RequestKindRow(
            kind=k,
            label=_label(_KIND, k),
            opened=f["opened"],
            closed=f["closed"],
            closed_on_time=f["on_time"],
            closed_late=f["late"],
            open_overdue=f["overdue"],
            timeliness_rate=_rate(f["on_time"], f["closed"] + f["overdue"]),
        )
        for k, f in by.items()
    ]
    on_time = sum(r.closed_on_time for r in out)
    owed = sum(r.closed + r.open_overdue for r in out)
    return RequestsSection(
        by_kind=out, opened=sum(r.opened for r in out), timeliness_rate=_rate(on_time, owed)
    )


def education_section(
    engine: Engine, start: datetime, end: datetime, elderly_age: int
) -> ReachMetrics:
    from lendguard.education.reach import reach_metrics

    return reach_metrics(engine, start, end, elderly_age)


# -- the report --------------------------------------------------------------------------------


def build_report(
    engine: Engine,
    settings: Settings,
    from_date: date,
    to_date: date,
    zone: str,
    lender_name: str,
    now: datetime,
) -> ProtectionReport:
    """The protection report for the calendar days ``from_date`` … ``to_date`` (inclusive) in
    ``zone``, from the database's live rows."""
    start, end = period_bounds(from_date, to_date, zone)
    with engine.connect() as conn:
        decisions = repo.decision_rows(conn, start, end)
        complaints = repo.complaints(conn, start, end)
        steps = repo.rescue_steps(conn, start, end)
        plans = repo.hardship_plans(conn, start, end)
        consents = repo.consents(conn, start, end)
        requests = repo.requests(conn, start, end)
    elderly_age = settings.elderly_age
    return ProtectionReport(
        title=_text(
            f"{lender_name}消费者权益保护报告", f"{lender_name} consumer protection report"
        ),
        lender=lender_name,
        period=ReportPeriod(
            from_date=from_date,
            to_date=to_date,
            zone=zone,
            start=start,
            end=end,
            days=(to_date - from_date).days + 1,
        ),
        generated_at=now,
        interventions=interventions_section(decisions, from_date, to_date, zone),
        frauds=fraud_section(decisions),
        losses=losses_section(decisions, settings.report_dissuasion_success_rate),
        inconvenience=inconvenience_section(engine, decisions, end, elderly_age),
        complaints=complaints_section(complaints, end),
        rescue=rescue_section(steps, plans),
        consent=consent_section(consents),
        requests=requests_section(requests, end),
        education=education_section(engine, start, end, elderly_age),
        definitions=dict(DEFINITIONS),
    )
