"""What the evidence beside a reason is called, in zh-CN and en.

A rule's reason carries the values its condition read (``screen_share_active: True``,
``amount: 12000``, ``large_amount: 5000``). The names are the feature registry's
(``lendguard.decisions.features.compute.FEATURES``) and the rule set's parameters: code names an
analyst should not have to decode, and English words the Chinese-speaking analysts cannot
read. This table names each of them for people; the windowed counters (``..._10m`` to
``..._30d``) are named by their stem and their window. The console test walks the feature
registry and fails on a feature this table does not name in both languages
(``tests/console/test_i18n.py``), so a new feature arrives with its label.
"""

from __future__ import annotations

from typing import Any

# feature or parameter name: (zh-CN, en)
LABELS: dict[str, tuple[str, str]] = {
    # the event itself
    "type": ("事件类型", "event type"),
    "amount": ("金额", "amount"),
    "currency": ("币种", "currency"),
    "channel": ("渠道", "channel"),
    "balance_before": ("操作前余额", "balance before the event"),
    "is_outflow": ("资金转出", "money leaving the account"),
    "has_payee": ("有收款方", "a payee is named"),
    "call_active": ("通话中", "a phone call is active"),
    "screen_share_active": ("正在屏幕共享", "screen sharing is on"),
    "remote_control_app": ("运行远程控制软件", "a remote-control app is running"),
    "screen_recording_active": ("正在录屏", "screen recording is on"),
    "payee_name_check": ("收款人户名核验结果", "payee name check"),
    "liveness_passed": ("活体检测通过", "liveness check passed"),
    "liveness_score": ("活体检测评分", "liveness score"),
    "face_match_score": ("人脸比对评分", "face match score"),
    "voiceprint_match_score": ("声纹比对评分", "voiceprint match score"),
    "known_fraudster_voice": ("声纹命中已知诈骗人员名单", "voice on the known-fraudster list"),
    "device_risk_score": ("设备风险评分", "device risk score"),
    "alliance_hit_kinds": (
        "被反欺诈联盟其他成员列入名单的身份信息种类数",
        "kinds of identifier listed by another lender in the anti-fraud alliance",
    ),
    "sim_swap_minutes": ("距补换手机卡（分钟）", "minutes since the SIM card was swapped"),
    "changed": ("变更内容", "what was changed"),
    "local_hour": ("当地时间（时）", "local hour of day"),
    "amount_to_balance": ("金额占余额比例", "amount as a share of the balance"),
    # the customer
    "customer_age": ("客户年龄", "customer's age"),
    "age_band": ("年龄段", "age band"),
    "is_student": ("学生", "student"),
    "is_vulnerable": ("已标记为弱势客户", "marked as vulnerable"),
    "is_elderly": ("老年客户", "older customer"),
    "account_age_days": ("开户天数", "days since the account was opened"),
    # linked accounts and mules
    "ring_size": ("关联账户组人数", "customers in the linked group"),
    "ring_fraud_share": (
        "关联组内已确认欺诈占比",
        "share of the linked group with confirmed fraud",
    ),
    "ring_new_account_share": (
        "关联组内 30 天内新开户占比",
        "share of the linked group opened in the last 30 days",
    ),
    "shared_identifier_types": ("共用标识类型数", "kinds of identifier shared with others"),
    "payee_mule_score": ("收款方跑分嫌疑评分", "payee's money-mule score"),
    "customer_mule_score": ("本客户跑分嫌疑评分", "customer's money-mule score"),
    # payees and devices
    "is_new_payee": ("首次向该收款方转账", "first payment to this payee"),
    "is_new_device": ("首次使用该设备", "first use of this device"),
    "payee_known_days": (
        "首次向该收款方付款至今天数",
        "days since the first payment to this payee",
    ),
    "pair_lifetime_count": ("此前向该收款方付款次数", "earlier payments to this payee"),
    # recent changes
    "minutes_since_disbursement": ("距上次放款（分钟）", "minutes since the last disbursement"),
    "last_disbursement_amount": ("上次放款金额", "amount of the last disbursement"),
    "disbursement_outflow_share": (
        "放款后 2 小时内转出比例",
        "share of the last disbursement sent out within 2 hours",
    ),
    "minutes_since_device_change": ("距更换设备（分钟）", "minutes since the device changed"),
    "minutes_since_phone_change": (
        "距更换手机号（分钟）",
        "minutes since the phone number changed",
    ),
    "minutes_since_password_change": ("距修改密码（分钟）", "minutes since the password changed"),
    "minutes_since_card_change": ("距更换银行卡（分钟）", "minutes since the card changed"),
    "minutes_since_limit_change": ("距额度调整（分钟）", "minutes since the limit changed"),
    "hours_since_scam_cue": (
        "距客服发现受骗迹象（小时）",
        "hours since an agent heard signs of a scam",
    ),
    "minutes_since_application": (
        "距上次贷款申请（分钟）",
        "minutes since the last loan application",
    ),
    # history
    "lifetime_outflow_count": ("累计转出笔数", "outflows ever made"),
    "lifetime_outflow_max": ("历史最大转出金额", "largest outflow ever made"),
    "amount_to_lifetime_max": (
        "金额与历史最大转出之比",
        "amount against the largest earlier outflow",
    ),
    "payee_fraud_labels": ("该收款方已确认欺诈次数", "confirmed frauds on payments to this payee"),
    "customer_fraud_labels": ("本客户已确认欺诈次数", "confirmed frauds on this customer"),
    "model_score": ("模型欺诈概率", "model's fraud probability"),
    # responsible lending
    "product_risk_grade": ("产品风险等级", "product's risk grade"),
    "customer_risk_level": ("客户风险承受等级", "customer's risk level"),
    "assessment_age_days": ("距风险评估天数", "days since the risk assessment"),
    "has_risk_assessment": ("已有风险评估", "a risk assessment is on file"),
    "assessment_valid_days": ("风险评估有效期（天）", "days the risk assessment is valid"),
    "suitability_mismatch": ("产品风险高于客户等级", "product riskier than the customer's level"),
    "affordability_age_days": ("距还款能力评估天数", "days since the affordability check"),
    "debt_service_to_income": ("月还款额占收入比例", "monthly repayments as a share of income"),
    "is_limit_increase": ("提高授信额度", "a credit-limit increase"),
    "missed_months_6": ("近 6 个月逾期月数", "months with a missed payment (last 6)"),
    "active_lenders": ("有在贷余额的机构数", "lenders with an active balance"),
    "credit_inquiries_6m": ("近 6 个月征信查询次数", "credit-report inquiries (last 6 months)"),
    "credit_utilisation": ("授信使用率", "credit-line utilisation"),
    "days_since_repaying_other_lender": (
        "距偿还他行贷款天数",
        "days since repaying another lender",
    ),
    "over_indebted": ("过度负债", "over-indebted"),
    "financial_difficulty": ("存在经济困难迹象", "signs of financial difficulty"),
    # the rule set's own values
    "score": ("规则评分", "rule score"),
    "list": ("命中名单", "list entry"),
    "large_amount": ("大额门槛", "large-amount threshold"),
    "call_amount": ("通话中转账金额门槛", "amount threshold during a call"),
    "outflow_share": ("转出比例门槛", "outflow-share threshold"),
    "minutes_after_disbursement": (
        "放款后观察时长（分钟）",
        "minutes watched after a disbursement",
    ),
    "recent_change_minutes": ("近期变更时长（分钟）", "minutes a change counts as recent"),
    "elderly_age": ("老年客户年龄", "age counted as older"),
    "student_max_age": ("学生年龄上限", "highest student age"),
    "drawdowns_24h": ("24 小时提款次数门槛", "drawdowns in 24 hours threshold"),
    "shared_device_customers": ("同设备客户数门槛", "customers on one device threshold"),
    "shared_ip_customers": ("同 IP 客户数门槛", "customers on one IP address threshold"),
    "mule_payers_24h": ("24 小时付款人数门槛", "payers in 24 hours threshold"),
    "advance_fee_window_minutes": ("贷款前收费观察时长（分钟）", "advance-fee window (minutes)"),
    "ring_min_size": ("团伙最少人数", "smallest group counted as a ring"),
    "ring_new_share": ("团伙新开户占比门槛", "new-account share threshold for a ring"),
    "ring_identifier_types": ("团伙共用标识类型门槛", "shared identifier kinds for a ring"),
    "ring_labelled_share": ("团伙已确认欺诈占比门槛", "confirmed-fraud share threshold for a ring"),
    "mule_score_threshold": ("跑分嫌疑评分门槛", "money-mule score threshold"),
    "mule_payment_min": ("向疑似跑分账户付款最低金额", "smallest payment to a suspected mule held"),
    "scam_cue_hours": ("受骗迹象有效时长（小时）", "hours a scam sign counts"),
    "cooling_off_minutes": ("变更后冷静期（分钟）", "cooling-off after a change (minutes)"),
    "liveness_min": ("活体检测评分门槛", "lowest liveness score that passes"),
    "face_match_min": ("人脸比对评分门槛", "lowest face match score that passes"),
    "sim_swap_recent_minutes": (
        "补换手机卡后观察时长（分钟）",
        "minutes a SIM swap counts as recent",
    ),
    "model_dissuade_score": ("模型劝阻门槛", "model score to dissuade"),
    "model_intercept_score": ("模型拦截门槛", "model score to intercept"),
    "remind_score": ("提醒评分门槛", "score to remind"),
    "dissuade_score": ("劝阻评分门槛", "score to dissuade"),
    "intercept_score": ("拦截评分门槛", "score to intercept"),
    "assessment_valid_days_default": (
        "风险评估默认有效期（天）",
        "default validity of an assessment (days)",
    ),
    "affordability_max_age_days": (
        "还款能力评估有效期（天）",
        "days an affordability check is valid",
    ),
    "multi_lender_count": ("多头借贷机构数门槛", "lenders counted as borrowing from many"),
    "loan_stacking_days": ("叠贷观察天数", "days watched for loan stacking"),
    "high_utilisation": ("高授信使用率门槛", "high utilisation threshold"),
    "many_inquiries_6m": ("征信查询次数门槛", "many credit inquiries threshold"),
    "high_debt_to_income": ("高负债收入比门槛", "high debt-to-income threshold"),
}

# The windowed counters: stem (the name without ``_10m`` ...) and window, named apart.
STEMS: dict[str, tuple[str, str]] = {
    "customer_event_count": ("客户事件数", "customer events"),
    "customer_outflow_count": ("客户转出笔数", "customer outflows"),
    "customer_outflow_sum": ("客户转出总额", "customer outflow total"),
    "customer_outflow_max": ("客户最大单笔转出", "customer's largest outflow"),
    "customer_disbursement_count": ("放款笔数", "disbursements"),
    "customer_disbursement_sum": ("放款总额", "disbursement total"),
    "customer_disbursement_max": ("最大单笔放款", "largest disbursement"),
    "customer_application_count": ("贷款申请次数", "loan applications"),
    "customer_application_sum": ("贷款申请总额", "loan application total"),
    "customer_application_max": ("最大单笔贷款申请", "largest loan application"),
    "customer_deposit_count": ("存入笔数", "deposits"),
    "customer_deposit_sum": ("存入总额", "deposit total"),
    "customer_deposit_max": ("最大单笔存入", "largest deposit"),
    "customer_login_count": ("登录次数", "sign-ins"),
    "customer_distinct_payee": ("付款对象数", "different payees paid"),
    "customer_distinct_payer": ("入账来源数", "different payers"),
    "device_event_count": ("该设备事件数", "events on this device"),
    "device_distinct_customer": ("该设备上的客户数", "customers on this device"),
    "ip_event_count": ("该 IP 地址事件数", "events from this IP address"),
    "ip_distinct_customer": ("该 IP 地址上的客户数", "customers on this IP address"),
    "payee_inflow_count": ("收款方收款笔数", "payments into this payee"),
    "payee_inflow_sum": ("收款方收款总额", "money into this payee"),
    "payee_inflow_max": ("收款方最大单笔收款", "largest payment into this payee"),
    "payee_distinct_payer": ("向该收款方付款的客户数", "customers paying this payee"),
    "amount_echo_count": (
        "同金额转出笔数（全体客户）",
        "outflows of exactly this amount by anyone",
    ),
    "amount_echo_customers": ("转出同金额的客户数", "customers sending exactly this amount"),
    "pair_outflow_count": ("向该收款方付款笔数", "payments to this payee"),
    "pair_outflow_sum": ("向该收款方付款总额", "money to this payee"),
    "pair_outflow_max": ("向该收款方最大单笔付款", "largest payment to this payee"),
}
WINDOWS: dict[str, tuple[str, str]] = {
    "10m": ("近 10 分钟", "in the last 10 minutes"),
    "1h": ("近 1 小时", "in the last hour"),
    "24h": ("近 24 小时", "in the last 24 hours"),
    "7d": ("近 7 天", "in the last 7 days"),
    "30d": ("近 30 天", "in the last 30 days"),
}


def feature_label(name: str, locale: str) -> str | None:
    """The label of a feature or rule parameter in ``locale``; None when this table has none
    (the console then shows the name as words)."""
    index = 0 if locale == "zh-CN" else 1
    found = LABELS.get(name)
    if found is not None:
        return found[index]
    stem, _, window = str(name).rpartition("_")
    if stem in STEMS and window in WINDOWS:
        if index == 0:
            return f"{WINDOWS[window][0]}{STEMS[stem][0]}"
        return f"{STEMS[stem][1]} {WINDOWS[window][1]}"
    return None


def evidence_value(value: Any, translate: Any) -> str:
    """A value beside a reason as people read it: yes/no for a flag, the catalogue's name for
    a value from code (``transfer``, ``password``), a dash for none."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(translate("Yes" if value else "No"))
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        return ", ".join(evidence_value(v, translate) for v in value)
    return str(translate(str(value)))
