"""Every figure of the protection report, defined once (issue #21).

The registry :data:`DEFINITIONS` holds, per figure, its title and the definition a regulator
reads (what is counted, from which records, over which period) in zh-CN and en, its unit and its
basis (``observed``: from outcomes that happened; ``estimated``: a stated assumption applied to
what happened). The report (JSON, HTML, PDF, the console page) prints these texts beside the
figures, and ``make eval`` (:mod:`lendguard.simulate.metrics`) labels its table with the same
titles where it computes the same figure.

The small predicates below are what both the live report and the simulator count by, so
"remind or more", "intercept or more", "an honest customer" and "a dissuaded outflow" mean the
same thing in both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lendguard.reporting.schemas import Definition

# -- the intervention ladder -------------------------------------------------------------------

ACTIONS = ("allow", "remind", "dissuade", "intercept", "block")
RANK: dict[str, int] = {a: i for i, a in enumerate(ACTIONS)}
RANK_REMIND = RANK["remind"]
RANK_DISSUADE = RANK["dissuade"]
RANK_INTERCEPT = RANK["intercept"]
INTERVENTION_ACTIONS = tuple(a for a in ACTIONS if RANK[a] >= RANK_REMIND)
STOPPING_ACTIONS = tuple(a for a in ACTIONS if RANK[a] >= RANK_INTERCEPT)
# A case resolved as one of these confirms the event a fraud or a scam.
SCAM_CASE_STATES = frozenset({"resolved_fraud", "resolved_scam_victim"})
FRAUD_CATEGORY = "fraud"


def rank(action: str) -> int:
    """The action's place on the ladder (allow 0 … block 4); an unknown action ranks 0."""
    return RANK.get(action, 0)


def remind_or_more(action: str) -> bool:
    """An intervention: the customer saw at least a reminder."""
    return rank(action) >= RANK_REMIND


def intercept_or_more(action: str) -> bool:
    """The payment was stopped: held for review (intercept) or refused (block)."""
    return rank(action) >= RANK_INTERCEPT


def dissuaded(action: str) -> bool:
    """Dissuaded, not stopped: the customer was warned strongly but the payment could go on.
    Such an outflow's avoided loss is estimated (:func:`estimated_avoided`), never observed."""
    return rank(action) == RANK_DISSUADE


def top_category(reasons: Sequence[Mapping[str, Any]] | None) -> str | None:
    """The category of the decision's first (strongest) reason."""
    if not reasons:
        return None
    first = reasons[0]
    return str(first.get("category")) if isinstance(first, Mapping) else None


def fraud_intervention(action: str, reasons: Sequence[Mapping[str, Any]] | None) -> bool:
    """A fraud intervention at remind or more: the strongest reason is of category ``fraud``
    (a wellbeing intervention, such as the rescue ladder's, protects the customer and is
    reported apart, not as an inconvenience)."""
    return remind_or_more(action) and top_category(reasons) == FRAUD_CATEGORY


def honest(confirmed_scams: Iterable[bool]) -> bool:
    """An honest customer: none of their events in the period is a confirmed fraud or scam
    (live: a fraud label or a case resolved as fraud or scam victim; simulated: a scenario
    other than ``none``)."""
    return not any(confirmed_scams)


def confirmed_scam(label: int | None, case_state: str | None) -> bool:
    """An event confirmed fraud or scam: its latest label says fraud, or its case was resolved
    as fraud or as a scam victim."""
    return label == 1 or case_state in SCAM_CASE_STATES


def estimated_avoided(amount: float, success_rate: float) -> float:
    """The estimated dissuasion rule: a dissuaded outflow's amount times the share of
    dissuasions assumed to succeed (``report_dissuasion_success_rate``)."""
    return amount * success_rate


# -- the texts ---------------------------------------------------------------------------------


def _d(
    key: str, title: tuple[str, str], text: tuple[str, str], unit: str, basis: str = "observed"
) -> Definition:
    return Definition(
        key=key,
        title={"zh-CN": title[0], "en": title[1]},
        definition={"zh-CN": text[0], "en": text[1]},
        unit=unit,
        basis=basis,
    )


_PERIOD_ZH = "统计期为报告所列起止日期（按报告时区的自然日，含首尾两日）。"
_PERIOD_EN = (
    "The period is the report's first to last calendar day, both included, counted in the "
    "report's time zone."
)
_WARMUP_ZH = "仅为建立历史状态而导入的事件不计入。"
_WARMUP_EN = "Events loaded only to build history are not counted."

_DEFINITIONS = (
    _d(
        "interventions",
        ("干预次数", "Interventions"),
        (
            "统计期内发生的交易与申请事件所作的风控决定中，动作为提醒、劝阻、拦截或阻止的次数，"
            "按事件发生的日期、动作和诈骗类型分列；日均值为总数除以统计天数。"
            + _WARMUP_ZH
            + _PERIOD_ZH,
            "Decisions on payments and applications that occurred in the period whose action "
            "was a reminder, a dissuasion, an intercept or a block, by the day the event "
            "occurred, by action and by scam type; the daily average is the total divided by "
            f"the days of the period. {_WARMUP_EN} {_PERIOD_EN}",
        ),
        "count",
    ),
    _d(
        "frauds_blocked",
        ("拦截的诈骗", "Frauds blocked"),
        (
            "统计期内发生、事后被确认为欺诈或诈骗的事件（案件结论为欺诈或诈骗受害，或收到欺诈"
            "标记）中，当时被拦截或阻止的次数；受保护客户为这些事件涉及的不同客户数。" + _PERIOD_ZH,
            "Events that occurred in the period and were later confirmed fraud or scam (their "
            "case was resolved as fraud or as a scam victim, or a fraud label arrived) and that "
            "were intercepted or blocked at the time; customers protected counts the distinct "
            f"customers of those events. {_PERIOD_EN}",
        ),
        "count",
    ),
    _d(
        "losses_avoided_observed",
        ("避免的损失（实际）", "Losses avoided (observed)"),
        (
            "统计期内发生并被拦截或阻止的交易中，资金最终未付出的金额合计（人民币元）：暂扣后被"
            "取消的款项，以及案件确认为诈骗且未放行的款项；每笔只计一次。" + _PERIOD_ZH,
            "The sum, in yuan, of payments that occurred in the period, were intercepted or "
            "blocked, and were in the end not paid out: held money whose hold was cancelled, "
            "and money of cases confirmed as scams that was not released; each payment counted "
            f"once. {_PERIOD_EN}",
        ),
        "cny",
    ),
    _d(
        "losses_avoided_estimated",
        ("避免的损失（估算）", "Losses avoided (estimated)"),
        (
            "估算值，与实际值分开列示：统计期内发生、被劝阻（未拦截）且未被确认为正常交易的转出"
            "金额，乘以假定的劝阻成功率（配置项，报告中注明）。客户被劝阻后是否真的放弃付款无法"
            "逐笔核实，因此为估算。" + _PERIOD_ZH,
            "An estimate, shown apart from the observed figure: the amounts of outflows that "
            "occurred in the period and were dissuaded (not stopped) and not confirmed "
            "legitimate, times the assumed share of dissuasions that succeed (a setting, printed "
            "with the figure). Whether each dissuaded customer really gave up the payment is "
            f"not known, so this is estimated. {_PERIOD_EN}",
        ),
        "cny",
        "estimated",
    ),
    _d(
        "honest_inconvenienced",
        ("受打扰的正常客户", "Honest customers inconvenienced"),
        (
            "统计期内有风控决定、且其事件均未被确认为欺诈或诈骗的客户为正常客户。其中因反欺诈"
            "原因被提醒及以上（或拦截及以上）的客户数及占比；暂扣时长中位数为这些客户被暂扣"
            "后放行的款项从决定到放行的小时数中位数。按年龄段、开户时长及学生、老年、脆弱客户"
            "标记分组，分组取统计期末已知的客户资料。关怀类干预（如救助措施）不计入。" + _PERIOD_ZH,
            "Honest customers are customers with a decision in the period none of whose events "
            "was confirmed fraud or scam. Of them, those who got a fraud intervention at remind "
            "or more (or at intercept or more), as a number and a share; the median delay is "
            "the median hours from the decision to the release of their held money that was "
            "released. By age band, tenure and the student, elderly and vulnerable flags, as the "
            "customer's profile stood at the end of the period. Wellbeing interventions (such "
            f"as rescue steps) are not counted. {_PERIOD_EN}",
        ),
        "rate",
    ),
    _d(
        "complaint_clock_compliance",
        ("投诉处理时限达标", "Complaint clock compliance"),
        (
            "统计期内收到的投诉，按监管辖区分列：已答复数、在截止时间（含经批准的延期）前答复的"
            "数量、逾期答复数，以及期末仍未答复且已过截止时间的数量；达标率为按时答复数除以"
            "（已答复数加逾期未答复数）。升级率为其中被升级至监管机构的比例。" + _PERIOD_ZH,
            "Complaints received in the period, by jurisdiction: how many were answered, how "
            "many before their deadline (approved extensions included), how many late, and how "
            "many were still unanswered past their deadline at the period's end; compliance is "
            "those answered on time over those answered plus those overdue. The escalation rate "
            f"is the share escalated to a regulator. {_PERIOD_EN}",
        ),
        "rate",
    ),
    _d(
        "rescue_ladder",
        ("救助措施", "Rescue ladder"),
        (
            "统计期内为过度负债或有财务困难的客户采取的救助步骤（暂停授信、停止营销、提供困难"
            "还款方案、暂停催收、减免利息、转介债务咨询）的次数，以及期内提出的困难还款方案的"
            "结果（已同意、已拒绝、待定）。" + _PERIOD_ZH,
            "Rescue steps taken in the period for over-indebted customers or customers in "
            "financial difficulty (credit frozen, marketing stopped, hardship plan offered, "
            "collection paused, interest waived, debt advice signposted), and what became of "
            f"the hardship plans proposed in the period (agreed, declined, pending). {_PERIOD_EN}",
        ),
        "count",
    ),
    _d(
        "consent_changes",
        ("同意的授予与撤回", "Consent grants and withdrawals"),
        (
            "统计期内客户同意记录中授予与撤回的次数，按用途和记录渠道（App、网页、电话、网点）"
            "分列。" + _PERIOD_ZH,
            "Grants and withdrawals of consent recorded in the period, by purpose and by the "
            f"channel it was given through (app, web, phone, branch). {_PERIOD_EN}",
        ),
        "count",
    ),
    _d(
        "data_subject_requests",
        ("个人信息权利请求", "Data-subject requests"),
        (
            "统计期内收到的查阅、更正、删除、撤回同意及解释请求，按类型分列：已办结数（完成或"
            "依法拒绝）、按时与逾期办结数、期末仍未办结且已过期限的数量；及时率为按时办结数"
            "除以（已办结数加逾期未办结数）。" + _PERIOD_ZH,
            "Requests for access, correction, deletion, withdrawal of consent and explanation "
            "received in the period, by kind: how many were closed (completed or lawfully "
            "refused), on time or late, and how many were still open past their deadline at the "
            "period's end; timeliness is those closed on time over those closed plus those "
            f"overdue. {_PERIOD_EN}",
        ),
        "rate",
    ),
    _d(
        "education_reach",
        ("反诈教育触达", "Education reach"),
        (
            "统计期内至少收到一次教育内容推送的不同客户数，以及其中打开、完成至少一项内容的客户"
            "数；另列推送、打开、完成的次数，按渠道、年龄段和主题分列，以及测验作答与通过情况。"
            + _PERIOD_ZH,
            "Distinct customers with at least one delivery of education content in the period, "
            "and of them those who opened and who completed at least one item; with the numbers "
            "of deliveries, openings and completions, by channel, age band and topic, and the "
            f"quiz answers recorded and passed. {_PERIOD_EN}",
        ),
        "count",
    ),
    _d(
        "education_completion",
        ("教育完成率", "Education completion rate"),
        (
            "统计期内完成至少一项教育内容的客户数除以收到推送的客户数。" + _PERIOD_ZH,
            "Customers who completed at least one education item in the period over customers "
            f"who received a delivery. {_PERIOD_EN}",
        ),
        "rate",
    ),
    _d(
        "education_later_scams",
        ("受教育客户其后受骗情况", "Later scams of educated customers"),
        (
            "完成过教育内容的客户，与期内受过干预但从未收到教育内容的客户相比较：在首次推送（或"
            "首次干预）后的随访期内被确认受骗（案件确认为诈骗，或以受害人身份转出的款项被标记"
            "为欺诈）的比例。这是观察性比较：两组客户本身不同，差异不等于教育的效果。",
            "Customers who completed an education item against customers with an intervention "
            "in the period who were never reached: the share confirmed scammed (a case confirmed "
            "as a scam, or a fraud label on an outflow they made as a victim) within the "
            "follow-up window after their first delivery (or first intervention). Observational: "
            "the groups differ in who gets education, so the difference is not the effect of "
            "education.",
        ),
        "rate",
        "estimated",
    ),
)

DEFINITIONS: dict[str, Definition] = {d.key: d for d in _DEFINITIONS}
"""Every figure's definition by key: the same text in the report, on the console and in
``make eval``."""


def title(key: str, locale: str = "en") -> str:
    """A figure's title in ``locale`` (zh-CN or en)."""
    return DEFINITIONS[key].title["zh-CN" if locale == "zh-CN" else "en"]


def text(key: str, locale: str = "en") -> str:
    """A figure's definition in ``locale`` (zh-CN or en)."""
    return DEFINITIONS[key].definition["zh-CN" if locale == "zh-CN" else "en"]
