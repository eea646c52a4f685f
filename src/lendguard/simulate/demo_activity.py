"""The demo's month of other work: what the lender's people do besides deciding events.

``make demo`` decides a simulated month of events; this module then does, through the same
services the API calls (so timelines, audit entries and labels are real), what a month at a
lender also holds, so that the protection report (``lendguard report``) has content:

1. the privacy notice in force is published (key :data:`NOTICE_KEY`, zh-CN and en);
2. a sample of customers grant consents (marketing per channel, credit assessment, sharing
   per recipient of the data map), and some later withdraw marketing;
3. analysts work most of the open cases: the population's roles say what an investigation
   would find (victims: scam victim; fraudsters and mules: fraud; honest customers: legit,
   released with a reason, a second person approving above the release policy's amount);
   the hold sweep then releases what is due;
4. complaints (about one per 500 customers in CN, a few UK and US): most answered within the
   clock and closed, one answered late, a few left overdue, some escalated to the regulator;
5. data-subject requests of every kind: verified and fulfilled, one refused, one left
   unverified;
6. the rescue ladder is only counted: it runs on decisions by itself;
7. education: content delivered, opened and completed, quizzes answered, for customers with an
   intervention (the education area's seed).

Deterministic by seed: the same population and seed give the same counts. Instants are placed
inside the simulated month where the service takes one (consents' ``at``, complaints'
``received_at`` and every complaint transition's ``now``, requests' ``received_at``, education
events and quiz answers); the notice's publication, case transitions (and the hold releases
and cancellations they make), request verifications and decisions, the deadline sweep and
rescue steps are stamped by their services with the real clock. The month's rescue ladder is
not made up: the demo's events carry no over-indebtedness or hardship reason, so it has none.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from lendguard.cases.flow import CaseState
from lendguard.privacy.datamap import declarations
from lendguard.privacy.requests import export_customer
from lendguard.privacy.schemas import ConsentBody, NewRequest, NoticeBody
from lendguard.support.complaints import ComplaintService

if TYPE_CHECKING:
    from lendguard.app import Services
    from lendguard.simulate.generator import Population

# The key the privacy notice is published under (the privacy centre shows the newest notice
# that tells the marketing purpose; this is it).
NOTICE_KEY = "privacy-policy"
ANALYST = "user:demo-analyst"
APPROVER = "user:demo-approver"
PRIVACY_OFFICER = "user:demo-analyst"
APP = "system:lender-app"  # the lender's app, recording what the customer chose

# Share of customers whose consents the app records (at most CONSENT_CUSTOMERS of them: each
# consent is a transaction with its audit entry, and the demo should stay quick), and per
# marketing channel the share of them who say yes; the withdrawals later in the month, per
# channel, as a share of the grants.
CONSENT_SHARE = 0.15
CONSENT_CUSTOMERS = 40
MARKETING_YES = {"sms": 0.6, "push": 0.7, "popup": 0.3, "call": 0.15, "email": 0.25}
WITHDRAWN = {"sms": 0.10, "push": 0.05}
CREDIT_YES = 0.9
SHARING_YES = 0.8
# Share of open cases left open at the month's end (the queue the analysts still work).
LEFT_OPEN = 0.2
CUSTOMERS_PER_COMPLAINT = 500

_RESOLUTION = {
    "victim": CaseState.resolved_scam_victim,
    "fraudster": CaseState.resolved_fraud,
    "mule": CaseState.resolved_fraud,
    "honest": CaseState.resolved_legit,
}
_NOTES = {
    CaseState.resolved_scam_victim: "Called the customer: they confirmed a caller had told them "
    "to move the money. Transfer cancelled, customer told how to report it to the police.",
    CaseState.resolved_fraud: "Checks show the account is used for fraud: held money "
    "cancelled, account referred to the fraud team.",
    CaseState.resolved_legit: "Called the customer: the payment is their own, to a payee they "
    "know; no sign of coaching. Released.",
}

NOTICE_TEXTS = {
    "zh-CN": (
        "隐私政策\n\n"
        "我们收集什么：手机号码、姓名与身份证件信息、银行卡号、设备标识与 IP 地址、借款和转账时的"
        "通话与屏幕共享状态、交易记录、征信信息；在您单独同意后，还包括活体检测和声纹比对的结果"
        "（不含人脸图像、声纹模板或录音）。\n\n"
        "为什么收集：注册登录与身份核验、授信审批与贷款服务、识别诈骗并劝阻被骗转账、账户安全。"
        "用于反欺诈的信息只用于反欺诈（反电信网络诈骗法第十八条）。营销短信、电话和推送只在您"
        "单独同意后发送，可随时关闭。\n\n"
        "与谁共享：合作银行及支付机构（资金划转）、中国人民银行征信中心（征信查询与报送）、"
        "反欺诈联盟成员机构（仅盲化标识，从不共享明文）。每一类共享都单独征得您的同意。\n\n"
        "保存多久：多数信息在贷款结清或账户注销后保存 5 年；反欺诈信息保存 3 年；撤回营销同意后"
        "即停止使用。\n\n"
        "您的权利：查阅、复制、更正、删除您的个人信息，撤回同意，要求解释自动化决策。在本页或"
        "客服提出申请，我们在法定时限内答复。\n\n"
        "联系我们：个人信息保护负责人，邮箱 privacy@lender.example，客服热线 400-000-0000。"
    ),
    "en": (
        "Privacy notice\n\n"
        "What we collect: your mobile number, name and identity document, bank card number, "
        "device identifier and IP address, whether a call, screen sharing or remote control is "
        "on while you borrow or transfer, your transactions and your credit report; with your "
        "separate consent, also the results of liveness and voice checks (never a face image, "
        "voiceprint or recording).\n\n"
        "Why: registration and identity checks, credit decisions and servicing your loan, "
        "spotting scams and stopping transfers a scammer talked you into, and keeping your "
        "account safe. What we collect against fraud is used against fraud only. Marketing "
        "texts, calls and notifications are sent only with your separate consent, which you "
        "can switch off at any time.\n\n"
        "Who we share with: partner banks and payment institutions (to move the money), the "
        "PBOC Credit Reference Center (credit checks and reporting), and members of the "
        "anti-fraud alliance (blinded identifiers only, never your details in clear). We ask "
        "for your consent to each of these separately.\n\n"
        "How long we keep it: most information for 5 years after your loan is repaid or your "
        "account is closed; anti-fraud information for 3 years; marketing use stops when you "
        "withdraw your consent.\n\n"
        "Your rights: to see, copy, correct and delete your personal information, to withdraw "
        "consent and to have an automated decision explained. Ask on this page or through "
        "customer service; we answer within the time the law sets.\n\n"
        "Contact: our personal information protection officer, privacy@lender.example, "
        "customer service 400-000-0000."
    ),
}

# (jurisdiction, channel, narrative, root cause)
_COMPLAINTS: dict[str, list[tuple[str, str, str]]] = {
    "CN": [
        (
            "app",
            "我在借款App上给家人转账，被暂停了一整天，客服电话一直打不通，耽误了我交房租。",
            "process_or_delay",
        ),
        (
            "phone",
            "催收人员一天打了十几个电话，还打给了我的同事，我要求停止这种催收方式。",
            "third_party_collector",
        ),
        (
            "app",
            "借款时显示的年化利率和合同里的不一样，多收了服务费，请解释并退还。",
            "pricing_or_fees",
        ),
        (
            "web",
            "我的征信报告上多了一条我没有借过的贷款记录，请核查并更正。",
            "data_quality",
        ),
        (
            "app",
            "我明明关闭了营销短信，还是每天收到借款推广短信。",
            "disclosure_or_marketing",
        ),
    ],
    "UK": [
        (
            "email",
            "My payment to a new payee was held for two days with no explanation and I missed "
            "a deadline. I want to know why it was stopped.",
            "process_or_delay",
        ),
    ],
    "US": [
        (
            "cfpb_portal",
            "The lender added a fee to my personal loan that was never disclosed when I signed. "
            "I asked for a refund and got no answer.",
            "pricing_or_fees",
        ),
    ],
}
_RESPONSES = {
    "CN": "经核查，我们已向您说明原因并采取了相应措施，详情见短信与App消息。",
    "UK": "We looked into your complaint, explained what happened and put it right as set out "
    "in our final response letter.",
    "US": "We reviewed your complaint, explained the charges and refunded what was not "
    "disclosed, as set out in our response.",
}


@dataclass
class ActivitySummary:
    """What :func:`run_activity` did, counted (the test compares two runs by these)."""

    notice_key: str = NOTICE_KEY
    notice_version: int = 0
    consent_customers: int = 0
    consents: Counter[str] = field(default_factory=Counter)  # "purpose:scope:granted|withdrawn"
    cases: Counter[str] = field(default_factory=Counter)  # outcome or "left_open"
    second_person_releases: int = 0
    holds_released_at_deadline: int = 0
    complaints: Counter[str] = field(default_factory=Counter)  # "JURISDICTION:fate"
    requests: Counter[str] = field(default_factory=Counter)  # "kind:status"
    rescue_steps: Counter[str] = field(default_factory=Counter)
    education: dict[str, int] = field(default_factory=dict)
    in_month: list[str] = field(default_factory=list)
    real_now: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, Any]:
        return {
            "notice_version": self.notice_version,
            "consent_customers": self.consent_customers,
            "consents": dict(self.consents),
            "cases": dict(self.cases),
            "second_person_releases": self.second_person_releases,
            "holds_released_at_deadline": self.holds_released_at_deadline,
            "complaints": dict(self.complaints),
            "requests": dict(self.requests),
            "rescue_steps": dict(self.rescue_steps),
            "education": self.education,
        }

    def print(self, console: Console) -> None:
        table = Table(title="The month's other work (through the services)", title_justify="left")
        table.add_column("What")
        table.add_column("Done", justify="right")
        granted = sum(n for k, n in self.consents.items() if k.endswith(":granted"))
        withdrawn = sum(n for k, n in self.consents.items() if k.endswith(":withdrawn"))
        table.add_row(f"Privacy notice '{self.notice_key}'", f"version {self.notice_version}")
        table.add_row(
            f"Consents ({self.consent_customers:,} customers)",
            f"{granted:,} granted, {withdrawn:,} withdrawn",
        )
        for outcome, n in sorted(self.cases.items()):
            table.add_row(f"Cases {outcome.replace('_', ' ')}", f"{n:,}")
        table.add_row("Releases approved by a second person", f"{self.second_person_releases:,}")
        table.add_row("Holds released at their deadline", f"{self.holds_released_at_deadline:,}")
        fates = Counter(k.split(":", 1)[1] for k in self.complaints.elements())
        table.add_row(
            f"Complaints ({sum(self.complaints.values())})",
            ", ".join(f"{n} {fate.replace('_', ' ')}" for fate, n in sorted(fates.items())),
        )
        statuses = Counter(k.split(":", 1)[1] for k in self.requests.elements())
        table.add_row(
            f"Data-subject requests ({sum(self.requests.values())})",
            ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(statuses.items())),
        )
        steps = sum(self.rescue_steps.values())
        table.add_row(
            "Rescue-ladder steps (from decisions)",
            f"{steps:,}" if steps else "none: no decision this month flagged a borrower",
        )
        table.add_row(
            "Education (in the app)",
            ", ".join(f"{n:,} {k.replace('_', ' ')}" for k, n in self.education.items()),
        )
        console.print(table)


class _Month:
    """Instants inside the simulated month, never after ``now`` (a service refuses the
    future)."""

    def __init__(self, population: Population, now: datetime) -> None:
        self.start = population.start.astimezone(UTC)
        self.end = min(self.start + timedelta(days=population.days), now)
        self.days = max(1, (self.end - self.start).days)

    def day(self, day: int, hour: float) -> datetime:
        return self.clip(self.start + timedelta(days=day, hours=hour))

    def clip(self, at: datetime) -> datetime:
        return min(at, self.end - timedelta(minutes=1))


def run_activity(
    services: Services, population: Population, rng_seed: int, now: datetime
) -> ActivitySummary:
    """Publish the notice, record consents, work cases, file and handle complaints and
    data-subject requests, count the rescue ladder and seed education; see the module."""
    rng = random.Random(rng_seed)
    month = _Month(population, now)
    summary = ActivitySummary()
    roles = {c.customer_id: c.role for c in population.customers}
    ids = [c.customer_id for c in population.customers]
    version = _notice(services, summary)
    _consents(services, rng, month, ids, version, summary)
    worked = _cases(services, rng, roles, summary)
    _complaints(services, rng, month, ids, worked, summary)
    _requests(services, rng, month, ids, worked, version, summary)
    rescue = services.rescue.summary()
    summary.rescue_steps = Counter(
        {step: int(v["count"]) for step, v in rescue["steps"].items() if v["count"]}
    )
    summary.education = _education(services, month, rng_seed)
    summary.in_month = [
        "consents (at)",
        "complaints (received_at and every transition)",
        "data-subject requests (received_at)",
        "education events and quiz answers",
    ]
    summary.real_now = [
        "the notice's publication",
        "case transitions and their hold releases/cancellations",
        "data-subject requests' verification and decision",
        "holds released at their deadline",
        "rescue steps (recorded when decided)",
    ]
    return summary


# -- 1. the notice ---------------------------------------------------------------------------------


def _notice(services: Services, summary: ActivitySummary) -> int:
    body = NoticeBody(
        notice_key=NOTICE_KEY,
        purposes=[
            "loan_service",
            "credit_assessment",
            "anti_fraud",
            "marketing",
            "sensitive",
            "third_party_sharing",
            "automated_decision",
        ],
        texts=NOTICE_TEXTS,
    )
    published = services.consent.publish_notice(body, "user:demo-admin")
    summary.notice_version = int(published["version"])
    return summary.notice_version


# -- 2. consents -----------------------------------------------------------------------------------


def _sharing_scopes() -> list[str]:
    return sorted({t.consent_scope for d in declarations() for t in d.third_parties})


def _consents(
    services: Services,
    rng: random.Random,
    month: _Month,
    ids: list[str],
    version: int,
    summary: ActivitySummary,
) -> None:
    sharing = _sharing_scopes()
    chosen = [c for c in ids if rng.random() < CONSENT_SHARE][:CONSENT_CUSTOMERS]
    summary.consent_customers = len(chosen)

    def record(customer: str, purpose: str, scope: str, granted: bool, at: datetime) -> None:
        body = ConsentBody(
            customer_id=customer,
            purpose=purpose,
            scope=scope,
            granted=granted,
            method="toggle" if purpose == "marketing" else "checkbox",
            channel="app" if rng.random() < 0.85 else "web",
            notice_key=NOTICE_KEY,
            notice_version=version,
            at=at,
        )
        services.consent.record(body, APP)
        summary.consents[f"{purpose}:{scope}:{'granted' if granted else 'withdrawn'}"] += 1

    granted: dict[str, list[tuple[str, datetime]]] = {scope: [] for scope in WITHDRAWN}
    for customer in chosen:
        first = month.day(rng.randrange(month.days), rng.uniform(8, 21))
        if rng.random() < CREDIT_YES:
            record(customer, "credit_assessment", "*", True, first)
        for scope in sharing:
            if rng.random() < SHARING_YES:
                record(customer, "third_party_sharing", scope, True, first)
        for scope, share in MARKETING_YES.items():
            if rng.random() < share:
                record(customer, "marketing", scope, True, first)
                granted.get(scope, []).append((customer, first))
    # Later in the month some change their mind: the share of each channel's grants (at least
    # one where there were grants), in the app, a few days after.
    for scope, share in WITHDRAWN.items():
        grants = granted[scope]
        for customer, first in rng.sample(
            grants, max(1, round(len(grants) * share)) if grants else 0
        ):
            later = month.clip(first + timedelta(days=rng.uniform(1, 20)))
            if later > first:
                record(customer, "marketing", scope, False, later)


# -- 3. cases --------------------------------------------------------------------------------------


def _cases(
    services: Services, rng: random.Random, roles: dict[str, str], summary: ActivitySummary
) -> dict[str, list[str]]:
    """Work the open cases; returns each worked case's decision ids per customer."""
    cases = services.cases
    open_cases = cases.queue(limit=100_000)["cases"]
    # In an order that does not depend on the case ids or the real time they were opened.
    open_cases.sort(key=lambda c: (c["customer_id"], c["case_type"], c["scam_type"] or ""))
    worked: dict[str, list[str]] = {}
    for case in open_cases:
        role = roles.get(case["customer_id"], "honest")
        target = _RESOLUTION.get(role, CaseState.resolved_legit)
        if case["case_type"] == "crisis" or rng.random() < LEFT_OPEN:
            summary.cases["left_open"] += 1
            continue
        case_id = case["id"]
        if case["state"] != CaseState.contacting_customer.value:  # new or triage: call them
            cases.transition(case_id, CaseState.contacting_customer.value, ANALYST)
        note = _NOTES[target]
        done = cases.transition(case_id, target.value, ANALYST, note=note)
        if done["state"] != target.value:  # a release proposal: a second person approves it
            done = cases.transition(case_id, target.value, APPROVER, note=note)
            summary.second_person_releases += 1
        summary.cases[done["state"]] += 1
        worked.setdefault(case["customer_id"], []).extend(
            d["decision_id"] for d in done.get("decisions", []) if d.get("decision_id")
        )
    summary.holds_released_at_deadline = len(cases.release_due_holds(actor=ANALYST))
    return worked


# -- 4. complaints ---------------------------------------------------------------------------------

# What happens to each complaint: answered in time and closed, answered in time and closed but
# then escalated by the customer, answered late, never answered (overdue at the month's end),
# still on the clock.
_FATES = ("on_time", "on_time", "escalated", "on_time", "late", "overdue", "on_time", "open")


def _complaints(
    services: Services,
    rng: random.Random,
    month: _Month,
    ids: list[str],
    worked: dict[str, list[str]],
    summary: ActivitySummary,
) -> None:
    desk = ComplaintService(services.service_desk.db)
    counts = {
        "CN": max(3, len(ids) // CUSTOMERS_PER_COMPLAINT),
        "UK": 1 + len(ids) // 5000,
        "US": 1 + len(ids) // 5000,
    }
    # Complaints come mostly from customers whose money was held.
    pool = sorted(worked) or ids
    n = 0
    for jurisdiction, how_many in counts.items():
        for i in range(how_many):
            fate = _FATES[n % len(_FATES)]
            n += 1
            channel, narrative, root = _COMPLAINTS[jurisdiction][i % len(_COMPLAINTS[jurisdiction])]
            customer = rng.choice(pool if rng.random() < 0.7 else ids)
            # Overdue and late ones need their due day to end inside the month; open ones
            # arrive in its last days.
            if fate in ("overdue", "late"):
                day = rng.uniform(0.5, max(0.5, month.days - 24))
            elif fate == "open":
                day = rng.uniform(max(0.0, month.days - 4), month.days - 0.2)
            else:
                day = rng.uniform(0.5, max(0.5, month.days - 12))
            received = month.clip(month.start + timedelta(days=day))
            made = desk.create(
                {
                    "customer_id": customer,
                    "channel": channel,
                    "narrative": narrative,
                    "jurisdiction": jurisdiction,
                    "received_at": received.isoformat(),
                },
                APP,
                now=received,
            )
            landed = _work_complaint(desk, made, fate, jurisdiction, root, received, month, rng)
            summary.complaints[f"{jurisdiction}:{landed}"] += 1


def _work_complaint(
    desk: ComplaintService,
    made: dict[str, Any],
    fate: str,
    jurisdiction: str,
    root: str,
    received: datetime,
    month: _Month,
    rng: random.Random,
) -> str:
    """Move one complaint as its fate says, as far as the month allows; returns where it
    landed (``on_time``, ``escalated``, ``late``, ``overdue``, ``open``)."""
    cid = made["id"]
    due = _as_utc(made["due_at"]) if made.get("due_at") else received + timedelta(days=15)
    steps: list[tuple[datetime, dict[str, Any]]] = [
        (received + timedelta(hours=2), {"to": "acknowledged"}),
        (received + timedelta(days=1), {"to": "investigating"}),
    ]
    answer = {"to": "responded", "response_summary": _RESPONSES[jurisdiction]}
    close = {"to": "closed", "root_cause_tags": [root]}
    if fate in ("on_time", "escalated"):
        answered = received + (due - received) * rng.uniform(0.3, 0.8)
        steps += [(answered, answer), (answered + timedelta(days=1), close)]
        if fate == "escalated":
            steps[-1] = (
                answered + timedelta(days=2),
                {"to": "escalated_to_regulator", "regulator_reference": f"REF-{cid[-6:]}"},
            )
    elif fate == "late":
        steps += [(due + timedelta(days=2), answer), (due + timedelta(days=3), close)]
    reached = "open"
    for at, fields in steps:
        if at >= month.end:
            break
        desk.transition(cid, fields, ANALYST, now=at)
        reached = fields["to"]
    if reached in ("closed", "responded"):
        return "late" if fate == "late" else "on_time"
    if reached == "escalated_to_regulator":
        return "escalated"
    return "overdue" if due < month.end else "open"


def _as_utc(value: Any) -> datetime:
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


# -- 5. data-subject requests ----------------------------------------------------------------------

# (kind, what happens): most are verified and fulfilled; a correction is refused; an access
# request is never verified (the requester did not answer), so it is overdue at the month's end.
_REQUEST_PLAN = (
    ("access", "complete"),
    ("access", "complete"),
    ("correct", "complete"),
    ("correct", "refused"),
    ("delete", "complete"),
    ("withdraw", "complete"),
    ("explain", "complete"),
    ("explain", "complete"),
    ("access", "unverified"),
)
_REFUSAL = (
    "The record you asked us to change is accurate: it matches the transfer you made on that "
    "day, so we keep it as it is. You may add a statement to your file or complain to us."
)


def _requests(
    services: Services,
    rng: random.Random,
    month: _Month,
    ids: list[str],
    worked: dict[str, list[str]],
    version: int,
    summary: ActivitySummary,
) -> None:
    desk = services.privacy_requests
    with_decisions = sorted(c for c, d in worked.items() if d)
    for n, (kind, fate) in enumerate(_REQUEST_PLAN):
        customer = rng.choice(with_decisions if kind == "explain" and with_decisions else ids)
        details: dict[str, Any] = {}
        if kind == "explain":
            found = worked.get(customer) or []
            if not found:
                continue
            details = {"decision_id": found[0], "locale": "zh-CN"}
        elif kind == "correct":
            details = {"field": "phone", "note": "new mobile number after changing carrier"}
        elif kind == "withdraw":
            details = {"purposes": ["marketing"]}
        # The unverified one arrives early (its clock ends inside the month); the others
        # spread over the month.
        day = 1.0 if fate == "unverified" else rng.uniform(1, max(1.0, month.days - 2))
        received = month.clip(month.start + timedelta(days=day, hours=n % 8))
        made = desk.create(
            NewRequest.model_validate(
                {"customer_id": customer, "kind": kind, "details": details, "received_at": received}
            ),
            APP,
        )
        if fate == "unverified":
            summary.requests[f"{kind}:identity_unverified"] += 1
            continue
        rid = made["id"]
        # Verified two days after arrival and closed three days later: inside the month, on
        # time (the report over the month counts them closed).
        desk.verify(rid, "app_session+sms_code", PRIVACY_OFFICER, at=received + timedelta(days=2))
        if fate == "refused":
            done = desk.refuse(rid, _REFUSAL, PRIVACY_OFFICER, at=received + timedelta(days=5))
        else:
            done = _fulfil(services, rid, kind, customer, details, version, received)
        summary.requests[f"{kind}:{done['status']}"] += 1


def _fulfil(
    services: Services,
    rid: str,
    kind: str,
    customer: str,
    details: dict[str, Any],
    version: int,
    received: datetime,
) -> dict[str, Any]:
    """What ``POST /v1/privacy/requests/{id}/fulfil`` does for each kind (closed five days
    after arrival)."""
    desk = services.privacy_requests
    closed = received + timedelta(days=5)
    result: dict[str, Any]
    if kind == "access":
        export = export_customer(
            desk.db, customer, services.vault, pii_key=services.decisions.pii_key
        )
        result = {
            "tables_with_rows": sorted(t for t, v in export["tables"].items() if v.get("rows")),
            "rows": sum(len(v.get("rows", [])) for v in export["tables"].values()),
            "export": f"/v1/privacy/requests/{rid}/export",
        }
    elif kind == "withdraw":
        withdrawn = []
        for consent in services.consent.state(customer, at=received):
            if consent["granted"] and consent["purpose"] in details["purposes"]:
                services.consent.record(
                    ConsentBody(
                        customer_id=customer,
                        purpose=consent["purpose"],
                        scope=consent["scope"],
                        granted=False,
                        method="button",
                        channel="app",
                        notice_key=NOTICE_KEY,
                        notice_version=version,
                        at=received + timedelta(hours=1),
                    ),
                    PRIVACY_OFFICER,
                )
                withdrawn.append(f"{consent['purpose']}:{consent['scope']}")
        result = {"withdrawn": withdrawn}
    elif kind == "explain":
        decision = services.decisions.get_decision(details["decision_id"])
        result = {"explanation": services.decisions.explain_decision(decision, "zh-CN")}
    elif kind == "correct":
        result = {
            "forwarded": details,
            "note": "corrections reach the decision engine as a profile update on the next "
            "event the lender sends; the original records stay as evidence",
        }
    else:  # delete
        return desk.complete_deletion(
            rid, {"deleted": ["marketing_preferences"]}, PRIVACY_OFFICER, at=closed
        )
    return desk.complete(rid, result, PRIVACY_OFFICER, at=closed)


# -- 7. education ----------------------------------------------------------------------------------


def _education(services: Services, month: _Month, rng_seed: int) -> dict[str, int]:
    """The education helper's seed (:func:`lendguard.education.demo.seed_education`): content
    delivered, opened and completed and quizzes answered for customers with an intervention,
    each after it and never after the month's end, so the report's reach counts them."""
    from lendguard.education.demo import seed_education

    decisions = services.decisions
    last = month.clip(month.end)  # the last minute of the month
    return seed_education(decisions.db, last, random.Random(rng_seed), decisions.pii_key)
